"""ChannelSync: tell each platform how much it may show, whenever availability changes.

It tails the ledger stream (``ns:ledger``: one entry per committed batch, with the new
counters of every touched SKU and the changed order lines), keeps each SKU's
``available`` and each channel's recent demand, and at most ``max_pushes_per_second``
times a second publishes the visible quantity per (SKU, channel) that changed, as the
allocation policy computes it. Publishing is pluggable; ``RedisPublisher`` writes a hash
per channel (``ns:visible:{channel}``: sku -> units) and appends every change to
``ns:visible-changes`` for platform connectors to follow.

Crash and retry: the state is rebuilt from the SKU state hashes at start, so a restart
republishes the current allocation; publishing the same numbers twice is harmless.
Limitation: all channels are published in the same tick; a platform that applies its
update late can still hold units that were moved to another channel meanwhile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import redis
import structlog

from actors.infra import keys
from actors.infra.settings import StoreConfig
from actors.owner.store import LedgerStore
from policies.allocation import allocate_by_share, show_everywhere
from policies.ledger import LineStatus

log = structlog.get_logger(__name__)

#: half-life of a channel's demand estimate, in seconds
DEMAND_HALF_LIFE_SECONDS = 60.0


class Publisher(Protocol):
    def publish(self, changes: Sequence[tuple[str, str, int]]) -> None:
        """Make (channel, sku, visible units) known to the platforms."""


class RedisPublisher:
    """Visible quantities in ``ns:visible:{channel}`` hashes plus a change stream."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def key(self, channel: str) -> str:
        return keys.visible(self.namespace, channel)

    def publish(self, changes: Sequence[tuple[str, str, int]]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for channel, sku, units in changes:
            pipe.hset(self.key(channel), sku, units)
            pipe.xadd(
                keys.visible_changes(self.namespace),
                {"channel": channel, "sku": sku, "visible": units},
                maxlen=100_000,
                approximate=True,
            )
        pipe.execute()


class ChannelSync:
    """Keeps the platforms' visible stock within what the pool can cover."""

    def __init__(
        self,
        config: StoreConfig,
        shares: Mapping[str, float],
        *,
        policy: str = "share",
        shared_pool: int = 3,
        max_pushes_per_second: float = 10.0,
        publisher: Publisher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy not in ("share", "everywhere"):
            raise ValueError(f"policy must be 'share' or 'everywhere', got {policy!r}")
        self.shares = dict(shares)
        self.policy = policy
        self.shared_pool = shared_pool
        self.interval = 1.0 / max_pushes_per_second
        self.clock = clock
        self.store = LedgerStore(config)
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=30.0)
        self.publisher = publisher or RedisPublisher(self.redis, config.namespace)
        self.available: dict[str, int] = {}
        self.published: dict[tuple[str, str], int] = {}
        self.demand: dict[tuple[str, str], tuple[float, float]] = {}  # rate, as of
        self._dirty: set[str] = set()
        self._cursor = "$"
        self._next_push = 0.0
        self._snapshot()

    def _snapshot(self) -> None:
        """Every SKU's available units from the state hashes, and the stream position."""
        last = self.redis.xrevrange(self.store.ledger_stream, count=1)
        self._cursor = last[0][0].decode() if last else "0-0"
        skus = sorted(s.decode() for s in self.redis.smembers(self.store.skus_key))
        pipe = self.redis.pipeline(transaction=False)
        for sku in skus:
            pipe.hmget(self.store.state_key(sku), "on_hand", "reserved", "sold")
        for sku, (on_hand, reserved, sold) in zip(skus, pipe.execute(), strict=True):
            if on_hand is not None:
                self.available[sku] = int(on_hand) - int(reserved) - int(sold)
        self._dirty = set(self.available)

    def step(self, block_ms: int = 50) -> int:
        """Read new ledger entries, and publish if the push interval has passed; the
        number of (channel, sku) changes published."""
        # BLOCK 0 would wait forever in Redis: 0 here means "do not wait"
        replies = self.redis.xread(
            {self.store.ledger_stream: self._cursor}, count=500, block=block_ms or None
        )
        for _, entries in replies or []:
            for entry_id, fields in entries:
                self._cursor = entry_id.decode()
                self._apply_entry(fields)
        now = self.clock()
        if now < self._next_push or not self._dirty:
            return 0
        self._next_push = now + self.interval
        return self.publish_now()

    def _apply_entry(self, fields: Mapping[bytes, bytes]) -> None:
        for line in fields.get(b"ledgers", b"").decode().splitlines():
            sku, on_hand, reserved, sold, _ = line.split("\t")
            self.available[sku] = int(on_hand) - int(reserved) - int(sold)
            self._dirty.add(sku)
        now = self.clock()
        for line in fields.get(b"lines", b"").decode().splitlines():
            key, line_field, record = line.split("\t", 2)
            status, quantity = record.split("|", 2)[:2]
            if status not in (LineStatus.RESERVED, LineStatus.SOLD) or line_field.startswith("~"):
                continue
            sku = key.split("{", 1)[1].rsplit("}", 1)[0]
            channel = line_field.split("\x1f", 1)[0]
            self._add_demand(sku, channel, int(quantity), now)

    def _add_demand(self, sku: str, channel: str, units: int, now: float) -> None:
        rate, as_of = self.demand.get((sku, channel), (0.0, now))
        decay = math.exp(-(now - as_of) * math.log(2) / DEMAND_HALF_LIFE_SECONDS)
        self.demand[(sku, channel)] = (rate * decay + units, now)

    def visible_for(self, sku: str) -> dict[str, int]:
        """The policy's visible units per channel for ``sku`` now."""
        available = self.available.get(sku, 0)
        if self.policy == "everywhere":
            return show_everywhere(available, sorted(self.shares))
        demand = {c: self.demand.get((sku, c), (0.0, 0.0))[0] for c in self.shares}
        return allocate_by_share(available, self.shares, demand, shared_pool=self.shared_pool)

    def publish_now(self) -> int:
        changes = []
        for sku in sorted(self._dirty):
            for channel, units in self.visible_for(sku).items():
                if self.published.get((channel, sku)) != units:
                    changes.append((channel, sku, units))
        self._dirty.clear()
        if changes:
            self.publisher.publish(changes)
            for channel, sku, units in changes:
                self.published[(channel, sku)] = units
            log.debug("visible_published", changes=len(changes))
        return len(changes)
