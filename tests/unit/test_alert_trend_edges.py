"""``policies.alert_trend`` on edge inputs: no overflow, no NaN, no error."""

from __future__ import annotations

import math

import pytest

from policies.alert_trend import Ramp, detect_ramp, fit_ramp, stockout_probability


@pytest.mark.parametrize(
    "counts",
    [[0.0] * 60, [0.0] * 59 + [5.0], [0.0] * 59 + [1e6], [0.0] * 9 + [1.0], [1.0, 2.0, 4.0, 8.0, 1e9]],
)
def test_a_burst_after_a_quiet_hour_is_fitted_without_overflow(counts: list[float]) -> None:
    ramp = fit_ramp(counts)  # [0]*59 + [5] raised OverflowError: Newton's growth diverges
    if ramp is not None:
        assert all(math.isfinite(v) for v in ramp), ramp
        assert ramp.end_rate > 0
        assert ramp.growth > 0
    for probability in (0.0, 0.5):
        for horizon in (120.0, 0.0, -5.0):
            found = detect_ramp(counts, [5, 10, 60], 1.0, 0.5, 3.0, 1.0, horizon, probability)
            assert found is None or all(math.isfinite(v) for v in found)


def test_a_steep_fit_projects_a_stockout_without_overflow() -> None:
    steep = Ramp(60, 1e-30, 5.0, 40.0, 5 / 60, 30.0, 5.0, 0.01, 0.0)  # exp(40 * 60) overflowed
    assert stockout_probability(steep, 10.0, 120.0) == pytest.approx(1.0)
    assert stockout_probability(steep, 10.0, -1.0) == 0.0


def test_steep_and_gentle_fits_agree_with_the_unscaled_formula() -> None:
    ramp = Ramp(10, 1.0, 3.0, 0.1, 2.0, 5.0, 20.0, 8.0, 4.0)
    b, g, minutes = 0.1, 10.0, 30.0
    total = math.expm1(b * g) / b + (minutes - g) * math.exp(b * g)
    d_grown = (g * math.exp(b * g) - math.expm1(b * g) / b) / b
    slope = (d_grown + (minutes - g) * g * math.exp(b * g)) / total
    var_b = 1 / (20.0 * 8.0)
    variance = 1 / 20.0 + 16 * var_b + slope * slope * var_b + 2 * slope * 4 * var_b
    z = (math.log(3.0 * total) - math.log(50.0)) / math.sqrt(variance)
    expected = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert stockout_probability(ramp, 50.0, minutes) == pytest.approx(expected, rel=1e-9)
