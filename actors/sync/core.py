"""ChannelSync: tell each platform how much it may show, whenever availability changes.

It follows the ledger stream (one entry per committed batch, with the new counters of
every touched SKU and the changed order lines), keeps each SKU's ``available`` and each
channel's recent demand, and at most ``max_pushes_per_second`` times a second publishes
the visible quantity per (SKU, channel) that changed, as the allocation rule
(``policies.allocation.visible_units``, which the simulator's platforms run too)
computes it. Reading and publishing go through the store passed in
(``actors.sync.store``: Redis in production, in memory in unit tests).

Crash and retry: the state is rebuilt from the committed SKU state at start, so a
restart republishes the current allocation; publishing the same numbers twice is harmless.
Limitation: these are absolute counts, all channels published in the same tick; a
platform that applies its update late can still hold units that were moved to another
channel meanwhile. The platform-first platforms get the grant protocol instead
(``actors.sync.grants``), which is safe whatever their lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import structlog

from actors.infra.codec import LedgerEntry, split_field
from actors.sync.store import SyncStore
from policies.allocation import DEFAULT_SHARED_POOL, EVERYWHERE, POLICIES, RecentDemand, visible_units
from policies.ledger import LineStatus

log = structlog.get_logger(__name__)

#: the line statuses that count as a channel's demand (a reservation, a sale)
DEMAND_STATUSES = (LineStatus.RESERVED, LineStatus.SOLD)


class ChannelSync:
    """Keeps the platforms' visible stock within what the pool can cover."""

    def __init__(
        self,
        store: SyncStore,
        shares: Mapping[str, float],
        *,
        policy: str = "share",
        shared_pool: int = DEFAULT_SHARED_POOL,
        max_pushes_per_second: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be 'share' or 'everywhere', got {policy!r}")
        self.store = store
        self.shares = dict(shares)
        self.policy = policy
        self.shared_pool = shared_pool
        self.interval = 1.0 / max_pushes_per_second
        self.clock = clock
        self.available: dict[str, int] = {}
        self.published: dict[tuple[str, str], int] = {}
        self.demand: dict[tuple[str, str], RecentDemand] = {}  # (sku, channel) -> recent sales
        self._dirty: set[str] = set()
        self._next_push = 0.0
        self._cursor, self.available = self.store.snapshot()
        self._dirty = set(self.available)

    def step(self, block_ms: int = 50) -> int:
        """Read new ledger entries, and publish if the push interval has passed; the
        number of (channel, sku) changes published."""
        for entry in self.store.read_ledger(self._cursor, block_ms):
            self._cursor = entry.entry_id
            self._apply_entry(entry)
        now = self.clock()
        if now < self._next_push or not self._dirty:
            return 0
        self._next_push = now + self.interval
        return self.publish_now()

    def _apply_entry(self, entry: LedgerEntry) -> None:
        for counters in entry.counters:
            self.available[counters.sku] = counters.available
            self._dirty.add(counters.sku)
        now = self.clock()
        for sku, line_field, record in entry.lines:
            # "~" fields are restocks and adjustments, not a channel's sales
            if record.status not in DEMAND_STATUSES or line_field.startswith("~"):
                continue
            channel, _ = split_field(line_field)
            key = (sku, channel)
            self.demand[key] = self.demand.get(key, RecentDemand()).add(record.quantity, now)

    def visible_for(self, sku: str) -> dict[str, int]:
        """The policy's visible units per channel for ``sku`` now."""
        available = self.available.get(sku, 0)
        if self.policy == EVERYWHERE:
            return visible_units(EVERYWHERE, available, self.shares)
        demand = {c: self.demand[(sku, c)] for c in self.shares if (sku, c) in self.demand}
        return visible_units(
            self.policy, available, self.shares, demand, self.clock(), shared_pool=self.shared_pool
        )

    def publish_now(self) -> int:
        changes = []
        for sku in sorted(self._dirty):
            for channel, units in self.visible_for(sku).items():
                if self.published.get((channel, sku)) != units:
                    changes.append((channel, sku, units))
        self._dirty.clear()
        if changes:
            self.store.publish(changes)
            for channel, sku, units in changes:
                self.published[(channel, sku)] = units
            log.debug("visible_published", changes=len(changes))
        return len(changes)
