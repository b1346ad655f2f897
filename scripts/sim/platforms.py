"""The sales platforms of a simulated show, as flashstock sees them from outside.

Each platform (Douyin, Taobao, Kuaishou...) keeps its own stock counter per SKU and takes
a buyer's order only if that counter covers it; only then does flashstock hear of the
order. The counters are set from the visible quantities flashstock publishes
(``policies.allocation``), which reach the platform ``lag`` seconds of show time late;
between updates a platform counts down its own sales only. An order a platform took that
the pool cannot cover is an oversell: what the allocation policy must prevent.

Policies under test here, both ``policies.allocation.visible_units`` published as
absolute counts: ``quota`` (its ``SHARE`` policy: the pool split by channel share, moved
toward the channels that sell, the last units handed out one per channel) and ``shared``
(its ``EVERYWHERE`` policy: every platform shows the whole pool). Absolute counts are not
safe with lag (a platform that applies an update late can sell units moved elsewhere);
they are kept for comparison with the default, ``grants`` (``scripts.sim.grant_platforms``:
the grant protocol of ``policies.grants``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping

from policies.allocation import EVERYWHERE, SHARE, RecentDemand, visible_units

#: the simulator's names of the visible-count policies, and the production policy each runs
POLICY_OF_ALLOCATION = {"quota": SHARE, "shared": EVERYWHERE}
#: the grant protocol (``scripts.sim.grant_platforms``): the default, safe whatever the lag
GRANTS = "grants"
ALLOCATIONS = (GRANTS, *POLICY_OF_ALLOCATION)


def visible_stock(
    allocation: str,
    available: int,
    shares: Mapping[str, float],
    demand: Mapping[str, RecentDemand] | None = None,
    at: float = 0.0,
) -> dict[str, int]:
    """Units each channel may show of a SKU with ``available`` units in the pool, with
    each channel's recent ``demand`` weighed as of show time ``at``."""
    policy = POLICY_OF_ALLOCATION.get(allocation)
    if policy is None:
        raise ValueError(f"allocation must be one of {tuple(POLICY_OF_ALLOCATION)}, got {allocation!r}")
    return visible_units(policy, available, shares, demand, at)


class PlatformShelves:
    """Every platform's counters, in show time (seconds). No I/O: the simulator tells it
    what flashstock published and asks it whether a platform takes an order."""

    def __init__(self, allocation: str, shares: Mapping[str, float], lag_seconds: float = 0.0) -> None:
        if lag_seconds < 0 or not math.isfinite(lag_seconds):
            raise ValueError(f"lag_seconds must be a finite number >= 0, got {lag_seconds}")
        if allocation not in POLICY_OF_ALLOCATION:
            raise ValueError(f"allocation must be one of {tuple(POLICY_OF_ALLOCATION)}, got {allocation!r}")
        self.allocation = allocation
        self.shares = dict(shares)
        self.lag_seconds = lag_seconds
        self.counters: dict[tuple[str, str], int] = {}
        self._arriving: deque[tuple[float, dict[tuple[str, str], int]]] = deque()
        self._demand: dict[tuple[str, str], RecentDemand] = {}  # (sku, channel) -> recent sales

    def publish(self, at: float, available: Mapping[str, int]) -> None:
        """flashstock publishes, at show time ``at``, the visible stock of each SKU for
        the pool's ``available`` units; each platform applies it ``lag_seconds`` later."""
        visible: dict[tuple[str, str], int] = {}
        for sku, units in available.items():
            demand = {c: self._demand[(sku, c)] for c in self.shares if (sku, c) in self._demand}
            for channel, shown in visible_stock(self.allocation, units, self.shares, demand, at).items():
                visible[(channel, sku)] = shown
        self._arriving.append((at + self.lag_seconds, visible))

    def take(self, at: float, channel: str, sku: str, quantity: int) -> bool:
        """Whether ``channel`` takes a buyer's order of ``quantity`` units at show time
        ``at``; a taken order counts down the platform's own counter."""
        self._receive(at)
        shown = self.counters.get((channel, sku), 0)
        if shown < quantity:
            return False
        self.counters[(channel, sku)] = shown - quantity
        self._demand[(sku, channel)] = self._demand.get((sku, channel), RecentDemand()).add(quantity, at)
        return True

    def record(self, at: float, channel: str, sku: str, quantity: int) -> None:
        """flashstock accepted an order (these policies learn it from the next publish)."""
        del at, channel, sku, quantity

    def units_elsewhere(self, at: float, channel: str, sku: str) -> bool:
        """True when another platform's counter still shows units of ``sku``."""
        self._receive(at)
        return any(units > 0 for (c, s), units in self.counters.items() if s == sku and c != channel)

    def demand(self, sku: str, channel: str, at: float) -> float:
        """Units of ``sku`` the channel took recently (``RecentDemand``: decayed with age)."""
        return self._demand.get((sku, channel), RecentDemand()).at(at)

    def shown(self, at: float, channels: Iterable[str], sku: str) -> dict[str, int]:
        """What each of ``channels`` shows of ``sku`` at show time ``at``."""
        self._receive(at)
        return {channel: self.counters.get((channel, sku), 0) for channel in channels}

    def _receive(self, at: float) -> None:
        while self._arriving and self._arriving[0][0] <= at:
            self.counters.update(self._arriving.popleft()[1])
