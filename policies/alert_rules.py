"""When a SKU deserves an alert, at which level, and the evidence for it.

Three levels, mildest first (the README's alert policy; docs/alerts.md):

- TREND (趋势预警): sales are accelerating (the last window sold ``acceleration_factor``
  times the previous one, with enough orders in both, and significantly more than the
  longer baseline before it: a one-sided binomial test), or the projected stock-out
  falls inside the planning horizon even at the slow end of the rate's Poisson interval.
  Response: prepare replenishment.
- THRESHOLD (阈值预警): ``available <= safety line``. The safety line is the reorder point
  of inventory theory, recomputed from the live rate:

      line = d * L + z * sigma * sqrt(L)

  with d the projected demand (units/minute), L the replenishment lead time in minutes
  (capped at the planning horizon: demand after the show's horizon is not this show's),
  z the normal quantile of the service level, sigma = sqrt(d) the per-minute standard
  deviation of Poisson demand. When the lead-time demand d * L is small (a slow seller)
  the normal approximation is poor, and the line is the service-level quantile of a
  Poisson(d * L) lead-time demand instead. The line is never below the SKU's
  ``safety_floor``. Worked example: d = 2 units/min, L = 30 min, 95% service (z = 1.645):
  60 + 1.645 * sqrt(2) * sqrt(30) = 60 + 12.7 -> 73 units.
  Response: replenish now or change the selling strategy.
- EMERGENCY (紧急预警): stock will run out before a replenishment ordered now can arrive
  (lead time; inbound transfers count from their arrival) and that is within the
  emergency window, or ``available <= critical_floor``. Response: the host steers viewers
  to a substitute or announces the next show.

Every verdict carries its evidence so an operator sees what was seen and why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final, NamedTuple

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
    #: lead-time demand (units) under which the Poisson quantile replaces d*L + z*s*sqrt(L)
    slow_seller_units: float = 20.0
    #: one-sided significance an acceleration must reach (binomial test of the windows)
    acceleration_significance: float = 0.0005
    #: EMERGENCY only when the stock-out is at most this many minutes away
    emergency_window_minutes: float = 30.0


class Verdict(NamedTuple):
    """Whether ``level`` holds for ``sku`` now, why, and the numbers behind it."""

    sku: str
    level: str
    active: bool
    reason: str
    evidence: dict[str, Any]


class StockView(NamedTuple):
    """What the rules need of a SKU's ledger: units, and inbound (arrives_at, units)."""

    sku: str
    available: int
    inbound: tuple[tuple[float, int], ...]
    lead_time_minutes: float


def safety_line(
    rate: float, lead_time_minutes: float, forecast: ForecastSettings, settings: AlertSettings
) -> int:
    """The reorder point in units for demand ``rate`` (units/minute) over the lead time
    (capped at the planning horizon), at ``settings.service_level``; see the module doc."""
    lead = max(min(lead_time_minutes, forecast.planning_horizon_minutes), 0.0)
    mean = max(rate, 0.0) * lead
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


@functools.lru_cache(maxsize=65536)
def acceleration_p_value(last_orders: int, baseline_orders: int, baseline_windows: int = 1) -> float:
    """One-sided p-value that the last window is this much busier than the baseline (the
    ``baseline_windows`` windows before it) by chance: if the rate had not changed, of the
    n orders in all of them, the last window's count is Binomial(n, 1 / (windows + 1))."""
    n = last_orders + baseline_orders
    share = 1.0 / (baseline_windows + 1)
    if n == 0 or last_orders <= n * share:
        return 1.0
    if n > 400:  # normal approximation with continuity correction
        z = (last_orders - 0.5 - n * share) / math.sqrt(n * share * (1 - share))
        return 1.0 - NormalDist().cdf(z)
    log_p, log_q = math.log(share), math.log(1 - share)
    total = 0.0
    for k in range(last_orders, n + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
        )
    return min(total, 1.0)


