"""How much stock each platform may show, so platform-side lag cannot oversell.

Each platform keeps its own stock counter and accepts orders against it before
flashstock hears of them. If every platform showed the whole ``available``, three
platforms could together sell three times the stock in the seconds before their
counters are refreshed. ``allocate_by_share`` never shows more than ``available`` in
total; ``show_everywhere`` is the naive policy, kept so simulations can show the
difference. ``visible_units`` is the rule ChannelSync publishes and the simulator's
platforms sell against: one rule, so a simulation measures what production does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: split the pool by channel share, moved toward the channels that sell (``allocate_by_share``)
SHARE = "share"
#: every channel shows the whole pool (``show_everywhere``: the naive policy)
EVERYWHERE = "everywhere"
POLICIES = (SHARE, EVERYWHERE)
#: the last units of a SKU handed out one per channel in turn under ``SHARE``
DEFAULT_SHARED_POOL = 3
#: half-life of a channel's demand estimate, in seconds
DEMAND_HALF_LIFE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class RecentDemand:
    """Units of a SKU one channel sold recently: each unit counts less as it ages, halving
    every ``DEMAND_HALF_LIFE_SECONDS``; ``as_of`` is the time (seconds) ``units`` was
    counted at."""

    units: float = 0.0
    as_of: float = 0.0

    def at(self, now: float) -> float:
        """The decayed units at ``now`` (seconds, same clock as ``as_of``)."""
        if self.units == 0.0:
            return 0.0
        return self.units * math.exp(-(now - self.as_of) * math.log(2) / DEMAND_HALF_LIFE_SECONDS)

    def add(self, units: float, now: float) -> RecentDemand:
        """The demand after ``units`` more were sold at ``now``."""
        return RecentDemand(self.at(now) + units, now)


def visible_units(
    policy: str,
    available: int,
    shares: Mapping[str, float],
    demand: Mapping[str, RecentDemand] | None = None,
    now: float = 0.0,
    *,
    shared_pool: int = DEFAULT_SHARED_POOL,
) -> dict[str, int]:
    """Units each channel of ``shares`` may show of a SKU with ``available`` units, under
    ``policy`` (``SHARE`` or ``EVERYWHERE``); ``demand`` is each channel's recent sales,
    weighed as of ``now`` (seconds). ``ValueError`` names an unknown policy."""
    if policy == EVERYWHERE:
        return show_everywhere(available, sorted(shares))
    if policy != SHARE:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    known = demand or {}
    recent = {channel: known[channel].at(now) if channel in known else 0.0 for channel in shares}
    return allocate_by_share(available, shares, recent, shared_pool=shared_pool)


def show_everywhere(available: int, channels: Sequence[str]) -> dict[str, int]:
    """Every channel shows all available units (the naive policy: it can oversell)."""
    return {channel: max(available, 0) for channel in channels}


def allocate_by_share(
    available: int,
    shares: Mapping[str, float],
    demand: Mapping[str, float] | None = None,
    *,
    shared_pool: int = 0,
    demand_weight: float = 0.5,
) -> dict[str, int]:
    """Visible units per channel, summing to exactly ``max(available, 0)``.

    ``shares`` are the configured weights of the channels (any positive scale).
    ``demand`` is each channel's recent sales rate (units per minute, any scale); with
    ``demand_weight`` w, a channel's weight is ``(1 - w) * share + w * demand share``, so
    stock moves toward the channels that are selling. The last ``shared_pool`` units are
    not split by weight: they are handed out one unit per channel in turn, busiest
    channel first, so each active channel can still sell while they last and whichever
    sells first triggers the next reallocation (first come, first served).
    """
    units = max(available, 0)
    channels = sorted(shares)
    if not channels or units == 0:
        return dict.fromkeys(channels, 0)
    weights = _weights(channels, shares, demand or {}, demand_weight)
    pool = min(max(shared_pool, 0), units)
    visible = _largest_remainder(units - pool, weights)
    busiest = sorted(channels, key=lambda c: (-(demand or {}).get(c, 0.0), -weights[c], c))
    for turn in range(pool):
        visible[busiest[turn % len(busiest)]] += 1
    return visible


def _weights(
    channels: Sequence[str], shares: Mapping[str, float], demand: Mapping[str, float], demand_weight: float
) -> dict[str, float]:
    share_total = sum(max(shares[c], 0.0) for c in channels)
    demand_total = sum(max(demand.get(c, 0.0), 0.0) for c in channels)
    w = min(max(demand_weight, 0.0), 1.0) if demand_total > 0 else 0.0
    weights = {}
    for channel in channels:
        share = max(shares[channel], 0.0) / share_total if share_total > 0 else 1 / len(channels)
        sold = max(demand.get(channel, 0.0), 0.0) / demand_total if demand_total > 0 else 0.0
        weights[channel] = (1 - w) * share + w * sold
    return weights


def _largest_remainder(units: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``units`` by ``weights`` into whole numbers that add up to ``units``."""
    total = sum(weights.values())
    if total <= 0:
        weights = dict.fromkeys(weights, 1.0)
        total = float(len(weights))
    exact = {c: units * w / total for c, w in weights.items()}
    whole = {c: math.floor(x) for c, x in exact.items()}
    left = units - sum(whole.values())
    for channel in sorted(exact, key=lambda c: (whole[c] - exact[c], c))[:left]:
        whole[channel] += 1
    return whole
