"""How long a SKU's rate is measured over (its exposure): from when it went on sale."""

from __future__ import annotations

import pytest

from policies.velocity import ForecastSettings, SalesHistory, measure_velocity

T0 = 1_800_000_000.0  # a whole minute: the SKU goes on sale here
SETTINGS = ForecastSettings()


def one_order_at(seconds: float) -> SalesHistory:
    history = SalesHistory(SETTINGS.bucket_seconds)
    history.record(T0 + seconds, 1)
    return history


def test_one_order_a_minute_after_going_on_sale_is_one_order_in_that_minute() -> None:
    history = one_order_at(60)
    at = T0 + 70

    from_first_sale = measure_velocity(history, at, SETTINGS)
    from_on_sale = measure_velocity(history, at, SETTINGS, on_sale_since=T0)

    # counted from the order itself, one order looks like 1.5 pseudo-orders in under 1.5 min
    assert from_first_sale.rate_minutes == pytest.approx(20 / 60, abs=0.01)
    assert from_on_sale.rate_minutes == pytest.approx(80 / 60, abs=0.01)
    expected = (1 + SETTINGS.prior_orders) / (80 / 60 + SETTINGS.prior_minutes)
    assert from_on_sale.projected_rate == pytest.approx(expected, rel=0.01)
    assert from_on_sale.projected_rate < from_first_sale.projected_rate / 1.5


def test_exposure_stays_inside_the_longest_rate_window() -> None:
    history = one_order_at(3 * 3600)

    velocity = measure_velocity(history, T0 + 3 * 3600 + 10, SETTINGS, on_sale_since=T0)

    assert velocity.rate_minutes == SETTINGS.max_rate_window_minutes


def test_sales_before_the_on_sale_time_count_from_the_first_sale() -> None:
    history = one_order_at(60)

    late = measure_velocity(history, T0 + 70, SETTINGS, on_sale_since=T0 + 65)
    unknown = measure_velocity(history, T0 + 70, SETTINGS)

    assert late.rate_minutes == unknown.rate_minutes
    assert late.projected_rate == unknown.projected_rate
