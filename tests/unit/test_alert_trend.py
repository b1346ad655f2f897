"""The trend test on the Poisson rate (policies/alert_trend.py): a log-linear rate against
a constant one, weighed by its consequence, and how velocity and the rules use it."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from policies.alert_change import Surge
from policies.alert_rules import AlertSettings, Level, StockView, evaluate_sku
from policies.alert_trend import Ramp, detect_ramp, fit_ramp, projected_orders, stockout_probability
from policies.velocity import ForecastSettings, SalesHistory, Velocity, forecast_stockout, measure_velocity

T0 = 1_762_862_400.0
SETTINGS = ForecastSettings()


def poisson_loglik(counts: list[float], rates: list[float]) -> float:
    return sum(y * math.log(r) - r for y, r in zip(counts, rates, strict=True))


def test_an_exact_exponential_rise_is_fitted_with_its_growth_and_rates() -> None:
    counts = [4.0 * math.exp(0.05 * j) for j in range(20)]

    ramp = fit_ramp(counts)

    assert ramp is not None
    assert ramp.growth == pytest.approx(0.05, rel=1e-6)
    assert ramp.start_rate == pytest.approx(counts[0], rel=1e-6)
    assert ramp.end_rate == pytest.approx(counts[-1], rel=1e-6)
    assert ramp.mean_rate == pytest.approx(sum(counts) / 20)


def test_the_ratio_is_the_log_likelihood_gain_over_a_constant_rate() -> None:
    counts = [2.0, 1.0, 3.0, 2.0, 4.0, 3.0, 5.0, 4.0, 6.0, 7.0]

    ramp = fit_ramp(counts)

    assert ramp is not None
    k = len(counts)
    fitted = [ramp.start_rate * math.exp(ramp.growth * j) for j in range(k)]
    constant = [sum(counts) / k] * k
    assert ramp.llr == pytest.approx(
        poisson_loglik(counts, fitted) - poisson_loglik(counts, constant), abs=1e-6
    )


@pytest.mark.parametrize("counts", [[3.0] * 10, [6.0, 5.0, 5.0, 4.0, 3.0, 2.0], [0.0] * 8, [5.0]])
def test_a_flat_falling_empty_or_one_minute_series_is_no_ramp(counts: list[float]) -> None:
    assert fit_ramp(counts) is None


def test_the_projection_grows_until_its_cap_then_holds() -> None:
    ramp = fit_ramp([2.0 * math.exp(0.1 * j) for j in range(10)])
    assert ramp is not None
    ceiling = 2.0 * ramp.mean_rate
    until = math.log(ceiling / ramp.end_rate) / ramp.growth
    grown = ramp.end_rate / ramp.growth * (math.exp(ramp.growth * until) - 1)

    assert projected_orders(ramp, 60, cap=2.0) == pytest.approx(grown + ceiling * (60 - until))
    # without room to grow (cap at the current rate) it holds the current rate
    assert projected_orders(ramp, 60, cap=1.0) == pytest.approx(ramp.end_rate * 60)


RISING = [float(round(2 * 10 ** (m / 30))) for m in range(20)]  # 2/min to ~9/min in 20 min


def test_a_rise_is_reported_only_when_its_projection_empties_the_stock_inside_the_horizon() -> None:
    def found(depletion: float) -> bool:
        return detect_ramp(RISING, (10, 20), 6.0, 3.0, 2.0, depletion, 120.0) is not None

    assert found(5.0)  # 600 orders in two hours: the rise empties the stock
    assert not found(50.0)  # 6,000 orders: ample whatever the rise
    assert not found(math.inf)  # stock unknown


def test_weak_evidence_needs_the_consequence_and_a_start_below_the_depletion_rate() -> None:
    noisy = [3.0, 2.0, 4.0, 3.0, 3.0, 5.0, 3.0, 4.0, 5.0, 4.0]
    ramp = fit_ramp(noisy)
    assert ramp is not None
    assert 0 < ramp.llr < 3.0

    assert detect_ramp(noisy, (10,), 6.0, ramp.llr, 2.0, 4.0, 120.0) is not None
    assert detect_ramp(noisy, (10,), 6.0, ramp.llr + 0.1, 2.0, 4.0, 120.0) is None
    # a rate that already empties the stock at the window's start gains nothing from the rise
    assert detect_ramp(noisy, (10,), 6.0, ramp.llr, 2.0, ramp.start_rate / 2, 120.0) is None


def history_of(per_minute: list[float]) -> tuple[SalesHistory, float]:
    """Orders evenly spread over each minute."""
    history = SalesHistory(SETTINGS.bucket_seconds, keep_minutes=120)
    for minute, rate in enumerate(per_minute):
        n = round(rate)
        for i in range(n):
            history.record(T0 + minute * 60 + (i + 0.5) * 60 / n, 1)
    return history, T0 + len(per_minute) * 60 - 1


def test_velocity_reports_a_ramp_the_step_test_misses_and_keeps_its_usual_rate_window() -> None:
    # 3/min for 20 minutes, then rising by 0.2/min for 15 (to 5.8/min): the step test's
    # best change point has too little evidence; the trend over 30 minutes has a ratio
    # of 2.8, enough under a consequence threshold of 2.5 when the stock is tight
    history, now = history_of([3.0] * 20 + [3.0 + 0.2 * m for m in range(15)])
    settings = ForecastSettings(ramp_windows_minutes=(10, 20, 30), ramp_consequence_threshold=2.5)
    assert measure_velocity(history, now, settings).surge is None  # stock unknown

    velocity = measure_velocity(history, now, settings, depletion_rate=5.0, horizon_minutes=120)

    assert velocity.surge is not None
    assert velocity.surge.kind == "ramp"
    assert velocity.surge.since == pytest.approx(now + 1 - 30 * 60)
    assert velocity.surge.after > velocity.surge.before
    assert velocity.rate_minutes == settings.rate_window_minutes
    ample = measure_velocity(history, now, settings, depletion_rate=50.0, horizon_minutes=120)
    assert ample.surge is None
    off = ForecastSettings(ramp_consequence_threshold=2.5)  # the default: no trend test
    assert measure_velocity(history, now, off, depletion_rate=5.0, horizon_minutes=120).surge is None


def test_a_ramp_raises_trend_with_its_own_reason() -> None:
    ramp = Surge(T0 - 1200, 2.0, 4.3, 3.4, "ramp")
    velocity = Velocity(T0, 3.9, 3.0, 20, 15, 1.3, 3.3, 3.0, 3.6, 50, 15.0, ramp)
    stock = StockView("A", 440, (), 60)

    verdict = evaluate_sku(
        stock, velocity, forecast_stockout(440, (), velocity, T0), SETTINGS, AlertSettings()
    )

    assert verdict.active
    assert verdict.level == Level.TREND
    assert "rising steadily" in verdict.reason
    assert verdict.evidence["surge"]["kind"] == "ramp"


def projection(ramp: Ramp, minutes: float) -> float:
    """Orders of the next ``minutes`` if the fitted growth goes on for the window's length."""
    g = min(ramp.minutes, minutes)
    grown = ramp.end_rate * math.expm1(ramp.growth * g) / ramp.growth
    return grown + (minutes - g) * ramp.end_rate * math.exp(ramp.growth * g)


