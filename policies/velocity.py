"""Sales velocity in event time, and when stock runs out.

Sale events are keyed by the order's ``placed_at`` (the platform's event time), never by
when flashstock heard of them, so a recorded show replayed at 1x or 1,000x gives the same
numbers. Time only moves when events or an explicit watermark say so.

Units: times in epoch seconds, windows and lead times in minutes, rates in units per
minute.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """How velocity is measured (per SKU, or the defaults for all)."""

    bucket_seconds: int = 10
    window_minutes: float = 5.0
    #: TREND when the last window sells this many times the previous one...
    acceleration_factor: float = 2.0
    #: ...with at least this many orders in the last window (3 orders is not a trend)
    min_window_orders: int = 8
    #: ...and at least this many in the previous one: a show going from nothing to
    #: something (the link just went up) is a start, not an acceleration
    min_previous_orders: int = 3
    #: windows before the last one that the significance test compares against (a
    #: longer baseline is steadier than the single previous window)
    baseline_windows: int = 3
    #: the stretch of the show that forecasts look at, in minutes
    planning_horizon_minutes: float = 120.0
    #: half-life of the smoothed rate, in minutes of event time
    ewma_half_life_minutes: float = 5.0
    #: two-sided confidence of the rate and ETA bounds
    confidence: float = 0.90


class SalesHistory:
    """Units and orders of one SKU in event-time buckets (a value holder, no I/O).

    ``record`` adds a sale (negative units for a release) to the bucket of its event
    time; buckets older than ``keep_minutes`` before the newest event are dropped.
    """

    __slots__ = ("bucket_seconds", "buckets", "earliest", "keep_seconds", "latest")

    def __init__(self, bucket_seconds: int = 10, keep_minutes: float = 60.0) -> None:
        self.bucket_seconds = bucket_seconds
        self.keep_seconds = keep_minutes * 60.0
        #: bucket index (event time // bucket_seconds) -> [units, orders]
        self.buckets: dict[int, list[int]] = {}
        self.latest = -math.inf
        #: the oldest event time ever recorded (how far back the history reaches)
        self.earliest = math.inf

    def record(self, at: float, units: int, orders: int = 1) -> None:
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
        for index, (bucket_units, bucket_orders) in self.buckets.items():
            if first <= index <= last:
                units += bucket_units
                orders += bucket_orders
        return units, orders

    def smoothed_rate(self, end: float, half_life_minutes: float) -> float:
        """Exponentially weighted units per minute up to ``end``: each bucket weighs
        half as much per ``half_life_minutes`` of age (six half-lives are looked at)."""
        last = int(end // self.bucket_seconds)
        weights = _decay_weights(self.bucket_seconds, half_life_minutes)
        buckets = self.buckets
        weighted = 0.0
        for index, (units, _) in buckets.items():
            age = last - index
            if 0 <= age < len(weights):
                weighted += weights[age] * units
        return (
            max(weighted / _weight_total(self.bucket_seconds, half_life_minutes), 0.0)
            * 60.0
            / self.bucket_seconds
        )


@functools.lru_cache(maxsize=64)
def _decay_weights(bucket_seconds: int, half_life_minutes: float) -> tuple[float, ...]:
    decay = math.log(2) / (half_life_minutes * 60.0)
    horizon = int(6 * half_life_minutes * 60.0 / bucket_seconds)
    return tuple(math.exp(-decay * age * bucket_seconds) for age in range(horizon))


@functools.lru_cache(maxsize=64)
def _weight_total(bucket_seconds: int, half_life_minutes: float) -> float:
    return sum(_decay_weights(bucket_seconds, half_life_minutes))


class Velocity(NamedTuple):
    """Sales speed of one SKU at event time ``at``, in units per minute."""

    at: float
    last_rate: float
    previous_rate: float
    last_orders: int
    previous_orders: int
    #: last / previous window; None when the previous window sold nothing
    ratio: float | None
    #: orders in the ``baseline_windows`` windows before the last one
    baseline_orders: int
    #: the history reaches back over the whole baseline (otherwise "acceleration" is
    #: only the start of the show)
    baseline_complete: bool
    smoothed_rate: float
    #: the rate the forecast uses: the larger of the last window and the smoothed rate
    projected_rate: float
    #: Poisson confidence bounds of the last window's rate
    rate_low: float
    rate_high: float


def measure_velocity(history: SalesHistory, at: float, settings: ForecastSettings) -> Velocity:
    """Velocity over the last and the previous window ending at event time ``at``."""
    minutes = settings.window_minutes
    last_units, last_orders = history.window(at, minutes)
    previous_units, previous_orders = history.window(at - minutes * 60.0, minutes)
    last_rate = max(last_units, 0) / minutes
    previous_rate = max(previous_units, 0) / minutes
    ratio = last_rate / previous_rate if previous_rate > 0 else None
    baseline_orders = history.window(at - minutes * 60.0, minutes * settings.baseline_windows)[1]
    smoothed = history.smoothed_rate(at, settings.ewma_half_life_minutes)
    units_per_order = last_units / last_orders if last_orders > 0 and last_units > 0 else 1.0
    low, high = poisson_interval(max(last_orders, 0), settings.confidence)
    return Velocity(
        at,
        last_rate,
        previous_rate,
        last_orders,
        previous_orders,
        ratio,
        baseline_orders,
        at - history.earliest >= minutes * 60.0 * (settings.baseline_windows + 1),
        smoothed,
        max(last_rate, smoothed),
        low * units_per_order / minutes,
        high * units_per_order / minutes,
    )


@functools.lru_cache(maxsize=4096)
def poisson_interval(count: int, confidence: float = 0.90) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of a Poisson mean given ``count`` events.

    The bounds are chi-square quantiles, ``chi2(a/2, 2k)/2`` and ``chi2(1-a/2, 2k+2)/2``,
    computed here by bisection on the Poisson distribution function (exact, no SciPy).
    For large counts the Wilson-Hilferty approximation is used (error < 0.1%).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    alpha = 1.0 - confidence
    if count > 200:
        return _wilson_hilferty(count, alpha / 2), _wilson_hilferty(count + 1, 1 - alpha / 2)
    low = 0.0 if count == 0 else _solve_mean(lambda m: 1.0 - _poisson_cdf(count - 1, m), alpha / 2)
    high = _solve_mean(lambda m: _poisson_cdf(count, m), alpha / 2, decreasing=True)
    return low, high


def _poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean), summed in a numerically safe order."""
    if mean <= 0:
        return 1.0
    term = math.exp(-mean)
    total = term
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return min(total, 1.0)


def _solve_mean(func: Callable[[float], float], target: float, decreasing: bool = False) -> float:
    """The mean m where the monotone function ``func(m)`` equals ``target``."""
    low, high = 0.0, 1.0
    while (func(high) > target) if decreasing else (func(high) < target):
        high *= 2.0
    for _ in range(60):
        mid = (low + high) / 2
        value = func(mid)
        if (value > target) if decreasing else (value < target):
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _wilson_hilferty(k: int, p: float) -> float:
    """The p-quantile of chi2(2k) / 2, by the Wilson-Hilferty cube-root approximation."""
    z = NormalDist().inv_cdf(p)
    return k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3


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
        if velocity.last_orders > 0
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
