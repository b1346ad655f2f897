"""Is a SKU's order rate rising steadily? A trend test on the Poisson rate.

The step-change test (``policies.alert_change``) sees a ramp late: at every change point
the rate after it is an average over a rate that keeps rising. A ramp is tested as a
log-linear rate instead, ``lambda(t) = a * exp(b * t)`` over the last ``k`` minutes
(``k`` in ``ramp_windows_minutes``), against a constant rate. With per-minute counts
``y_j`` at centred times ``t_j`` and ``n`` orders, the profile log-likelihood of ``b`` is

    l(b) = b * sum(t_j * y_j) - n * ln(mean_j exp(b * t_j))

(the intercept fitted for each ``b``); ``b`` is its maximum (Newton's method) and the
generalised log-likelihood ratio is ``l(b) - l(0)``. A rise is reported when the ratio is
at least ``surge_threshold``, or at least ``ramp_consequence_threshold`` when the rise
changes the outcome: the rate at the window's start would not empty the stock inside the
horizon, the fitted growth does. A ramp that does not empty the stock inside the horizon
is not reported at all (it is no alert's business). The projection grows the fitted current rate at the
fitted growth, capped at ``ramp_growth_cap`` times the window's mean rate (a ramp does
not rise forever, and noise fitted as growth must not project a stock-out on ample
stock).

Units: times in minutes from the window's start, rates in orders per minute, growth per
minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple


class Ramp(NamedTuple):
    """A log-linear fit of the last ``minutes``: the rate at the window's start and end
    (orders/minute), the growth per minute, the window's mean rate and the
    log-likelihood ratio against a constant rate."""

    minutes: int
    start_rate: float
    end_rate: float
    growth: float
    mean_rate: float
    llr: float
    #: orders in the window; the variance of its minutes weighted by the fitted rate (the
    #: Fisher information of the growth is ``orders * spread``); the minutes from their
    #: rate-weighted mean to the last minute (``stockout_probability``)
    orders: float = 0.0
    spread: float = 0.0
    offset: float = 0.0


def fit_ramp(counts: Sequence[float]) -> Ramp | None:
    """The log-linear rate fitted to ``counts`` (orders in each consecutive minute, the
    last one now), or None when it does not rise (no orders, or growth <= 0)."""
    k = len(counts)
    n = float(sum(counts))
    if k < 2 or n <= 0:
        return None
    centre = (k - 1) / 2.0
    times = [j - centre for j in range(k)]
    score0 = sum(t * y for t, y in zip(times, counts, strict=True))
    if score0 <= 0:
        return None
    growth = 0.0
    for _ in range(30):
        weights = _weights(growth, times)
        total = sum(weights)
        mean_t = sum(w * t for w, t in zip(weights, times, strict=True)) / total
        var_t = sum(w * (t - mean_t) ** 2 for w, t in zip(weights, times, strict=True)) / total
        gradient = score0 - n * mean_t
        if var_t <= 0:
            break
        step = gradient / (n * var_t)
        growth += step
        if abs(step) < 1e-9:
            break
    if not math.isfinite(growth) or growth <= 0:
        return None
    weights = _weights(growth, times)  # exp(growth * (t - times[-1])): no overflow
    total = sum(weights)
    mean_t = sum(w * t for w, t in zip(weights, times, strict=True)) / total
    spread = sum(w * (t - mean_t) ** 2 for w, t in zip(weights, times, strict=True)) / total
    log_mean_weight = growth * times[-1] + math.log(total / k)  # ln mean_j exp(growth * t_j)
    llr = growth * score0 - n * log_mean_weight
    end_rate = n / k / (total / k)  # the fitted rate now: n / sum_j exp(growth * (t_j - t_last))
    return Ramp(
        k,
        end_rate * math.exp(growth * (times[0] - times[-1])),
        end_rate,
        growth,
        n / k,
        max(llr, 0.0),
        n,
        spread,
        times[-1] - mean_t,
    )


def _weights(growth: float, times: Sequence[float]) -> list[float]:
    """``exp(growth * t)`` for each time, scaled by ``exp(-growth * max t)`` (growth >= 0
    in use; the scale cancels in every ratio) so that a steep fit does not overflow."""
    top = max(growth * t for t in times)
    return [math.exp(growth * t - top) for t in times]


def stockout_probability(ramp: Ramp, stock_orders: float, minutes: float) -> float:
    """The probability that the orders of the next ``minutes`` reach ``stock_orders`` if
    the fitted log-linear rate holds its growth for as long as it was seen (the window's
    ``ramp.minutes``), then stays level: the projection ``E(eta, b) = exp(eta) * G(b)``
    with ``eta`` the log-rate now and ``G(b) = (exp(b g) - 1) / b + (minutes - g) exp(b g)``
    (``g = min(ramp.minutes, minutes)``), its log normal by the delta method with the fit's
    Fisher information (``Var(b) = 1 / (n * spread)``; ``Var(eta) = 1 / n + d**2 Var(b)``,
    ``d`` the minutes from the rate-weighted mean time to now, ``Cov(eta, b) = d Var(b)``).
    The parameters' uncertainty, not their point estimate, decides: noise fitted as
    growth has a wide ``b``."""
    n, spread = ramp.orders, ramp.spread
    if n <= 0 or spread <= 0 or stock_orders <= 0 or minutes <= 0:
        return 0.0
    b = ramp.growth
    g = min(float(ramp.minutes), minutes)
    # G and its derivative divided by exp(b g), which cancels in d ln G / db, so that a
    # steep fit does not overflow; ln G = b g + ln(scaled total)
    grown = -math.expm1(-b * g) / b if b > 1e-12 else g
    total = grown + (minutes - g)
    # d ln G / db (its growing part's derivative tends to g**2 / 2 as b tends to 0)
    d_grown = (g - grown) / b if b > 1e-12 else g * g / 2.0
    slope = (d_grown + (minutes - g) * g) / total
    offset = ramp.offset
    var_b = 1.0 / (n * spread)
    var_eta = 1.0 / n + offset * offset * var_b
    cov = offset * var_b
    variance = var_eta + slope * slope * var_b + 2.0 * slope * cov
    log_projection = math.log(ramp.end_rate) + (b * g if b > 1e-12 else 0.0) + math.log(total)
    z = (log_projection - math.log(stock_orders)) / math.sqrt(variance)
    return NormalDist().cdf(z)


def projected_orders(ramp: Ramp, minutes: float, cap: float) -> float:
    """Orders expected in the next ``minutes`` if the fitted rate keeps growing from its
    current value until it reaches ``cap`` times the window's mean rate, then holds."""
    rate = ramp.end_rate
    ceiling = max(cap * ramp.mean_rate, rate)
    if ramp.growth <= 0 or rate >= ceiling:
        return rate * minutes
    until = min(math.log(ceiling / rate) / ramp.growth, minutes)
    grown = rate / ramp.growth * (math.exp(ramp.growth * until) - 1.0)
    return grown + ceiling * (minutes - until)


