"""When a SKU deserves an alert, at which level, and the evidence for it.

One rate estimate (``Velocity.projected_rate``, docs/alerts.md) feeds every level, and the
levels form a ladder, so EMERGENCY implies THRESHOLD by construction:

- TREND (趋势预警): the sequential test found a rise of the order rate
  (``policies.alert_change``) that matters (at the new rate the stock runs out inside the
  horizon), or the stock runs out inside the horizon even at the slow end of the rate's
  credible interval. The horizon is the planning horizon, or the show's remaining time
  when that is shorter. Response: prepare replenishment.
- THRESHOLD (阈值预警): ``available + inbound <= safety line``, the reorder point of
  inventory theory at the projected rate:

      line = d * L + z * sqrt(d * L)     (Poisson quantile of d * L for slow sellers)

  with d the projected rate (units/minute), L the lead time in minutes (not capped; only
  the show's remaining time bounds it, when known), z the normal quantile of the service
  level. Never below ``safety_floor``. Response: replenish now or change the selling
  strategy.
- EMERGENCY (紧急预警): THRESHOLD holds and the stock (inbound counted from its arrival)
  runs out at the projected rate before a replenishment ordered now arrives and within
  ``emergency_window_minutes``; or ``available <= critical_floor``. Response: the host
  steers viewers to a substitute or announces the next show.

Hysteresis: a level the SKU is already at is kept on a looser condition than the one that
raised it (``clear_margin``), so noise around a line cannot flap it.

Every verdict carries its evidence so an operator sees what was seen and why.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, NamedTuple

from policies.alert_checks import check_settings
from policies.velocity import ForecastSettings, StockoutForecast, Velocity


class Level:
    TREND: Final = "TREND"
    THRESHOLD: Final = "THRESHOLD"
    EMERGENCY: Final = "EMERGENCY"
    CHANNEL_STALLED: Final = "CHANNEL_STALLED"
    #: severity order; a higher level inhibits notifications of lower ones for a SKU
    RANK: Final = {TREND: 1, THRESHOLD: 2, EMERGENCY: 3, CHANNEL_STALLED: 2}


PLAYBOOK = {
    Level.TREND: "销量在加速：准备补货（联系仓库/供应商，确认可调拨数量）",
    Level.THRESHOLD: "库存低于安全线：立即补货，或调整销售策略（限购、控制节奏）",
    Level.EMERGENCY: "补货来不及：主播改话术，引导到替代款或预告下一场",
    Level.CHANNEL_STALLED: "该渠道订单中断：检查平台推送与接入是否正常",
}


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Per-SKU alert rules (defaults fit a live show)."""

    #: service level of the safety stock (probability of not running out in lead time)
    service_level: float = 0.95
    #: the safety line is never below this, in units
    safety_floor: int = 0
    #: EMERGENCY at or below this many available units
    critical_floor: int = 0
    #: lead-time demand (units) under which the Poisson quantile replaces d*L + z*sqrt(d*L)
    slow_seller_units: float = 20.0
    #: EMERGENCY only when the stock-out is at most this many minutes away
    emergency_window_minutes: float = 45.0
    #: a level already held clears only when its measure is this much better than the line
    #: that raised it (25%: a line of 100 units clears above 125)
    clear_margin: float = 0.25

    def __post_init__(self) -> None:
        check_settings(self, probability=("service_level",))


class Verdict(NamedTuple):
    """Whether ``level`` holds for ``sku`` now, why, and the numbers behind it."""

    sku: str
    level: str
    active: bool
    reason: str
    evidence: dict[str, Any]


class StockView(NamedTuple):
    """What the rules need of a SKU's ledger: units, and inbound (arrives_at, units).
    ``show_remaining_minutes``: the show's remaining time, None when unknown."""

    sku: str
    available: int
    inbound: tuple[tuple[float, int], ...]
    lead_time_minutes: float
    show_remaining_minutes: float | None = None


def safety_line(rate: float, lead_time_minutes: float, settings: AlertSettings) -> int:
    """The reorder point in units for demand ``rate`` (units/minute) over
    ``lead_time_minutes`` at ``settings.service_level``; see the module doc."""
    mean = max(rate, 0.0) * max(lead_time_minutes, 0.0)
    if mean <= 0:
        return settings.safety_floor
    if mean < settings.slow_seller_units:
        line = poisson_quantile(mean, settings.service_level)
    else:
        z = NormalDist().inv_cdf(settings.service_level)
        line = math.ceil(mean + z * math.sqrt(mean))
    return max(line, settings.safety_floor)


