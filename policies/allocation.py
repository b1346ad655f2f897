"""How much stock each platform may show, so platform-side lag cannot oversell.

Each platform keeps its own stock counter and accepts orders against it before
flashstock hears of them. If every platform showed the whole ``available``, three
platforms could together sell three times the stock in the seconds before their
counters are refreshed. ``allocate_by_share`` never shows more than ``available`` in
total; ``show_everywhere`` is the naive policy, kept so simulations can show the
difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


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