def detect_ramp(
    per_minute: Sequence[float],
    windows: Sequence[float],
    threshold: float,
    consequence_threshold: float,
    growth_cap: float,
    depletion_rate: float = math.inf,
    horizon_minutes: float = 120.0,
    probability: float = 0.0,
) -> Ramp | None:
    """The strongest steady rise over the trailing ``windows`` (minutes) of ``per_minute``
    (orders in each whole minute, the last one now) that matters, or None. It matters
    when its projection (``projected_orders``) empties the stock inside
    ``horizon_minutes``, that is reaches ``depletion_rate`` (orders/minute) on average; it
    is significant with a ratio >= ``threshold``, or >= ``consequence_threshold`` when the
    rate at the window's start would not have emptied the stock (the rise changes the
    outcome)."""
    best: Ramp | None = None
    for window in windows:
        k = int(window)
        if k < 2 or k > len(per_minute):
            continue
        ramp = fit_ramp(per_minute[-k:])
        if ramp is None or ramp.llr < min(threshold, consequence_threshold):
            continue
        needed = consequence_threshold if ramp.start_rate < depletion_rate else threshold
        stock = depletion_rate * horizon_minutes
        if probability > 0:
            consequential = stockout_probability(ramp, stock, horizon_minutes) >= probability
        else:
            consequential = projected_orders(ramp, horizon_minutes, growth_cap) >= stock
        if ramp.llr >= needed and consequential and (best is None or ramp.llr > best.llr):
            best = ramp
    return best
