"""flashstock's stores on a real Redis Cluster: writes are acknowledged once they are on a
replica too, the durability guard reads every primary, and a primary killed with SIGKILL
(its replica promoted) loses nothing that was acknowledged while the stores keep working,
the SKU owner's commits among them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import CrossSlotTransactionError
from structlog.testing import capture_logs

from actors.alerts.store import RedisAlertStore
from actors.infra import keys
from actors.infra.atomic_write import atomic_write
from actors.infra.codec import decode_ledger
from actors.infra.durability import Level
from actors.infra.keys import PartitionKeys
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_client import connect
from actors.infra.redis_server import RedisServer
from actors.infra.runtime import VolatileRedisError, guard_durability
from actors.infra.settings import StoreConfig
from actors.ingest.store import Publication, RedisIngestStore
from actors.owner.core import SkuOwner
from actors.owner.reads import read_line_records, read_skus
from actors.owner.store import RedisOwnerStore
from policies.alert_book import AlertBook
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level as AlertLevel
from policies.alert_rules import Verdict
from policies.ledger import Decision, LineStatus, SkuSettings
from policies.operations import DefineSku, Reserve
from policies.routing import partition_of
from tests.support import fresh_namespace

pytestmark = pytest.mark.cluster

T0 = 1_762_862_400.0


def cluster_client(cluster: LocalCluster) -> RedisCluster:
    client = connect(cluster.url, socket_timeout=10.0)
    assert isinstance(client, RedisCluster)
    return client


def replica_of(cluster: LocalCluster, primary: RedisServer) -> RedisServer:
    primary_id = next(n.node_id for n in cluster.topology() if n.port == primary.port)
    port = next(n.port for n in cluster.topology() if n.primary_id == primary_id)
    return next(node for node in cluster.nodes if node.port == port)


def read_on(node: RedisServer, *command: str) -> object:
    """``command`` answered by ``node`` itself (a replica answers reads after READONLY)."""
    client = redis.Redis(port=node.port, socket_timeout=5.0, decode_responses=True)
    try:
        client.execute_command("READONLY")  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        return client.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    finally:
        client.close()


def waits_on(node: RedisServer) -> int:
    """How many WAIT commands ``node`` has run."""
    client = redis.Redis(port=node.port, socket_timeout=5.0)
    try:
        return int(client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
    finally:
        client.close()


def test_an_acknowledged_write_is_already_on_the_replica(redis_cluster: LocalCluster) -> None:
    client = cluster_client(redis_cluster)
    tag = keys.alerts_tag(fresh_namespace())
    try:
        primary = redis_cluster.primary_of(tag)
        replica = replica_of(redis_cluster, primary)
        waits_before = waits_on(primary)
        for n in range(20):

            def write(pipe: Any, n: int = n) -> None:
                pipe.hset(f"{tag}:h", "n", n)

            atomic_write(client, tag, write, repeatable=True)
            # read at once on the replica, without waiting: WAIT 1 came back before
            assert read_on(replica, "HGET", f"{tag}:h", "n") == str(n)
        assert waits_on(primary) - waits_before == 20
    finally:
        client.close()


def test_an_acknowledged_owner_commit_is_already_on_the_replica(redis_cluster: LocalCluster) -> None:
    config = StoreConfig(redis_cluster.url, namespace=fresh_namespace(), shard_count=1)
    state = PartitionKeys.of(config.namespace, partition_of("A", config.partitions)).state
    primary = redis_cluster.primary_of(state)
    replica = replica_of(redis_cluster, primary)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 100)])
    waits_before = waits_on(primary)
    for n in range(20):
        owner.apply([Reserve("douyin", f"o{n}", "A", 1, time.time())])
        # read at once on the replica, without waiting: WAIT 1 came back before
        on_replica = read_on(replica, "HGET", state, "A")
        assert isinstance(on_replica, str)
        assert decode_ledger("A", on_replica).reserved == n + 1
    assert waits_on(primary) - waits_before == 20


def test_a_write_across_slots_is_refused_and_applies_nothing(redis_cluster: LocalCluster) -> None:
    client = cluster_client(redis_cluster)
    ns = fresh_namespace()
    one, other = keys.alerts_tag(ns), keys.sync_tag(ns)
    assert client.keyslot(one) != client.keyslot(other)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    try:

        def write(pipe: Any) -> None:
            pipe.set(one, 1)
            pipe.set(other, 2)

        with pytest.raises(CrossSlotTransactionError, match="is not in the hash slot of"):
            atomic_write(client, one, write, repeatable=True)
        assert client.exists(one, other) == 0
    finally:
        client.close()


def test_the_durability_guard_names_a_primary_that_keeps_no_aof(redis_cluster: LocalCluster) -> None:
    assert guard_durability(redis_cluster.url).level is Level.DURABLE
    port = redis_cluster.primary_ports()[1]
    node = redis.Redis(port=port, socket_timeout=5.0)
    node.config_set("appendfsync", "no")
    try:
        with pytest.raises(VolatileRedisError, match=rf"primary 127\.0\.0\.1:{port}: .*appendfsync no"):
            guard_durability(redis_cluster.url)
        assert guard_durability(redis_cluster.url, allow_volatile=True).level is Level.VOLATILE
    finally:
        node.config_set("appendfsync", "always")
        node.close()


# ---- failover ------------------------------------------------------------------------------


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of this test alone, whose primaries it may kill."""
    with LocalCluster(tmp_path / "cluster", masters=3, replicas=1) as cluster:
        yield cluster


