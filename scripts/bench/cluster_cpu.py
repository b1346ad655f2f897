"""CPU per order for ``flashstock bench cluster``: the whole machine, the owners, the
driver, and every Redis node (primaries and replicas apart), with each primary's share
of the orders and the ceiling that implies for one primary.

Read around one run of the owners (``cpu_reading`` before and after): the machine's busy
time from ``/proc/stat`` and each node's ``INFO cpu`` (``scripts.loadgen.cpu``), each
owner's process CPU from its ``health()``, the driver's own ``process_time``. A primary
"commits" an order when the order's SKU is in a partition whose hash tag
(``keys.PartitionKeys``) falls in a slot that primary serves; its Redis CPU per order is
its CPU over those orders, and one core of such a primary would take at most
``1 / (that CPU per order)`` orders/s.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import ray
import redis
from redis.cluster import RedisCluster

from actors.infra.keys import PartitionKeys
from actors.infra.redis_client import connect
from actors.infra.replication import primary_of, slot_of
from actors.infra.settings import StoreConfig
from policies.routing import partition_of
from scripts.loadgen.cpu import machine_busy_seconds, redis_cpu_seconds


class RedisNode(NamedTuple):
    """One Redis server: its ``host:port``, that of the primary it serves (itself for a
    primary), and a client to it."""

    address: str
    primary: str
    client: redis.Redis

    @property
    def is_primary(self) -> bool:
        return self.address == self.primary


class RedisNodes:
    """Every node of the Redis at ``url``: the one server, or each primary and replica of
    a Redis Cluster (as its slot map lists them)."""

    def __init__(self, url: str) -> None:
        self.client = connect(url)
        if isinstance(self.client, RedisCluster):
            primary_of_node: dict[str, str] = {}
            for serving in self.client.nodes_manager.slots_cache.values():
                for node in serving:  # the slot's primary, then its replicas
                    primary_of_node[node.name] = serving[0].name
            self.nodes = [
                RedisNode(node.name, primary_of_node[node.name], self.client.get_redis_connection(node))
                for node in self.client.get_nodes()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                if node.name in primary_of_node
            ]
        else:
            kwargs = self.client.connection_pool.connection_kwargs
            address = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
            self.nodes = [RedisNode(address, address, self.client)]

    @property
    def primaries(self) -> list[str]:
        return sorted(node.address for node in self.nodes if node.is_primary)

    def primary_serving(self, key: str) -> str:
        """The address of the primary that serves ``key`` now."""
        if isinstance(self.client, RedisCluster):
            return str(primary_of(self.client, slot_of(self.client, key)).node.name)
        return self.nodes[0].address

    def partitions_by_primary(self, config: StoreConfig) -> dict[int, str]:
        """Partition -> the primary that serves its keys (one hash tag: one slot)."""
        return {
            partition: self.primary_serving(PartitionKeys.of(config.namespace, partition).state)
            for partition in range(config.partitions)
        }

    def close(self) -> None:
        self.client.close()


class CpuReading(NamedTuple):
    """CPU seconds used so far: the machine's (None without ``/proc/stat``), the owners'
    processes' summed, this driver's, and each Redis node's by address."""

    machine: float | None
    owners: float
    driver: float
    redis: dict[str, float]


def cpu_reading(nodes: RedisNodes, owners: Sequence[Any]) -> CpuReading:
    """Read every counter now (the owners through their ``health()``)."""
    owners_cpu = sum(health["cpu_seconds"] for health in ray.get([owner.health.remote() for owner in owners]))
    return CpuReading(
        machine_busy_seconds(),
        owners_cpu,
        time.process_time(),
        {node.address: redis_cpu_seconds(node.client) for node in nodes.nodes},
    )


def cpu_per_order(
    nodes: RedisNodes,
    before: CpuReading,
    after: CpuReading,
    orders_by_partition: Mapping[int, int],
    config: StoreConfig,
) -> dict[str, Any]:
    """Microseconds of CPU per order between two readings, in all and per primary."""
    orders = sum(orders_by_partition.values())
    redis_used = {address: after.redis[address] - before.redis[address] for address in after.redis}
    serving = nodes.partitions_by_primary(config)
    partitions = Counter(serving.values())
    primary_orders: Counter[str] = Counter()
    for partition, count in orders_by_partition.items():
        primary_orders[serving[partition]] += count
    replicas_used: dict[str, float] = {}  # primary -> its replicas' CPU (primaries with one)
    for node in nodes.nodes:
        if not node.is_primary:
            replicas_used[node.primary] = replicas_used.get(node.primary, 0.0) + redis_used[node.address]
    machine = None if after.machine is None or before.machine is None else after.machine - before.machine
    return {
        "cpu_us_per_order": {
            "machine": _per_order(machine, orders),
            "owners": _per_order(after.owners - before.owners, orders),
            "driver": _per_order(after.driver - before.driver, orders),
            "redis_primaries": _per_order(sum(redis_used[p] for p in nodes.primaries), orders),
            "redis_replicas": _per_order(sum(replicas_used.values()), orders) if replicas_used else None,
        },
        "primaries": [
            _primary_row(address, partitions[address], primary_orders[address], redis_used, replicas_used)
            for address in nodes.primaries
        ],
    }


def orders_by_partition(skus: Sequence[str], config: StoreConfig) -> Counter[int]:
    """Orders (one per SKU drawn) per partition of ``config``."""
    return Counter(partition_of(sku, config.partitions) for sku in skus)


def _primary_row(
    address: str,
    partitions: int,
    orders: int,
    redis_used: Mapping[str, float],
    replicas_used: Mapping[str, float],
) -> dict[str, Any]:
    own = redis_used[address] / orders * 1e6 if orders else None
    return {
        "node": address,
        "partitions": partitions,
        "orders": orders,
        "redis_cpu_us_per_order": None if own is None else round(own, 2),
        "replicas_cpu_us_per_order": _per_order(replicas_used.get(address), orders),  # None: no replica
        # orders/s one core of this primary takes before its Redis CPU is spent
        "ceiling_orders_per_s": None if not own else round(1e6 / own),
    }


def _per_order(seconds: float | None, orders: int) -> float | None:
    return None if seconds is None or not orders else round(seconds / orders * 1e6, 2)
