"""The alert scenario suite (scripts/replay/cases.py, scored by scripts/replay/suite.py)
against the issue's targets. The ground truth of each case is written in the suite
before any run; the default test run plays a representative part of it on one seed,
``-m slow`` plays all of it and the Monte Carlo over seeds (figures in docs/alerts.md)."""

from __future__ import annotations

import pytest

from policies.alert_rules import Level
from scripts.replay.cases import Case, cases, reference_case
from scripts.replay.suite import false_alarms, mixed_show, monte_carlo, run_case, score, summarise

QUICK = (
    "steady-20/min",
    "steady-3/min-known-end",
    "slow-0.2/min-lead60",
    "surge-x3-at-5/min",
    "surge-x10-at-2/min",
    "guest-at-minute-6",
    "spike-x3-4min-at-50/min",
    "lead-10min",
    "lead-1440min",
    "restock-mid-show",
    "transfer-in-time",
)


def named(names: tuple[str, ...]) -> list[Case]:
    chosen = [c for c in cases() if c.name in names]
    assert len(chosen) == len(names)
    return chosen


def check_targets(scored: list[Case]) -> None:
    scores = [score(case, run_case(case, 0)) for case in scored]
    summary = summarise(scores)
    assert summary.missed == 0
    assert summary.flaps == 0
    assert summary.emergency_before_threshold == 0
    assert summary.false_alarms == 0
    assert summary.median_around is not None
    assert summary.median_around <= 6
    for s in scores:
        assert s.emergency_lead is None or s.emergency_lead <= 60, s


def test_a_representative_part_of_the_suite_meets_the_targets() -> None:
    check_targets(named(QUICK))


def test_the_reference_show_keeps_its_story_with_a_handful_of_notifications() -> None:
    case = reference_case()
    outcome = run_case(case, 0)
    s = score(case, outcome)
    assert s.detected_after is not None
    assert s.detected_after <= 3
    assert s.sold_out is not None
    assert 240 <= s.sold_out < 300
    assert s.total <= 8
    # demand after the sell-out is refused, never sold: the stock ends at 0, not below
    assert outcome.forecaster.stock["HOODIE"].available == 0
    assert outcome.beyond_stock["HOODIE"] > 0
    levels = [e.level for e in outcome.events if e.kind in ("firing", "escalated")]
    assert levels.index(Level.TREND) < levels.index(Level.THRESHOLD) < levels.index(Level.EMERGENCY)


@pytest.mark.slow
def test_the_whole_suite_and_a_fifty_sku_show_meet_the_targets() -> None:
    check_targets(cases())
    show, outcome = mixed_show(0)
    summary = summarise([score(case, outcome) for case in show])
    assert (summary.missed, summary.flaps, summary.emergency_before_threshold) == (0, 0, 0)


@pytest.mark.slow
def test_monte_carlo_detection_and_false_alarms() -> None:
    by_name = {
        d.name: d for d in monte_carlo(("surge-x5-at-2/min", "surge-x3-at-5/min", "guest-at-minute-6"), 20)
    }
    assert all(d.detected == d.seeds for d in by_name.values())
    assert by_name["surge-x5-at-2/min"].p90 is not None
    assert by_name["surge-x5-at-2/min"].p90 <= 2.5
    assert by_name["surge-x3-at-5/min"].p90 is not None
    assert by_name["surge-x3-at-5/min"].p90 <= 3.0
    fa = false_alarms(5)
    assert fa.ample == 0
    assert fa.tight <= fa.tight_hours / 5  # at most one false notification per 5 tight SKU-hours
