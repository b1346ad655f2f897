"""Owners feed the forecaster actor on real Ray and Redis: a durable decision that
crosses a line becomes an alert on the durable stream, with evidence and a live hint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.client import StockClient
from actors.forecaster_actor import start_forecaster
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from tests.support import fresh_namespace, wait_for

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def stack(redis_server: RedisServer) -> Iterator[tuple[StockClient, Any]]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    forecaster = start_forecaster(config, tick_seconds=0.2,
                                  lifecycle=LifecycleSettings(pending_seconds=0))
    client = StockClient.start(config)
    yield client, forecaster
    client.close()
    ray.get(forecaster.stop.remote())
    for actor in [forecaster, *client.owners]:
        ray.kill(actor, no_restart=True)


def test_a_sale_that_crosses_the_critical_floor_raises_an_emergency(
    stack: tuple[StockClient, Any],
) -> None:
    client, forecaster = stack
    client.submit([
        DefineSku(SkuSettings("HOODIE", "联名卫衣", critical_floor=5, substitutes=("CLASSIC",)), 20),
        DefineSku(SkuSettings("CLASSIC", "经典款"), 300),
    ])
    now = time.time()
    client.submit([Reserve("douyin", f"o{n}", "HOODIE", 1, now) for n in range(16)])

    def emergency() -> list[dict[str, Any]]:
        return [a for a in ray.get(forecaster.alerts.remote())
                if a["sku"] == "HOODIE" and a["level"] == Level.EMERGENCY]

    wait_for(lambda: bool(emergency()), timeout=30, message="an EMERGENCY alert for HOODIE")
    (alert,) = emergency()
    assert alert["evidence"]["available"] == 4
    assert "critical floor" in alert["reason"]
    assert alert["playbook"]
    assert "最后4件" in alert["hint"]
    history = ray.get(forecaster.history.remote())
    assert any(r["alert"]["id"] == alert["id"] and r["kind"] in ("firing", "escalated")
               for _, r in history)
    hint = ray.get(forecaster.hints.remote(["HOODIE"]))[0]
    assert hint["host_line"] == "这款还能卖5单"  # 4 available + 10% of 16 unpaid units
    assert hint["substitute"] == "CLASSIC"