def poisson_quantile(mean: float, probability: float) -> int:
    """The smallest n with P(X <= n) >= ``probability`` for X ~ Poisson(``mean``)."""
    term = math.exp(-mean)
    total, n = term, 0
    while total < probability and n < 100_000:
        n += 1
        term *= mean / n
        total += term
    return n


def horizon_minutes(stock: StockView, forecast: ForecastSettings) -> float:
    """How far ahead "sells out soon" looks (minutes): the planning horizon, or the
    show's remaining time when that is shorter. A show's end only shortens it: a stock-out
    projected past the planning horizon rests on a rate measured minutes ago (a surge
    drawn by chance on a steady seller projects one hours ahead) and can wait for
    the next evaluations."""
    remaining = stock.show_remaining_minutes
    planning = forecast.planning_horizon_minutes
    return planning if remaining is None else min(max(remaining, 0.0), planning)


def depletion_rate(stock: StockView, forecast: ForecastSettings) -> float:
    """The sales rate (units/minute) at which the stock, inbound counted, runs out inside
    the horizon, and at most the planning horizon: a rise beyond it is urgent enough for
    the change test to accept it on less evidence (a stock-out hours away can wait for
    the full evidence). The horizon is taken in whole minutes: the change test's answer is
    kept until new sales, new stock or the next minute (not recomputed on every tick)."""
    horizon = consequence_horizon(stock, forecast)
    position = max(stock.available, 0) + sum(units for _, units in stock.inbound)
    return position / horizon if horizon > 0 else math.inf


def consequence_horizon(stock: StockView, forecast: ForecastSettings) -> int:
    """The horizon of ``depletion_rate`` in whole minutes: the horizon, at most the
    planning horizon."""
    return math.ceil(min(horizon_minutes(stock, forecast), forecast.planning_horizon_minutes))


