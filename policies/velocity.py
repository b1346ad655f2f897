"""Sales velocity in event time, and when stock runs out.

Sale events are keyed by the order's ``placed_at`` (the platform's event time), never by
when flashstock heard of them, so a recorded show replayed at 1x or 1,000x gives the same
numbers. Time only moves when events or an explicit watermark say so.

Units: times in epoch seconds, windows and lead times in minutes, rates in units per
minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from policies.alert_change import Surge, detect_surge
from policies.alert_checks import check_settings
from policies.alert_trend import detect_ramp
from policies.gamma_rate import gamma_quantile


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """How velocity is measured (per SKU, or the defaults for all); docs/alerts.md."""

    #: sales are counted in buckets of this many seconds of event time
    bucket_seconds: int = 10
    #: the last and previous windows shown to operators (evidence, not a trigger)
    window_minutes: float = 5.0
    #: the rate posterior looks back this far...
    rate_window_minutes: float = 15.0
    #: ...and further, up to ``max_rate_window_minutes``, until it holds this many orders
    #: (a slow seller's rate from 2 orders in 5 minutes is noise)
    min_rate_orders: int = 12
    #: the longest rate window (minutes), for the slowest sellers
    max_rate_window_minutes: float = 60.0
    #: Gamma prior of the order rate: ``prior_orders`` pseudo-orders seen over
    #: ``prior_minutes`` pseudo-minutes (a weak prior of 0.5 orders/minute)
    prior_orders: float = 0.5
    #: the pseudo-minutes of the Gamma prior
    prior_minutes: float = 1.0
    #: change detection: a generalised likelihood ratio (log) at least this large...
    surge_threshold: float = 6.0
    #: ...for a rate at least this many times the baseline before the change...
    surge_min_ratio: float = 1.5
    #: ...with at least this many orders after the change
    surge_min_orders: int = 8
    #: a lower ratio (log) suffices when the rate after the change empties the stock inside
    #: the horizon with at least ``surge_consequence_probability`` (docs/alerts.md)
    surge_consequence_threshold: float = 3.0
    #: the posterior probability that the new rate empties the stock inside the horizon
    surge_consequence_probability: float = 0.9
    #: change points are searched this far back (minutes), every ``surge_step_seconds``
    surge_scan_minutes: float = 20.0
    #: the spacing of candidate change points (seconds)
    surge_step_seconds: float = 30.0
    #: the baseline before a change point: this long, and at least ``min_baseline_minutes``
    #: of history (the first sales of a show are a start, not a surge)
    baseline_minutes: float = 20.0
    #: the least history (minutes) before a change point
    min_baseline_minutes: float = 2.0
    #: after a change, the new rate is shrunk toward the old with this many minutes of weight
    surge_shrink_minutes: float = 2.0
    #: the trend test (a log-linear rate against a constant one) over the last minutes,
    #: each of these windows (minutes, e.g. 10,20,30); empty (the default): no trend test
    #: (measured and not kept: docs/alerts.md)
    ramp_windows_minutes: tuple[float, ...] = ()
    #: the ratio (log) a steady rise needs when it changes the outcome (its start rate
    #: would not empty the stock inside the horizon, its projected growth does)
    ramp_consequence_threshold: float = 3.0
    #: the projected growth stops at this many times the window's mean rate
    ramp_growth_cap: float = 2.0
    #: when > 0, a steady rise matters when the fitted model's stock-out probability
    #: inside the horizon is at least this (``policies.alert_trend.stockout_probability``)
    #: instead of the capped projection
    ramp_consequence_probability: float = 0.0
    #: how far ahead "sells out soon" (TREND) looks; a show ending sooner shortens it
    planning_horizon_minutes: float = 120.0
    #: two-sided credibility of the rate and ETA bounds
    confidence: float = 0.90

    def __post_init__(self) -> None:
        check_settings(
            self,
            positive=(
                "bucket_seconds",
                "window_minutes",
                "rate_window_minutes",
                "max_rate_window_minutes",
                "prior_orders",
                "prior_minutes",
                "surge_min_ratio",
                "surge_scan_minutes",
                "surge_step_seconds",
                "baseline_minutes",
                "ramp_growth_cap",
            ),
            probability=("confidence", "surge_consequence_probability"),
        )
        if self.ramp_consequence_probability >= 1:  # 0 is "off", so not a ``probability`` field
            value = self.ramp_consequence_probability
            raise ValueError(f"ramp_consequence_probability must be below 1 (0: off), got {value}")


class SalesHistory:
    """Units and orders of one SKU in event-time buckets (a value holder, no I/O).

    ``record`` adds a sale (negative units for a release) to the bucket of its event
    time; buckets older than ``keep_minutes`` before the newest event are dropped.
    """

    __slots__ = ("bucket_seconds", "buckets", "earliest", "keep_seconds", "latest", "surge_cache", "version")

    def __init__(self, bucket_seconds: int = 10, keep_minutes: float = 60.0) -> None:
        self.bucket_seconds = bucket_seconds
        self.keep_seconds = keep_minutes * 60.0
        #: bucket index (event time // bucket_seconds) -> [units, orders]
        self.buckets: dict[int, list[int]] = {}
        self.latest = -math.inf
        #: the oldest event time ever recorded (how far back the history reaches)
        self.earliest = math.inf
        #: bumped by every ``record``: what the change test last saw, and its answer
        self.version = 0
        self.surge_cache: tuple[tuple[int, int, float, float, ForecastSettings], Surge | None] | None = None

    def record(self, at: float, units: int, orders: int = 1) -> None:
        self.version += 1
        index = int(at // self.bucket_seconds)
        bucket = self.buckets.get(index)
        if bucket is not None:
            bucket[0] += units
            bucket[1] += orders
        else:
            self.buckets[index] = [units, orders]
            if at > self.latest:  # a new newest bucket: drop the ones that fell out
                self.latest = at
                self._trim()
        if at > self.latest:
            self.latest = at
        if at < self.earliest:
            self.earliest = at

    def _trim(self) -> None:
        oldest = int((self.latest - self.keep_seconds) // self.bucket_seconds)
        if self.buckets and min(self.buckets) < oldest:
            for index in [i for i in self.buckets if i < oldest]:
                del self.buckets[index]

    def window(self, end: float, minutes: float) -> tuple[int, int]:
        """(units, orders) of the buckets in the ``minutes`` before ``end`` (whole
        buckets; the bucket holding ``end`` counts as the newest)."""
        last = int(end // self.bucket_seconds)
        first = last - round(minutes * 60.0 / self.bucket_seconds) + 1
        units = orders = 0
        buckets = self.buckets
        if last - first + 1 < len(buckets):  # fewer lookups than buckets kept
            for index in range(first, last + 1):
                bucket = buckets.get(index)
                if bucket is not None:
                    units += bucket[0]
                    orders += bucket[1]
            return units, orders
        for index, (bucket_units, bucket_orders) in buckets.items():
            if first <= index <= last:
                units += bucket_units
                orders += bucket_orders
        return units, orders

    def series(self, first: int, last: int) -> list[int]:
        """Orders per bucket for bucket indexes ``first..last`` (inclusive)."""
        buckets = self.buckets
        return [buckets[i][1] if i in buckets else 0 for i in range(first, last + 1)]


class Velocity(NamedTuple):
    """Sales speed of one SKU at event time ``at``, in units per minute.

    ``projected_rate`` is the one rate every level uses: the mean of a Gamma-Poisson
    posterior over the orders since the last detected change (or over the rate window,
    widened for slow sellers), times units per order. ``rate_low``/``rate_high`` are its
    credible bounds."""

    at: float
    last_rate: float
    previous_rate: float
    last_orders: int
    previous_orders: int
    #: last / previous window; None when the previous window sold nothing
    ratio: float | None
    projected_rate: float
    rate_low: float
    rate_high: float
    #: orders and minutes the posterior saw
    rate_orders: int
    rate_minutes: float
    #: a rate change the sequential test found in the last minutes, or None
    surge: Surge | None


def measure_velocity(
    history: SalesHistory,
    at: float,
    settings: ForecastSettings,
    depletion_rate: float = math.inf,
    horizon_minutes: float | None = None,
    on_sale_since: float | None = None,
) -> Velocity:
    """Velocity of one SKU at event time ``at``: the operator's windows, the posterior
    rate and the change the sequential test finds (``policies.alert_change``, or a steady
    rise, ``policies.alert_trend``). ``depletion_rate``: the rate (units/minute) that
    empties the stock inside ``horizon_minutes`` (default: the planning horizon; the
    change tests weigh that consequence); infinite when unknown.

    The rate's exposure (the minutes its orders are counted over) runs from when the SKU
    went on sale (``on_sale_since``, epoch seconds) when that is before its first sale,
    else from its first sale: one order a minute after going on sale is one order in a
    minute, not one in the seconds since that order. It is bounded by the rate window
    (at most ``max_rate_window_minutes``)."""
    minutes = settings.window_minutes
    last_units, last_orders = history.window(at, minutes)
    previous_units, previous_orders = history.window(at - minutes * 60.0, minutes)
    last_rate = max(last_units, 0) / minutes
    previous_rate = max(previous_units, 0) / minutes
    ratio = last_rate / previous_rate if previous_rate > 0 else None
    horizon = settings.planning_horizon_minutes if horizon_minutes is None else horizon_minutes
    surge = _surge(history, at, settings, depletion_rate, horizon)
    # how long the SKU has been exposed: since it went on sale, or since its first sale
    # when that is all that is known, counting the whole bucket it starts in
    since = history.earliest if on_sale_since is None else min(history.earliest, on_sale_since)
    span = max((at - since) / 60.0, 0.0) + history.bucket_seconds / 60.0 if history.buckets else 0.0
    if surge is not None and surge.kind == "step":
        window = (at - surge.since) / 60.0
        units, orders = history.window(at, window)
        # the new rate, shrunk toward the old one while it has little evidence of its own
        shape = orders + surge.before * settings.surge_shrink_minutes
        scale = window + settings.surge_shrink_minutes
    else:
        window = min(settings.rate_window_minutes, max(span, 0.0))
        units, orders = history.window(at, window) if window > 0 else (0, 0)
        while orders < settings.min_rate_orders and window < min(settings.max_rate_window_minutes, span):
            window = min(
                window * 2 if window > 0 else settings.rate_window_minutes,
                settings.max_rate_window_minutes,
                span,
            )
            units, orders = history.window(at, window)
        shape = orders + settings.prior_orders
        scale = window + settings.prior_minutes
    units_per_order = units / orders if orders > 0 and units > 0 else 1.0
    tail = (1.0 - settings.confidence) / 2
    rate = shape / scale * units_per_order if orders > 0 else 0.0
    low = gamma_quantile(shape, scale, tail) * units_per_order if orders > 0 else 0.0
    high = gamma_quantile(shape, scale, 1 - tail) * units_per_order
    return Velocity(
        at,
        last_rate,
        previous_rate,
        last_orders,
        previous_orders,
        ratio,
        rate,
        low,
        high,
        orders,
        round(window, 3),
        surge,
    )


def _surge(
    history: SalesHistory, at: float, settings: ForecastSettings, depletion_rate: float, horizon: float
) -> Surge | None:
    if not history.buckets:
        return None
    size = history.bucket_seconds
    last = int(at // size)
    first = last - round((settings.surge_scan_minutes + settings.baseline_minutes) * 60 / size) + 1
    started = int(history.earliest // size)
    first = max(first, started)
    if first > last:
        return None
    # the answer changes only with new sales or a new newest bucket (ticks between do not)
    key = (history.version, last, depletion_rate, horizon, settings)
    if history.surge_cache is not None and history.surge_cache[0] == key:
        return history.surge_cache[1]
    units, orders = history.window(at, settings.rate_window_minutes)
    units_per_order = units / orders if orders > 0 and units > 0 else 1.0
    series = history.series(first, last)
    surge = detect_surge(series, first * size, size, settings, depletion_rate / units_per_order)
    if surge is None and settings.ramp_windows_minutes:
        surge = _ramp(series, (last + 1) * size, size, settings, depletion_rate / units_per_order, horizon)
    history.surge_cache = (key, surge)
    return surge


def _ramp(
    series: list[int], end: float, size: int, settings: ForecastSettings, depletion: float, horizon: float
) -> Surge | None:
    """The trend test over whole minutes ending with the newest bucket (``end``: the event
    time after it), as a ``Surge`` of kind ``ramp``."""
    per = max(round(60 / size), 1)
    whole = len(series) // per
    tail = series[len(series) - whole * per :]
    per_minute = [float(sum(tail[i * per : (i + 1) * per])) for i in range(whole)]
    ramp = detect_ramp(
        per_minute,
        settings.ramp_windows_minutes,
        settings.surge_threshold,
        settings.ramp_consequence_threshold,
        settings.ramp_growth_cap,
        depletion,
        horizon,
        settings.ramp_consequence_probability,
    )
    if ramp is None:
        return None
    return Surge(end - ramp.minutes * 60.0, ramp.start_rate, ramp.end_rate, round(ramp.llr, 2), "ramp")


class StockoutForecast(NamedTuple):
    """When available stock runs out at the projected rate, in minutes from now.
    ``earliest`` / ``latest`` use the high / low rate bounds; ``math.inf`` means never
    (nothing is selling). Inbound transfers count from their arrival time."""

    minutes: float
    earliest: float
    latest: float


def forecast_stockout(
    available: int,
    inbound: Sequence[tuple[float, int]],
    velocity: Velocity,
    now: float,
) -> StockoutForecast:
    """Minutes until ``available`` (plus ``inbound`` (arrives_at epoch seconds, units)
    transfers, each from its arrival) is sold out at the projected rate and its bounds."""
    # With no order in the window the upper bound (3 orders for 0 seen) is no evidence
    # of selling: a SKU nobody buys does not run out.
    high = (
        max(velocity.rate_high, velocity.projected_rate)
        if velocity.rate_orders > 0
        else velocity.projected_rate
    )
    return StockoutForecast(
        _minutes_to_empty(available, inbound, velocity.projected_rate, now),
        _minutes_to_empty(available, inbound, high, now),
        _minutes_to_empty(available, inbound, min(velocity.rate_low, velocity.projected_rate), now),
    )


def _minutes_to_empty(available: int, inbound: Sequence[tuple[float, int]], rate: float, now: float) -> float:
    if available <= 0 and not inbound:
        return 0.0
    if rate <= 0:
        return math.inf
    stock = float(max(available, 0))
    clock = 0.0  # minutes from now
    for arrives_at, units in sorted(inbound):
        arrival = max((arrives_at - now) / 60.0, 0.0)
        if clock + stock / rate <= arrival:
            break  # runs out before this transfer arrives
        stock -= (arrival - clock) * rate
        clock = arrival
        stock += units
    return clock + stock / rate
