"""The sequential change test on the Poisson rate (policies/alert_change.py) and the one
rate estimate built on it (policies/velocity.py): regular, hand-made sales, so every
count is known."""

from __future__ import annotations

import math

from policies.alert_change import detect_surge, rate_change_llr
from policies.gamma_rate import gamma_quantile
from policies.velocity import ForecastSettings, SalesHistory, measure_velocity

T0 = 1_762_862_400.0
SETTINGS = ForecastSettings()


def history_of(rates: list[tuple[float, float]]) -> tuple[SalesHistory, float]:
    """Evenly spaced single-unit orders: ``(minutes, orders per minute)`` segments in turn;
    returns the history and the event time at its end."""
    history = SalesHistory(SETTINGS.bucket_seconds, keep_minutes=120)
    at = T0
    for minutes, rate in rates:
        end = at + minutes * 60
        if rate > 0:
            gap = 60.0 / rate
            t = at + gap / 2
            while t < end:
                history.record(t, 1)
                t += gap
        at = end
    return history, at


def test_a_steady_rate_is_no_surge() -> None:
    history, now = history_of([(60, 5.0)])
    assert measure_velocity(history, now, SETTINGS).surge is None


def test_a_tripling_at_five_a_minute_is_found_within_three_minutes_with_its_start() -> None:
    history, now = history_of([(30, 5.0), (3, 15.0)])

    surge = measure_velocity(history, now, SETTINGS).surge

    assert surge is not None
    assert abs(surge.since - (now - 180)) <= 60
    assert surge.after >= 2.5 * surge.before


def test_a_doubling_at_twenty_a_minute_is_found_within_two_minutes() -> None:
    history, now = history_of([(30, 20.0), (2, 40.0)])
    assert measure_velocity(history, now, SETTINGS).surge is not None


def test_the_first_sales_of_a_show_are_a_start_not_a_surge() -> None:
    history, now = history_of([(4, 20.0)])
    assert measure_velocity(history, now, SETTINGS).surge is None


def test_a_guest_in_the_first_minutes_is_found() -> None:
    history, now = history_of([(5, 2.0), (2, 10.0)])
    assert measure_velocity(history, now, SETTINGS).surge is not None


def test_the_ratio_is_zero_when_the_rate_did_not_rise() -> None:
    assert rate_change_llr(20, 10, 10, 10) == 0.0
    assert rate_change_llr(20, 10, 40, 10) > rate_change_llr(20, 10, 30, 10) > 0


def test_detect_surge_works_on_bucket_counts_alone() -> None:
    quiet = [0, 1] * 90  # 3 orders a minute for 30 minutes (10-second buckets)
    busy = [2] * 18  # 12 a minute for 3 minutes
    surge = detect_surge(quiet + busy, T0, 10, SETTINGS)
    assert surge is not None
    assert surge.since == T0 + len(quiet) * 10


def test_after_a_surge_the_rate_follows_the_new_level() -> None:
    history, now = history_of([(30, 2.0), (6, 10.0)])

    velocity = measure_velocity(history, now, SETTINGS)

    assert velocity.surge is not None
    assert 7.0 <= velocity.projected_rate <= 11.0  # not the 15-minute mix (~4.7/min)


def test_a_slow_seller_rate_does_not_explode_on_a_lucky_minute() -> None:
    # one order every 5 minutes for an hour, then 2 orders in the last minute
    history, now = history_of([(60, 0.2)])
    history.record(now - 20, 1)
    history.record(now - 10, 1)

    velocity = measure_velocity(history, now, SETTINGS)

    assert velocity.rate_minutes > SETTINGS.rate_window_minutes  # widened for a slow seller
    assert velocity.projected_rate < 0.5
    assert velocity.rate_high < 1.0


def test_gamma_quantiles_match_known_chi_square_values() -> None:
    # chi2(10) 5% and 95% quantiles are 3.940 and 18.307: Gamma(5, 1) = chi2(10) / 2
    assert math.isclose(gamma_quantile(5, 1, 0.05), 3.940 / 2, rel_tol=0.01)
    assert math.isclose(gamma_quantile(5, 1, 0.95), 18.307 / 2, rel_tol=0.01)
    assert math.isclose(gamma_quantile(5, 2, 0.95), 18.307 / 4, rel_tol=0.01)


# A tripling at 2/min for 2 minutes: 12 orders against 4 expected, a ratio of ~4.8, under
# the full threshold (6) and over the consequence threshold (3).
TRIPLING = [1, 0, 0] * 60 + [1] * 12


def test_a_weak_rise_is_no_surge_when_the_stock_does_not_depend_on_it() -> None:
    assert detect_surge(TRIPLING, T0, 10, SETTINGS) is None  # no depletion rate: ample
    assert detect_surge(TRIPLING, T0, 10, SETTINGS, depletion_rate=10.0) is None


def test_a_weak_rise_that_would_empty_the_stock_in_the_horizon_is_a_surge() -> None:
    surge = detect_surge(TRIPLING, T0, 10, SETTINGS, depletion_rate=3.0)

    assert surge is not None
    assert SETTINGS.surge_consequence_threshold <= surge.llr < SETTINGS.surge_threshold
    assert surge.since == T0 + 180 * 10
    assert surge.after == 6.0


def test_a_weak_rise_is_no_surge_when_the_old_rate_already_empties_the_stock() -> None:
    # the stock runs out inside the horizon at 1.5/min: the old 2/min already does that,
    # so the rise changes nothing that the stock-out forecast does not already say
    assert detect_surge(TRIPLING, T0, 10, SETTINGS, depletion_rate=1.5) is None


def test_the_consequence_path_needs_confidence_in_the_new_rate() -> None:
    # 12 orders in 2 minutes: the 10% quantile of the new rate is ~3.9/min
    assert detect_surge(TRIPLING, T0, 10, SETTINGS, depletion_rate=3.8) is not None
    assert detect_surge(TRIPLING, T0, 10, SETTINGS, depletion_rate=4.2) is None