def test_the_stockout_probability_is_one_half_at_the_projection_and_moves_away_from_it() -> None:
    ramp = fit_ramp(RISING)
    assert ramp is not None
    expected = projection(ramp, 120)

    assert stockout_probability(ramp, expected, 120) == pytest.approx(0.5, abs=1e-9)
    assert stockout_probability(ramp, expected / 10, 120) > 0.99
    assert stockout_probability(ramp, expected * 10, 120) < 0.01


def test_the_same_growth_seen_in_fewer_orders_is_less_certain() -> None:
    busy = fit_ramp([10 * c for c in RISING])
    sparse = fit_ramp(RISING)
    assert busy is not None
    assert sparse is not None
    assert busy.growth == pytest.approx(sparse.growth)

    # stock at half of each one's projection: the busier fit is surer it runs out
    assert stockout_probability(busy, projection(busy, 120) / 2, 120) > stockout_probability(
        sparse, projection(sparse, 120) / 2, 120
    )


@given(
    counts=st.lists(st.integers(0, 30), min_size=3, max_size=30),
    stock=st.floats(1.0, 1e5),
    more=st.floats(1.0, 10.0),
)
def test_the_stockout_probability_is_a_probability_that_falls_as_the_stock_grows(
    counts: list[int], stock: float, more: float
) -> None:
    ramp = fit_ramp([float(c) for c in counts])
    assume(ramp is not None)
    assert ramp is not None
    low = stockout_probability(ramp, stock, 120)
    high = stockout_probability(ramp, stock * more, 120)

    assert 0.0 <= high <= low <= 1.0


def test_with_a_probability_the_ramp_matters_when_the_model_credibly_empties_the_stock() -> None:
    ramp = fit_ramp(RISING)
    assert ramp is not None
    expected = projection(ramp, 120)

    def found(depletion: float) -> bool:
        return detect_ramp(RISING, (20,), 6.0, 3.0, 2.0, depletion, 120.0, probability=0.9) is not None

    assert found(expected / 120 / 2)
    assert not found(expected / 120)  # one half, under 0.9


def test_a_stockout_probability_of_one_or_more_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="ramp_consequence_probability"):
        ForecastSettings(ramp_consequence_probability=1.0)