def decide_all(store: RedisIngestStore, consumer: str) -> list[str]:
    """Read every new inbox entry and publish an answer for it (a counter and the
    acknowledgement): what an ingest does, without owners. The ids answered."""
    entries = store.read(consumer, 1000, pending=False)
    ids = [entry.entry_id for entry in entries]
    store.publish(Publication((), (), (), {}, {"decided": len(ids)} if ids else {}, ids))
    return ids


def notify(store: RedisAlertStore, book: AlertBook, sku: str, at: float) -> list[str]:
    verdict = Verdict(sku, AlertLevel.THRESHOLD, True, "why", {"available": 3})
    return store.append(book.step([verdict], at, at, hints={AlertLevel.THRESHOLD: "say it"}))


def test_a_killed_primary_loses_nothing_acknowledged_and_the_stores_keep_working(
    own_cluster: LocalCluster,
) -> None:
    namespace = fresh_namespace()
    while (
        own_cluster.primary_of(keys.alerts_tag(namespace)).port
        != own_cluster.primary_of(keys.channel_tag(namespace, "douyin")).port
    ):  # the channel's and the alerts' keys on the primary about to die
        namespace = fresh_namespace()
    config = StoreConfig(own_cluster.url, namespace=namespace, shard_count=1)
    ingest = RedisIngestStore.connect(config, "douyin")
    alerts_client = connect(own_cluster.url, socket_timeout=10.0)
    alerts = RedisAlertStore(alerts_client, config.namespace)
    book = AlertBook(LifecycleSettings(pending_seconds=0, keep_firing_seconds=0))
    try:
        sent = ingest.enqueue([json.dumps({"order": n}) for n in range(50)])
        answered = decide_all(ingest, "c1")
        notified = [entry_id for n in range(10) for entry_id in notify(alerts, book, f"S{n}", T0 + n)]
        assert answered == sent

        victim = own_cluster.primary_of(ingest.keys.inbox)
        victim.kill()  # SIGKILL: no shutdown work at all, as a crash

        # the stores ride through the promotion: these calls wait for the new primary
        more = ingest.enqueue([json.dumps({"order": n}) for n in range(50, 60)])
        answered += decide_all(ingest, "c1")
        notified += notify(alerts, book, "S-after", T0 + 100)
        heir = own_cluster.wait_for_failover(victim.port)

        assert heir != victim.port
        assert answered == sent + more
        assert ingest.counters() == {"decided": 60}
        assert ingest.pending() == 0
        assert [entry_id for entry_id, _ in alerts.history(count=100)] == notified
        assert {alert.sku for alert in alerts.open_alerts()} == {*(f"S{n}" for n in range(10)), "S-after"}
    finally:
        ingest.redis.close()
        alerts_client.close()


def test_writes_go_on_when_a_replica_dies_and_say_they_were_not_replicated(
    own_cluster: LocalCluster,
) -> None:
    config = StoreConfig(own_cluster.url, namespace=fresh_namespace(), shard_count=1)
    ingest = RedisIngestStore.connect(config, "douyin")
    try:
        replica_of(own_cluster, own_cluster.primary_of(ingest.keys.inbox)).kill()
        with capture_logs() as logs:
            sent = ingest.enqueue([json.dumps({"order": n}) for n in range(5)])
            answered = decide_all(ingest, "c1")

        assert answered == sent
        assert ingest.counters() == {"decided": 5}
        assert "redis_write_not_replicated" in [entry["event"] for entry in logs]
    finally:
        ingest.redis.close()


