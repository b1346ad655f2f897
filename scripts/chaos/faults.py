"""The faults of ``flashstock chaos`` and how long the system takes to serve again.

Each fault is injected while the load runs; its recovery time runs from the fault to
the moment a probe order sent through the affected path (a channel's inbox stream, for
a SKU of the affected owner) has its durable decision published.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import ray
import redis
from ray.cluster_utils import Cluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from actors.infra import keys
from actors.infra.codec import decision_fields
from actors.infra.keys import ChannelKeys
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_client import RedisClient, connect
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.ingest.core import enqueue
from actors.owner.client import StockClient
from scripts.chaos.failover import kill_a_primary
from scripts.loadgen.cluster import NODE_ARGS, worker_node
from scripts.loadgen.messages import format_of, order_message
from scripts.loadgen.streams import entries, hash_fields, last_entry_id, read_after

#: how long a path may take to serve again before the fault counts as not recovered
RECOVERY_DEADLINE_SECONDS = 120.0
KINDS = ("owner", "ingest", "forecaster", "node", "redis", "sync")
#: what a write to Redis raises while it is down or a primary's replica is being promoted
REDIS_DOWN = (redis.RedisError, RedisClusterException)


class FaultRecord(NamedTuple):
    kind: str
    target: str
    at_seconds: float
    recovery_seconds: float | None
    detail: str = ""


@dataclass
class Deployment:
    """What the chaos run started, and the handles to hurt it with."""

    config: StoreConfig
    #: the one redis-server, or the Redis Cluster (``--redis cluster``)
    server: RedisServer | LocalCluster
    cluster: Cluster | None
    client: StockClient
    ingest: dict[str, Any]
    forecaster: Any
    probe_skus: list[str]
    #: ChannelSync running the grant protocol (its book is audited at the end)
    sync: Any = None
    redis: RedisClient = field(init=False)
    alerts_lost: list[str] = field(default_factory=list)
    _probes: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.redis = connect(self.config.redis_url, socket_timeout=5.0, retry_on_timeout=True)

    # ---- probes ---------------------------------------------------------------------

    def probe(self, channel: str, sku: str, deadline: float) -> bool:
        """Send one order for ``sku`` on ``channel``; True once its decision is published."""
        keys = ChannelKeys.of(self.config.namespace, channel)
        order_id = f"probe-{next(self._probes)}"
        body = order_message(format_of(channel), order_id, sku, 1, time.time())
        while time.monotonic() < deadline:
            try:
                cursor = last_entry_id(self.redis, keys.decisions) or b"0-0"
                enqueue(self.redis, keys, [body])
                break
            except REDIS_DOWN:
                time.sleep(0.2)  # Redis is still coming back: try again
        while time.monotonic() < deadline:
            try:
                replies = read_after(self.redis, keys.decisions, cursor, block_ms=500)
            except REDIS_DOWN:
                time.sleep(0.2)
                continue
            for entry_id, entry in replies:
                cursor = entry_id
                if any(fields[1] == order_id for fields in decision_fields(entry)):
                    return True
        return False

    def probe_all(self, started: float) -> float | None:
        """Probe every channel and every owner; seconds since ``started`` until all
        answered, or None if one did not within the deadline."""
        deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
        channels = sorted(self.ingest)
        for n, sku in enumerate(self.probe_skus):
            if not self.probe(channels[n % len(channels)], sku, deadline):
                return None
        for channel in channels:
            if not self.probe(channel, self.probe_skus[0], deadline):
                return None
        return time.monotonic() - started

    # ---- faults ---------------------------------------------------------------------

    def inject(self, kind: str, rng: random.Random, at: float) -> FaultRecord:
        return getattr(self, f"_{kind}")(rng, at)  # type: ignore[no-any-return]

    def _owner(self, rng: random.Random, at: float) -> FaultRecord:
        index = rng.randrange(self.config.shard_count)
        owner = self.client.owners[index]
        before = ray.get(owner.health.remote())["epoch"]
        started = time.monotonic()
        ray.kill(owner, no_restart=False)
        deadline = started + RECOVERY_DEADLINE_SECONDS
        channel = rng.choice(sorted(self.ingest))
        ok = self._wait_for_epoch(owner, before, deadline) and self.probe(
            channel, self.probe_skus[index], deadline
        )
        return FaultRecord("owner", f"owner-{index}", at, _since(started) if ok else None)

    def _ingest(self, rng: random.Random, at: float) -> FaultRecord:
        channel = rng.choice(sorted(self.ingest))
        started = time.monotonic()
        ray.kill(self.ingest[channel], no_restart=False)
        ok = self.probe(channel, rng.choice(self.probe_skus), started + RECOVERY_DEADLINE_SECONDS)
        return FaultRecord("ingest", f"ingest-{channel}", at, _since(started) if ok else None)

    def _forecaster(self, rng: random.Random, at: float) -> FaultRecord:
        """The forecaster and the alert hub share a process: one kill hurts both."""
        stream = keys.alert_stream(self.config.namespace)
        open_before = set(hash_fields(self.redis, keys.open_alerts(self.config.namespace)))
        length_before = self.redis.xlen(stream)
        started, killed_wall = time.monotonic(), time.time()
        ray.kill(self.forecaster, no_restart=False)
        deadline = started + RECOVERY_DEADLINE_SECONDS
        recovered = None
        while recovered is None and time.monotonic() < deadline:
            stats = _answers(lambda: self.forecaster.stats.remote(), deadline)
            if stats is not None and stats["started_wall"] >= killed_wall:  # the new incarnation
                recovered = _answers(lambda: self.forecaster.alerts.remote(), deadline)
            else:
                time.sleep(0.05)  # the old incarnation answered before the kill landed
        if recovered is None:
            return FaultRecord("forecaster", "forecaster+alert hub", at, None)
        seconds = _since(started)
        still_open = {a["id"] for a in recovered}
        resolved = {
            json.loads(f[b"alert"])["alert"]["id"]
            for _, f in entries(self.redis, stream)
            if b'"resolved"' in f[b"alert"]
        }
        lost = sorted(open_before - still_open - resolved)
        if self.redis.xlen(stream) < length_before:
            lost.append(f"alert stream shrank from {length_before} to {self.redis.xlen(stream)}")
        self.alerts_lost += lost
        return FaultRecord(
            "forecaster",
            "forecaster+alert hub",
            at,
            seconds,
            f"{len(open_before)} open alerts kept" if not lost else f"lost {lost}",
        )

    def _sync(self, rng: random.Random, at: float) -> FaultRecord:
        """ChannelSync dies while it grants: the new incarnation loads the saved book."""
        del rng
        if self.sync is None:
            return FaultRecord("sync", "-", at, None, "no ChannelSync started")
        started, killed_wall = time.monotonic(), time.time()
        ray.kill(self.sync, no_restart=False)
        deadline = started + RECOVERY_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            stats = _answers(lambda: self.sync.stats.remote(), deadline)
            if stats is not None and stats["started_wall"] >= killed_wall:  # the new incarnation
                headroom = _answers(lambda: self.sync.grant_headroom.remote(), deadline) or {}
                below = sorted(sku for sku, units in headroom.items() if units < 0)
                detail = f"headroom below 0 on {below}" if below else "book reloaded, headroom >= 0"
                return FaultRecord("sync", "channel sync (grants)", at, _since(started), detail)
            time.sleep(0.05)  # the old incarnation answered before the kill landed
        return FaultRecord("sync", "channel sync (grants)", at, None)

    def _node(self, rng: random.Random, at: float) -> FaultRecord:
        if self.cluster is None:
            return FaultRecord("node", "-", at, None, "no simulated cluster (--nodes 1)")
        placed = ray.get([owner.health.remote() for owner in self.client.owners])
        candidates = sorted({h["node"] for h in placed if worker_node(self.cluster, h["node"]) is not None})
        if not candidates:
            return FaultRecord("node", "-", at, None, "no owner on a worker node")
        node_id = rng.choice(candidates)
        moved = [h["index"] for h in placed if h["node"] == node_id]
        started = time.monotonic()
        self.cluster.remove_node(worker_node(self.cluster, node_id), allow_graceful=False)  # type: ignore[arg-type]
        self.cluster.add_node(**NODE_ARGS)  # a replacement machine joins
        seconds = self.probe_all(started)
        after = ray.get([self.client.owners[i].health.remote() for i in moved])
        detail = f"owners {moved} moved from {node_id[:8]} to {sorted({h['node'][:8] for h in after})}"
        return FaultRecord("node", f"node {node_id[:8]}", at, seconds, detail)

    def _redis(self, rng: random.Random, at: float) -> FaultRecord:
        """The single server killed and restarted on its append-only file, or on a
        cluster a primary serving owner partitions killed and its replica promoted;
        recovered once every owner and channel answers a probe order again."""
        stream = keys.alert_stream(self.config.namespace)
        length_before = self.redis.xlen(stream)
        started = time.monotonic()
        if isinstance(self.server, LocalCluster):
            assert isinstance(self.redis, RedisCluster)  # connected to the cluster's URL
            failover = kill_a_primary(self.server, self.redis, self.config, rng, RECOVERY_DEADLINE_SECONDS)
            if failover is None:
                return FaultRecord(
                    "redis", "-", at, None, "no primary with a live replica serves a partition"
                )
            target = f"primary :{failover.victim_port} (kill -9)"
            if failover.heir_port is None:
                return FaultRecord("redis", target, at, None, "no replica was promoted")
            detail = (
                f"replica :{failover.heir_port} promoted in {failover.promotion_seconds:.2f}s, "
                f"{len(failover.partitions)} partitions"
            )
        else:
            self.server.kill()  # SIGKILL: no chance to flush anything
            self.server.restart()  # on its append-only file
            target, detail = "redis-server (kill -9, AOF restart)", ""
        seconds = self.probe_all(started)
        if self.redis.xlen(stream) < length_before:
            self.alerts_lost.append(
                f"alert stream shrank across the Redis fault "
                f"from {length_before} to {self.redis.xlen(stream)}"
            )
        return FaultRecord("redis", target, at, seconds, detail)

    def _wait_for_epoch(self, owner: Any, before: int, deadline: float) -> bool:
        while time.monotonic() < deadline:
            health = _answers(lambda: owner.health.remote(), deadline)
            if health is not None and health["epoch"] > before:
                return True
        return False


def schedule(kinds: Sequence[str], seconds: float, rng: random.Random) -> list[tuple[float, str]]:
    """When each fault strikes: in a seeded order, spread over the middle of the run."""
    order = list(kinds)
    rng.shuffle(order)
    slot = 0.7 * seconds / max(len(order), 1)
    return [(0.15 * seconds + slot * (n + rng.random() * 0.5), kind) for n, kind in enumerate(order)]


def _answers(call: Any, deadline: float) -> Any:
    """The result of the Ray call ``call()`` once the actor answers, or None."""
    while time.monotonic() < deadline:
        try:
            return ray.get(call(), timeout=5)
        except (ray.exceptions.RayError, TimeoutError):
            time.sleep(0.1)  # the actor is restarting: ask again
    return None


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
