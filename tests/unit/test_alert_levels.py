"""One SKU's level (policies/alert_rules.py): one rate for every level, EMERGENCY only
with THRESHOLD, hysteresis, inbound and the show's end as context."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policies.alert_change import Surge
from policies.alert_rules import (
    AlertSettings,
    Level,
    StockView,
    depletion_rate,
    evaluate_sku,
    safety_line,
    stalled_channels,
)
from policies.velocity import ForecastSettings, Velocity, forecast_stockout

NOW = 1_762_862_400.0
FORECAST = ForecastSettings()


def velocity(rate: float, orders: int = 60, surge: Surge | None = None) -> Velocity:
    """A measured rate (units/minute) with tight bounds."""
    return Velocity(NOW, rate, rate, orders, orders, 1.0, rate, rate * 0.9, rate * 1.1, orders, 15.0, surge)


def level_of(
    available: int,
    rate: float,
    lead: float = 60,
    inbound: tuple[tuple[float, int], ...] = (),
    current: str | None = None,
    remaining: float | None = None,
    surge: Surge | None = None,
) -> str | None:
    v = velocity(rate, surge=surge)
    stock = StockView("A", available, inbound, lead, remaining)
    verdict = evaluate_sku(
        stock, v, forecast_stockout(available, inbound, v, NOW), FORECAST, AlertSettings(), current
    )
    return verdict.level if verdict.active else None


@given(
    available=st.integers(1, 5000),
    rate=st.floats(0.05, 200),
    lead=st.floats(5, 2000),
    inbound=st.integers(0, 500),
    arrives=st.floats(0, 300),
    current=st.sampled_from([None, Level.TREND, Level.THRESHOLD, Level.EMERGENCY]),
)
def test_emergency_always_comes_with_the_threshold_condition(
    available: int, rate: float, lead: float, inbound: int, arrives: float, current: str | None
) -> None:
    transfers = ((NOW + arrives * 60, inbound),) if inbound else ()
    if level_of(available, rate, lead, transfers, current) == Level.EMERGENCY:
        line = safety_line(rate, lead, AlertSettings())
        loose = 1.25 if current in (Level.THRESHOLD, Level.EMERGENCY) else 1.0
        assert available + inbound <= line * loose


def test_inbound_units_count_against_the_safety_line() -> None:
    assert level_of(100, 2.0, lead=60) == Level.THRESHOLD  # line 2*60 + 1.645*sqrt(120) = 139
    assert level_of(100, 2.0, lead=60, inbound=((NOW + 600, 400),)) is None


def test_a_held_level_clears_only_past_the_wider_line() -> None:
    line = safety_line(2.0, 60, AlertSettings())
    assert level_of(line + 10, 2.0) == Level.TREND  # sells out inside the horizon, above the line
    assert level_of(line + 10, 2.0, current=Level.THRESHOLD) == Level.THRESHOLD
    assert level_of(int(line * 1.3), 2.0, current=Level.THRESHOLD) == Level.TREND


def test_long_lead_times_are_not_capped_but_the_show_end_bounds_them() -> None:
    settings = AlertSettings()
    assert (
        safety_line(1.0, 1440, settings) > safety_line(1.0, 240, settings) > safety_line(1.0, 120, settings)
    )
    # 300 units at 1/min with a 24 h lead time: below the line, unless the show ends in 2 h
    assert level_of(300, 1.0, lead=1440) == Level.THRESHOLD
    assert level_of(300, 1.0, lead=1440, remaining=120) is None


def test_stock_that_outlasts_the_show_raises_no_trend() -> None:
    assert level_of(500, 5.0, lead=30) == Level.TREND  # sells out in 100 min, inside 120
    assert level_of(500, 5.0, lead=30, remaining=90) is None  # the show ends first


def test_a_long_show_does_not_stretch_the_trend_horizon_past_the_planning_horizon() -> None:
    # the reference show at minute 151: a chance surge on a steady seller, 360 left, 209
    # minutes to go; at the surged rate it would sell out in 150 minutes
    surge = Surge(NOW - 120, 0.4, 2.4, 7.0)
    assert level_of(360, 2.4, lead=60, remaining=209, surge=surge) is None
    assert level_of(360, 2.4, lead=60, remaining=140, surge=surge) is None  # outlasts the show
    assert level_of(240, 2.4, lead=60, remaining=209, surge=surge) == Level.TREND  # 100 min


def test_a_surge_matters_only_when_the_new_rate_empties_the_stock_inside_the_horizon() -> None:
    surge = Surge(NOW - 120, 2.0, 10.0, 12.0)
    assert level_of(800, 2.0, lead=30, surge=surge) == Level.TREND  # 80 min at 10/min
    assert level_of(5000, 2.0, lead=30, surge=surge) is None  # 500 min at 10/min


def test_a_silent_channel_is_stalled_only_while_its_skus_still_have_stock() -> None:
    previous = {"douyin": {"A": 12}, "taobao": {"A": 15}}
    last = {"douyin": {}, "taobao": {"A": 14}}
    assert stalled_channels(last, previous, in_stock={"A"}) == ["douyin"]
    assert stalled_channels(last, previous, in_stock=set()) == []


def test_the_depletion_rate_empties_the_stock_and_inbound_inside_the_horizon() -> None:
    # 300 available and 300 inbound; the planning horizon (120 min) or the show's end,
    # whichever comes first
    assert depletion_rate(StockView("A", 300, ((NOW + 600, 300),), 60), FORECAST) == 5.0
    assert depletion_rate(StockView("A", 300, (), 60, show_remaining_minutes=30), FORECAST) == 10.0
    assert depletion_rate(StockView("A", 300, (), 60, show_remaining_minutes=300), FORECAST) == 2.5
    assert depletion_rate(StockView("A", 300, (), 60, show_remaining_minutes=0), FORECAST) == float("inf")