def test_an_owner_rides_through_a_failover_and_loses_or_repeats_no_decision(
    own_cluster: LocalCluster,
) -> None:
    config = StoreConfig(own_cluster.url, namespace=fresh_namespace(), shard_count=1)
    skus = [f"S{n}" for n in range(12)]

    def primary_port(sku: str) -> int:
        fence = PartitionKeys.of(config.namespace, partition_of(sku, config.partitions)).fence
        return own_cluster.primary_of(fence).port

    victim = next(node for node in own_cluster.nodes if node.port == primary_port(skus[0]))
    assert 0 < sum(primary_port(sku) == victim.port for sku in skus) < len(skus)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings(sku), 1_000_000) for sku in skus])
    total, size = 4000, 20
    acknowledged: dict[str, Decision] = {}
    failed: list[Exception] = []
    done = threading.Event()
    halfway = threading.Event()  # 400 orders acknowledged: time to kill the primary

    def take_orders() -> None:
        """Batches of orders over every SKU (odd ones paid), each sent again until it is
        answered, as a channel's ingest does."""
        deadline = time.monotonic() + 90
        for first in range(0, total, size):
            placed = time.time()
            ops = [
                Reserve("douyin", f"o{n}", skus[n % len(skus)], 1, placed, paid=n % 2 == 1)
                for n in range(first, first + size)
            ]
            while time.monotonic() < deadline:
                try:
                    decisions = owner.apply(ops)
                except Exception as error:  # an unknown outcome: the owner reloads, we resend
                    failed.append(error)
                    continue
                for op, decision in zip(ops, decisions, strict=True):
                    acknowledged.setdefault(op.order_id, decision)
                if len(acknowledged) >= 400:
                    halfway.set()
                break
        done.set()

    taker = threading.Thread(target=take_orders, daemon=True)
    taker.start()
    assert halfway.wait(timeout=30)
    killed_at = len(acknowledged)
    victim.kill()  # SIGKILL mid-stream: the owner's next commits touch its partitions
    assert done.wait(timeout=120)
    heir = own_cluster.wait_for_failover(victim.port)

    assert 400 <= killed_at < total
    assert failed  # the kill did hit commits under way
    assert heir != victim.port
    assert primary_port(skus[0]) == heir
    assert len(acknowledged) == total
    assert all(d.accepted for d in acknowledged.values())
    client = connect(config.redis_url, socket_timeout=10.0)
    try:
        ledgers = read_skus(client, config)
        lines = read_line_records(client, config, time.time())
    finally:
        client.close()
    for index, sku in enumerate(skus):  # one unit per order, once, and none lost
        orders = range(index, total, len(skus))
        assert ledgers[sku][0].reserved == sum(1 for n in orders if n % 2 == 0), sku
        assert ledgers[sku][0].sold == sum(1 for n in orders if n % 2 == 1), sku
    for n in range(total):
        record = lines[skus[n % len(skus)]][f"douyin\x1fo{n}"]
        expected = LineStatus.SOLD if n % 2 else LineStatus.RESERVED
        assert (record.status, record.quantity) == (expected, 1)
        assert acknowledged[f"o{n}"].status == expected


def test_an_owner_commits_on_when_a_replica_dies_and_says_it_was_not_replicated(
    own_cluster: LocalCluster,
) -> None:
    config = StoreConfig(own_cluster.url, namespace=fresh_namespace(), shard_count=1)
    state = PartitionKeys.of(config.namespace, partition_of("A", config.partitions)).state
    primary = own_cluster.primary_of(state)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 100)])
    replica_of(own_cluster, primary).kill()
    with capture_logs() as logs:
        decisions = [owner.apply([Reserve("douyin", f"o{n}", "A", 1, time.time())])[0] for n in range(3)]

    assert all(d.accepted for d in decisions)
    assert "redis_write_not_replicated" in [entry["event"] for entry in logs]
    client = connect(config.redis_url, socket_timeout=10.0)
    try:
        assert read_skus(client, config, ["A"])["A"][0].reserved == 3
    finally:
        client.close()
