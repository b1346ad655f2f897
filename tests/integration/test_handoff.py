"""Restarting with another shard count hands SKUs over: the old owners flush and are
fenced before the new ones load, so each SKU keeps exactly one writer (on a redis-server
and on a Redis Cluster)."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
import ray

from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.infra.wire import unpack_decisions
from actors.owner.client import StockClient, apply_on
from actors.owner.core import SkuOwner
from actors.owner.store import LayoutMismatchError, OwnerFencedError, RedisOwnerStore
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from policies.routing import owner_of
from tests.support import fresh_namespace, stop_client

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def redis_url(request: pytest.FixtureRequest, redis_server: RedisServer) -> str:
    """The deployment's Redis: the redis-server, or the Redis Cluster."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return redis_server.url


SKUS = [f"SKU-{n:02d}" for n in range(12)]


def test_resharding_moves_every_sku_with_its_ledger_and_retires_the_old_owners(redis_url: str) -> None:
    two = StoreConfig(redis_url, namespace=fresh_namespace(), shard_count=2)
    old = StockClient.start(two)
    old.submit([DefineSku(SkuSettings(sku), 30) for sku in SKUS])
    old.submit([Reserve("douyin", f"o{n}", SKUS[n % 12], 1 + n % 3, 1.0) for n in range(60)])
    before = old.all_ledgers()
    # calls queued at the old owners while the handoff starts: each is either committed
    # before they retire (and then kept by the new owners) or refused
    queued = [
        (n, apply_on(old.owners[n % 2], [Reserve("taobao", f"q{n}", SKUS[n % 12], 1, 2.0)]))
        for n in range(40)
    ]

    new = StockClient.start(replace(two, shard_count=3))

    try:
        committed = []
        for n, ref in queued:
            # refused by a retiring owner: the caller would resend it to the new owners
            with contextlib.suppress(ray.exceptions.RayError):
                committed += [(n, d) for d in unpack_decisions(ray.get(ref)) if d.accepted]
        after = new.all_ledgers()
        assert set(after) == set(SKUS)
        moved = {sku for sku in SKUS if old.owner_index(sku) != new.owner_index(sku)}
        assert moved  # the handoff really moved SKUs between owners
        for sku in SKUS:
            extra = sum(1 for n, d in committed if d.sku == sku)
            assert after[sku].reserved == before[sku].reserved + extra
        repeat = new.submit([Reserve("taobao", f"q{n}", SKUS[n % 12], 1, 2.0) for n, _ in committed])
        assert all(d.duplicate for d in repeat)  # the new owners know the flushed lines
        for owner in old.owners:
            with pytest.raises(ray.exceptions.RayActorError):
                ray.get(owner.health.remote(), timeout=30)
    finally:
        old.close()
        stop_client(new)


def test_an_owner_of_the_old_layout_is_fenced_and_cannot_start_again(redis_url: str) -> None:
    two = StoreConfig(redis_url, namespace=fresh_namespace(), shard_count=2)
    zombie = SkuOwner(two, 0, RedisOwnerStore(two))  # e.g. on a partitioned node that missed the handoff
    cap = next(sku for sku in SKUS if owner_of(sku, 2) == 0)
    assert zombie.apply([DefineSku(SkuSettings(cap), 10)])[0].accepted

    new = StockClient.start(replace(two, shard_count=3))
    try:
        with pytest.raises(OwnerFencedError, match="now runs 3 shards"):
            zombie.apply([Reserve("douyin", "late", cap, 1, 1.0)])
        with pytest.raises(LayoutMismatchError, match="runs with 3 shards"):
            SkuOwner(two, 1, RedisOwnerStore(two))
        ledger = new.ledger(cap)
        assert ledger is not None
        assert ledger.reserved == 0
    finally:
        stop_client(new)


def test_owners_report_the_node_they_run_on(redis_server: RedisServer) -> None:
    client = StockClient.start(StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2))
    try:
        health = ray.get([owner.health.remote() for owner in client.owners])
        assert {h["node"] for h in health} == {ray.get_runtime_context().get_node_id()}
    finally:
        stop_client(client)
