"""The known-rate CUSUM yardstick (scripts/replay/cusum_bound.py)."""

from __future__ import annotations

import random
import statistics

from scripts.replay.cusum_bound import bound, first_alarm


def test_a_higher_threshold_trades_false_alarms_for_delay() -> None:
    low = bound(2.0, 3.0, 4.0, steps=400, steady_minutes=20_000)
    high = bound(2.0, 3.0, 9.0, steps=400, steady_minutes=20_000)
    assert low.false_alarms_per_10k_minutes > 10 * max(high.false_alarms_per_10k_minutes, 1.0)
    assert high.p50 > low.p50
    assert high.p90 > low.p90
    assert high.detected_within < low.detected_within


def test_a_large_step_at_a_busy_rate_is_found_within_a_minute() -> None:
    b = bound(20.0, 10.0, 6.0, steps=300, steady_minutes=5_000)
    assert b.p90 < 1.0
    assert b.detected_within == 1.0


def test_an_unreachable_threshold_never_alarms() -> None:
    rng = random.Random(3)
    false_alarms, delay = first_alarm(rng, 2.0, 3.0, 1e9, 500.0, 30.0)
    assert (false_alarms, delay) == (0, None)


def test_the_delay_is_counted_from_the_step() -> None:
    # almost no orders in the 10 minutes before the step (0.01/min), then 1/min: each order
    # adds ln 100 = 4.6 against a threshold of 5, so two orders close together alarm, a
    # few minutes after the step (counted from the start, every delay would exceed 10)
    rng = random.Random(5)
    delays = [first_alarm(rng, 0.01, 100.0, 5.0, 10.0, 60.0)[1] for _ in range(200)]
    found = [d for d in delays if d is not None]
    assert len(found) == 200
    assert min(found) >= 0.0
    assert statistics.median(found) < 5.0
