"""Three platforms on one stock pool, on real Ray and Redis: ingest actors draining
concurrently, oversold counts, and the visible quantities ChannelSync publishes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import redis

from actors.infra import keys
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.ingest.actor import start_ingest
from actors.ingest.core import ChannelKeys, enqueue, read_decisions
from actors.owner.client import StockClient
from actors.sync.core import ChannelSync
from actors.sync.store import RedisSyncStore
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from tests.support import fresh_namespace, wait_for

pytestmark = pytest.mark.usefixtures("ray_cluster")

CHANNELS = {"douyin": "douyin", "taobao": "taobao", "kuaishou": "kuaishou"}
SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


def platform_order(channel: str, n: int) -> dict[str, object]:
    """Order ``n`` of one unit of HOT in ``channel``'s own payload format."""
    if channel == "douyin":
        data = {
            "p_id": n,
            "create_time": 1_764_000_000 + n,
            "sku_order_list": [{"out_sku_id": "HOT", "item_num": 1, "pay_amount": 9900}],
        }
        return {"tag": "100", "data": json.dumps(data)}
    if channel == "taobao":
        content = {
            "tid": n,
            "created": "2025-11-11 20:00:00",
            "orders": {"order": [{"outer_sku_id": "HOT", "num": 1, "payment": "99.00"}]},
        }
        return {"topic": "taobao_trade_TradeCreate", "content": json.dumps(content)}
    info = {
        "oid": n,
        "createTime": 1_764_000_000_000 + n,
        "orderItemList": [{"skuNick": "HOT", "num": 1, "itemPrice": 9900}],
    }
    return {"event": "kwaishop_order_orderCreate", "info": info}


@pytest.fixture
def deployment(redis_server: RedisServer) -> Iterator[tuple[StockClient, dict[str, Any]]]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = StockClient.start(config)
    client.submit([DefineSku(SkuSettings("HOT"), 1000)])
    ingest = start_ingest(config, CHANNELS, claim_every_seconds=1.0)
    yield client, ingest
    ray.get([actor.stop.remote() for actor in ingest.values()])
    for actor in [*ingest.values(), *client.owners]:
        ray.kill(actor, no_restart=True)
    client.close()


def test_three_channels_drain_concurrently_and_sell_exactly_the_stock(
    deployment: tuple[StockClient, dict[str, Any]],  # ingest actor handles, untyped in Ray
) -> None:
    client, ingest = deployment
    namespace = client.config.namespace
    raw = redis.Redis.from_url(client.config.redis_url)
    for channel in CHANNELS:  # every platform took 1,000 orders before flashstock heard
        enqueue(raw, ChannelKeys.of(namespace, channel), [platform_order(channel, n) for n in range(1000)])

    def decisions() -> list[list[str]]:
        return [fields for c in CHANNELS for _, fields in read_decisions(raw, ChannelKeys.of(namespace, c))]

    wait_for(lambda: len(decisions()) == 3000, timeout=120, message="3,000 order decisions")
    accepted = sum(fields[2] == "1" for fields in decisions())
    ledger = client.ledger("HOT")
    assert ledger is not None
    assert accepted == 1000
    assert (ledger.reserved, ledger.available) == (1000, 0)
    # what the platforms sold beyond the pool is counted, per channel
    oversold = client.oversold(["HOT"])["HOT"]
    assert sum(oversold.values()) == 2000
    assert set(oversold) <= set(CHANNELS)
    stats = ray.get([actor.stats.remote() for actor in ingest.values()])
    assert sum(s["orders"] for s in stats) == 3000
    assert all(s["pending"] == 0 for s in stats)
    raw.close()


@pytest.mark.parametrize(("policy", "most_shown"), [("share", 1), ("everywhere", 3)])
def test_published_visible_stock_never_exceeds_the_pool_under_the_share_policy(
    redis_server: RedisServer, policy: str, most_shown: int
) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = StockClient.start(config)
    try:
        client.submit([DefineSku(SkuSettings("HOT"), 300)])
        sync = ChannelSync(RedisSyncStore(config), SHARES, policy=policy, max_pushes_per_second=1000)
        raw = redis.Redis.from_url(config.redis_url)

        def shown() -> int:
            return sum(int(raw.hget(keys.visible(config.namespace, c), "HOT") or 0) for c in SHARES)

        sync.step(block_ms=0)
        assert shown() == most_shown * 300
        client.submit([Reserve("douyin", f"o{n}", "HOT", 1) for n in range(120)])

        def caught_up() -> bool:
            sync.step(block_ms=10)
            return shown() == most_shown * 180

        wait_for(caught_up, message="visible stock to follow the sales")
        if policy == "share":
            visible = {c: int(raw.hget(keys.visible(config.namespace, c), "HOT") or 0) for c in SHARES}
            assert visible["douyin"] > 180 * SHARES["douyin"]  # douyin sells: it gets more
        raw.close()
    finally:
        client.close()
        for owner in client.owners:
            ray.kill(owner, no_restart=True)