def evaluate_sku(
    stock: StockView,
    velocity: Velocity,
    stockout: StockoutForecast,
    forecast: ForecastSettings,
    settings: AlertSettings,
    current: str | None = None,
) -> Verdict:
    """The level ``stock.sku`` deserves at ``velocity.at`` (``active`` False: none), given
    the level it is at now (``current``: kept on the looser, clearing condition)."""
    held = Level.RANK.get(current or "", 0)
    loose = 1.0 + settings.clear_margin
    lead = stock.lead_time_minutes
    remaining = stock.show_remaining_minutes
    demand_minutes = lead if remaining is None else min(lead, max(remaining, 0.0))
    horizon = horizon_minutes(stock, forecast)
    line = safety_line(velocity.projected_rate, demand_minutes, settings)
    inbound_units = sum(units for _, units in stock.inbound)
    position = stock.available + inbound_units
    surge = velocity.surge
    evidence: dict[str, Any] = {
        "available": stock.available,
        "inbound": inbound_units,
        "position": position,
        "last_rate": round(velocity.last_rate, 3),
        "previous_rate": round(velocity.previous_rate, 3),
        "ratio": None if velocity.ratio is None else round(velocity.ratio, 3),
        "last_orders": velocity.last_orders,
        "previous_orders": velocity.previous_orders,
        "projected_rate": round(velocity.projected_rate, 3),
        "rate_bounds": [round(velocity.rate_low, 3), round(velocity.rate_high, 3)],
        "rate_window_minutes": velocity.rate_minutes,
        "rate_orders": velocity.rate_orders,
        "eta_minutes": _rounded(stockout.minutes),
        "eta_bounds_minutes": [_rounded(stockout.earliest), _rounded(stockout.latest)],
        "lead_time_minutes": lead,
        "horizon_minutes": round(horizon, 2),
        "safety_line": line,
        "critical_floor": settings.critical_floor,
        "surge": None
        if surge is None
        else {
            "since": surge.since,
            "before": round(surge.before, 3),
            "after": round(surge.after, 3),
            "llr": surge.llr,
            "kind": surge.kind,
        },
    }
    # each level: the condition that raises it, loosened by ``clear_margin`` once held
    threshold_line = line * (loose if held >= Level.RANK[Level.THRESHOLD] else 1.0)
    threshold = line > 0 and position <= threshold_line
    em_scale = loose if held >= Level.RANK[Level.EMERGENCY] else 1.0
    critical = stock.available <= settings.critical_floor
    # raised only when even the slow end of the rate runs out in time; held on the mean
    em_eta = stockout.minutes if held >= Level.RANK[Level.EMERGENCY] else stockout.latest
    too_late = em_eta < lead * em_scale and em_eta <= settings.emergency_window_minutes * em_scale
    trend_scale = loose if held >= Level.RANK[Level.TREND] else 1.0
    soon_eta = stockout.minutes if held else stockout.latest
    soon = stock.available > 0 and soon_eta <= horizon * trend_scale
    # a detected rise matters when the stock runs out inside the horizon at the new rate:
    # the rise's own rate or the last 5 minutes' (the projected rate is shrunk toward the
    # old one at first; a ramp keeps rising after the change point)
    # (a ramp is reported only when its projected growth empties the stock inside the
    # horizon: policies.alert_trend)
    surge_rate = 0.0 if surge is None else max(surge.after, velocity.last_rate)
    rising = (
        surge is not None
        and stock.available > 0
        and (surge.kind == "ramp" or _eta_at(position, surge_rate) <= horizon * trend_scale)
    )
    if critical or (threshold and too_late):
        level = Level.EMERGENCY
        reason = (
            f"{stock.available} available, at or under the critical floor {settings.critical_floor}"
            if critical
            else (
                f"sells out in {stockout.minutes:.0f} min at {velocity.projected_rate:.1f}/min; "
                f"replenishment takes {lead:.0f} min"
            )
        )
    elif threshold:
        level = Level.THRESHOLD
        reason = f"{position} available and inbound, safety line {line} ({lead:.0f} min lead time)" + (
            "" if math.isinf(stockout.minutes) else f"; sells out in {stockout.minutes:.0f} min"
        )
    elif rising and surge is not None and surge.kind == "ramp":
        level = Level.TREND
        reason = (
            f"sales rising steadily from {surge.before:.1f}/min to {surge.after:.1f}/min over "
            f"{(velocity.at - surge.since) / 60:.0f} min; if the rise goes on, sells out inside the "
            f"{horizon:.0f} min horizon"
        )
    elif rising and surge is not None:
        level = Level.TREND
        reason = (
            f"sales surged from {surge.before:.1f}/min to {surge.after:.1f}/min (x{surge.ratio:.1f}); "
            f"at {surge_rate:.1f}/min sells out in {_eta_at(position, surge_rate):.0f} min"
        )
    elif soon:
        level = Level.TREND
        reason = f"projected to sell out in {stockout.minutes:.0f} min, inside the {horizon:.0f} min horizon"
    else:
        return Verdict(stock.sku, current or Level.TREND, False, "", evidence)
    return Verdict(stock.sku, level, True, reason, evidence)


def _eta_at(units: int, rate: float) -> float:
    """Minutes until ``units`` run out at ``rate`` units/minute (orders x 1 unit)."""
    return math.inf if rate <= 0 else max(units, 0) / rate


def stalled_channels(
    orders_last: Mapping[str, Mapping[str, int]],
    orders_previous: Mapping[str, Mapping[str, int]],
    in_stock: Collection[str],
    *,
    min_previous: int = 10,
    min_others: int = 10,
) -> list[str]:
    """Channels that stopped sending while their SKUs still have stock: of the SKUs in
    ``in_stock``, a channel delivered at least ``min_previous`` orders in the previous
    window and none in the last, while the other channels delivered at least
    ``min_others`` orders of those same SKUs in the last window. Silence from a broken
    feed must not look like a calm show; a platform whose SKUs sold out is not stalled.
    ``orders_*``: channel -> sku -> orders."""
    stalled = []
    for channel, previous in sorted(orders_previous.items()):
        skus = {sku for sku, n in previous.items() if n > 0 and sku in in_stock}
        before = sum(previous[sku] for sku in skus)
        now = sum(n for sku, n in orders_last.get(channel, {}).items() if sku in skus)
        others = sum(
            n
            for c, per_sku in orders_last.items()
            if c != channel
            for sku, n in per_sku.items()
            if sku in skus
        )
        if before >= min_previous and now == 0 and others >= min_others:
            stalled.append(channel)
    return stalled


def highest(levels: Sequence[str]) -> str | None:
    """The most severe of ``levels``."""
    return max(levels, key=lambda level: Level.RANK[level], default=None)


def _rounded(minutes: float) -> float | None:
    return None if math.isinf(minutes) else round(minutes, 2)
