"""The "redis" fault of ``flashstock chaos --redis cluster``: a primary of the local Redis
Cluster that serves SKU owners' partitions is killed (SIGKILL) and its replica promoted.

The victim is drawn (seeded) among the live primaries that serve at least one partition
of the ledgers and still have a live replica to take over (after one failover the
promoted replica has none: a later round picks another primary, or reports that none is
left). The dead node stays dead for the rest of the run: the cluster serves on with one
primary fewer replicated, as a production cluster does until an operator replaces it.
"""

from __future__ import annotations

import random
import time
from typing import NamedTuple

from redis.cluster import RedisCluster

from actors.infra.keys import PartitionKeys
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_server import RedisServer, RedisServerError
from actors.infra.replication import primary_of, reload_slot_map, slot_of
from actors.infra.settings import StoreConfig


class Failover(NamedTuple):
    """A primary killed and the replica that took over its slots."""

    victim_port: int
    #: the partitions of the ledgers the victim served
    partitions: list[int]
    #: the replica promoted in its place; None when none was within the deadline
    heir_port: int | None
    #: seconds from the kill until the heir was a primary and every slot served again
    promotion_seconds: float | None


def owner_primaries(cluster: LocalCluster, client: RedisCluster, config: StoreConfig) -> dict[int, list[int]]:
    """Port of each live primary that serves ledger partitions and has a live replica ->
    the partitions it serves (from ``client``'s slot map, reloaded first)."""
    reload_slot_map(client)
    topology = cluster.topology()
    replicated = {
        primary.port
        for primary in topology
        if primary.role == "master"
        and not primary.failed
        and any(n.primary_id == primary.node_id and not n.failed for n in topology)
    }
    served: dict[int, list[int]] = {}
    for partition in range(config.partitions):
        node = primary_of(client, slot_of(client, PartitionKeys.of(config.namespace, partition).fence)).node
        if node.port in replicated:
            served.setdefault(int(node.port), []).append(partition)
    return served


def kill_a_primary(
    cluster: LocalCluster, client: RedisCluster, config: StoreConfig, rng: random.Random, timeout: float
) -> Failover | None:
    """Kill -9 a primary serving owner partitions (``rng`` picks it) and wait up to
    ``timeout`` seconds for its replica's promotion; None when no primary qualifies."""
    candidates = owner_primaries(cluster, client, config)
    if not candidates:
        return None
    port = rng.choice(sorted(candidates))
    victim: RedisServer = next(node for node in cluster.nodes if node.port == port)
    started = time.monotonic()
    victim.kill()  # SIGKILL: no chance to flush or hand over anything
    try:
        heir: int | None = cluster.wait_for_failover(port, timeout=timeout)
    except RedisServerError:
        heir = None
    promoted = round(time.monotonic() - started, 2) if heir is not None else None
    return Failover(port, candidates[port], heir, promoted)