def evaluate_sku(
    stock: StockView,
    velocity: Velocity,
    stockout: StockoutForecast,
    forecast: ForecastSettings,
    settings: AlertSettings,
) -> list[Verdict]:
    """The TREND, THRESHOLD and EMERGENCY verdicts of one SKU at ``velocity.at``."""
    line = safety_line(velocity.projected_rate, stock.lead_time_minutes, forecast, settings)
    inbound_units = sum(units for _, units in stock.inbound)
    evidence: dict[str, Any] = {
        "available": stock.available,
        "inbound": inbound_units,
        "last_rate": round(velocity.last_rate, 3),
        "previous_rate": round(velocity.previous_rate, 3),
        "ratio": None if velocity.ratio is None else round(velocity.ratio, 3),
        "last_orders": velocity.last_orders,
        "previous_orders": velocity.previous_orders,
        "projected_rate": round(velocity.projected_rate, 3),
        "rate_bounds": [round(velocity.rate_low, 3), round(velocity.rate_high, 3)],
        "eta_minutes": _rounded(stockout.minutes),
        "eta_bounds_minutes": [_rounded(stockout.earliest), _rounded(stockout.latest)],
        "lead_time_minutes": stock.lead_time_minutes,
        "safety_line": line,
        "critical_floor": settings.critical_floor,
    }
    return [
        _trend(stock, velocity, stockout, forecast, settings, evidence),
        _threshold(stock, line, evidence),
        _emergency(stock, stockout, settings, evidence),
    ]


def _trend(
    stock: StockView,
    velocity: Velocity,
    stockout: StockoutForecast,
    forecast: ForecastSettings,
    settings: AlertSettings,
    evidence: dict[str, Any],
) -> Verdict:
    p_value = acceleration_p_value(velocity.last_orders, velocity.baseline_orders, forecast.baseline_windows)
    ratio = velocity.ratio if velocity.ratio is not None else (math.inf if velocity.last_orders else 0.0)
    accelerating = (
        velocity.baseline_complete
        and ratio >= forecast.acceleration_factor
        and velocity.last_orders >= forecast.min_window_orders
        and velocity.previous_orders >= forecast.min_previous_orders
        and p_value <= settings.acceleration_significance
    )
    # "soon" uses the slow end of the rate interval: a noisy minute must not make it true
    soon = stock.available > 0 and stockout.latest <= forecast.planning_horizon_minutes
    details = {**evidence, "p_value": round(p_value, 5)}
    if accelerating:
        reason = (
            f"sales accelerating: {velocity.last_rate:.1f}/min vs "
            f"{velocity.previous_rate:.1f}/min in the window before (x{ratio:.1f})"
        )
    elif soon:
        reason = (
            f"projected to sell out in {stockout.minutes:.0f} min (at the latest "
            f"{stockout.latest:.0f} min), inside the "
            f"{forecast.planning_horizon_minutes:.0f} min planning horizon"
        )
    else:
        reason = ""
    return Verdict(stock.sku, Level.TREND, accelerating or soon, reason, details)


def _threshold(stock: StockView, line: int, evidence: dict[str, Any]) -> Verdict:
    active = stock.available <= line and line > 0
    reason = f"{stock.available} available, safety line {line}" if active else ""
    return Verdict(stock.sku, Level.THRESHOLD, active, reason, evidence)


def _emergency(
    stock: StockView, stockout: StockoutForecast, settings: AlertSettings, evidence: dict[str, Any]
) -> Verdict:
    critical = stock.available <= settings.critical_floor
    too_late = (
        stockout.earliest < stock.lead_time_minutes and stockout.earliest <= settings.emergency_window_minutes
    )
    if critical:
        reason = f"{stock.available} available, at or under the critical floor {settings.critical_floor}"
    elif too_late:
        reason = (
            f"sells out in {stockout.earliest:.0f} min at the earliest; replenishment "
            f"takes {stock.lead_time_minutes:.0f} min"
        )
    else:
        reason = ""
    return Verdict(stock.sku, Level.EMERGENCY, critical or too_late, reason, evidence)


def stalled_channels(
    orders_last: dict[str, int],
    orders_previous: dict[str, int],
    *,
    min_previous: int = 10,
    min_others: int = 10,
) -> list[str]:
    """Channels that delivered at least ``min_previous`` orders in the previous window
    and none in the last one, while the other channels together delivered at least
    ``min_others``: silence from a broken feed must not look like a calm show."""
    stalled = []
    for channel, before in sorted(orders_previous.items()):
        others = sum(n for c, n in orders_last.items() if c != channel)
        if before >= min_previous and orders_last.get(channel, 0) == 0 and others >= min_others:
            stalled.append(channel)
    return stalled


def highest(levels: Sequence[str]) -> str | None:
    """The most severe of ``levels``."""
    return max(levels, key=lambda level: Level.RANK[level], default=None)


def _rounded(minutes: float) -> float | None:
    return None if math.isinf(minutes) else round(minutes, 2)
