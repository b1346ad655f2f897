"""Has a SKU's order rate changed? A sequential test on the Poisson rate.

Two fixed windows ("the last 5 minutes sold 2x the 5 before") miss doublings at busy
rates, never see a ramp and are blind in the first minutes of a show. Instead, at every
evaluation each candidate change point ``c`` in the last ``surge_scan_minutes`` (every
``surge_step_seconds``) is tested: ``n1`` orders in the ``t1`` minutes after ``c`` against
``n0`` orders in the ``t0`` minutes of baseline before it (up to ``baseline_minutes``, at
least ``min_baseline_minutes`` of history; a weak Gamma prior of ``prior_orders`` over
``prior_minutes`` keeps an empty baseline finite). Given ``n = n0 + n1`` orders, an
unchanged rate makes ``n1`` Binomial(n, t1 / (t0 + t1)); the generalised likelihood ratio
of "the rate changed at c" against that is

    llr = n1 * ln(q / p) + n0 * ln((1 - q) / (1 - p)),   q = n1 / n,  p = t1 / (t0 + t1)

(the conditional test also accounts for the baseline's own noise). A surge is the change
point with the largest ratio that is at least ``surge_threshold``, with a rate ratio of at
least ``surge_min_ratio`` and ``surge_min_orders`` after it. Scanning change points makes
it a GLR/CUSUM-style test: a step is found within minutes of its size, a ramp as soon as
its accumulated rise is significant, and a second surge as a new change point.

The threshold weighs the consequence. A rise only matters when the new rate empties the
stock inside the horizon, that is exceeds the depletion rate ``stock / horizon``. A change
point whose ratio is only ``surge_consequence_threshold`` is accepted too when the rise
changes the outcome: the rate before it would not empty the stock inside the horizon, and
the posterior of the rate after it (Gamma(n1, t1), no prior) puts at least
``surge_consequence_probability`` on rates that do. On ample stock this path is closed
(noise never measures that fast with that confidence); on stock that a modest rise would
empty it halves the evidence a surge needs before it is told.

Units: times in epoch seconds, rates in orders per minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple

from policies.gamma_rate import gamma_quantile

if TYPE_CHECKING:
    from policies.velocity import ForecastSettings


class Surge(NamedTuple):
    """A detected rise of the order rate: since event time ``since``, from ``before`` to
    ``after`` orders per minute, with log-likelihood ratio ``llr``. ``kind``: ``step`` (a
    change point, this module) or ``ramp`` (a steady rise, ``policies.alert_trend``:
    ``before`` / ``after`` are the fitted rates at the window's start and now)."""

    since: float
    before: float
    after: float
    llr: float
    kind: str = "step"

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before > 0 else math.inf


def rate_change_llr(n0: float, t0: float, n1: float, t1: float) -> float:
    """The log-likelihood ratio of "the rate after differs from the rate before" for
    ``n0`` orders in ``t0`` minutes then ``n1`` in ``t1`` (conditional binomial test;
    0 when the rate after is not higher)."""
    n = n0 + n1
    if n <= 0 or t0 <= 0 or t1 <= 0:
        return 0.0
    p = t1 / (t0 + t1)
    q = n1 / n
    if q <= p:
        return 0.0
    llr = n1 * math.log(q / p)
    if n0 > 0:
        llr += n0 * math.log((1 - q) / (1 - p))
    return llr


def detect_surge(
    orders: Sequence[int],
    start: float,
    bucket_seconds: int,
    settings: ForecastSettings,
    depletion_rate: float = math.inf,
) -> Surge | None:
    """The strongest significant rise in ``orders`` (orders per bucket, the first bucket
    starting at event time ``start``; the last bucket is now), or None.
    ``depletion_rate``: the order rate (orders/minute) at which the stock runs out inside
    the horizon; a rise credibly beyond it needs only ``surge_consequence_threshold``."""
    total = len(orders)
    prefix = list(accumulate(orders, initial=0))
    step = max(round(settings.surge_step_seconds / bucket_seconds), 1)
    scan = round(settings.surge_scan_minutes * 60 / bucket_seconds)
    base = round(settings.baseline_minutes * 60 / bucket_seconds)
    min_base = round(settings.min_baseline_minutes * 60 / bucket_seconds)
    per_minute = 60.0 / bucket_seconds
    best: Surge | None = None
    # candidate change points: after bucket index c - 1, at least one step before now
    c = total - step
    while c >= max(total - scan, min_base):
        n1 = prefix[total] - prefix[c]
        t1 = (total - c) / per_minute
        lo = max(c - base, 0)
        n0 = prefix[c] - prefix[lo] + settings.prior_orders
        t0 = (c - lo) / per_minute + settings.prior_minutes
        if n1 >= settings.surge_min_orders and (n1 / t1) >= settings.surge_min_ratio * (n0 / t0):
            llr = rate_change_llr(n0, t0, n1, t1)
            if _significant(llr, n0 / t0, n1, t1, depletion_rate, settings) and (
                best is None or llr > best.llr
            ):
                best = Surge(start + c * bucket_seconds, n0 / t0, n1 / t1, round(llr, 2))
        c -= step
    return best


def _significant(
    llr: float, before: float, n1: float, t1: float, depletion_rate: float, settings: ForecastSettings
) -> bool:
    """Evidence enough for a rise: the full threshold, or the lower one when the rise
    changes the outcome: the rate ``before`` would not empty the stock inside the
    horizon, the rate after the change credibly does."""
    if llr >= settings.surge_threshold:
        return True
    return (
        llr >= settings.surge_consequence_threshold
        and before < depletion_rate
        and gamma_quantile(n1, t1, 1.0 - settings.surge_consequence_probability) >= depletion_rate
    )
