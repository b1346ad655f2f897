"""Owners feed the forecaster actor on real Ray and Redis: a durable decision that
crosses a line becomes an alert on the durable stream, with evidence and a live hint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray
import redis

from actors.alerts.actor import start_forecaster
from actors.alerts.store import RedisAlertStore
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from policies.alert_lifecycle import Alert, LifecycleSettings, Status
from policies.alert_rules import Level
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from tests.support import fresh_namespace, wait_for

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def stack(redis_server: RedisServer) -> Iterator[tuple[StockClient, Any]]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    forecaster = start_forecaster(config, tick_seconds=0.2, lifecycle=LifecycleSettings(pending_seconds=0))
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
    client.submit(
        [
            DefineSku(SkuSettings("HOODIE", "联名卫衣", critical_floor=5, substitutes=("CLASSIC",)), 20),
            DefineSku(SkuSettings("CLASSIC", "经典款"), 300),
        ]
    )
    now = time.time()
    client.submit([Reserve("douyin", f"o{n}", "HOODIE", 1, now) for n in range(16)])

    def emergency() -> list[dict[str, Any]]:
        return [
            a
            for a in ray.get(forecaster.alerts.remote())
            if a["sku"] == "HOODIE" and a["level"] == Level.EMERGENCY
        ]

    # batches may be evaluated as they arrive: wait for the one after the last sale
    wait_for(
        lambda: any(a["evidence"]["available"] == 4 for a in emergency()),
        timeout=30,
        message="an EMERGENCY alert for HOODIE at 4 available",
    )
    (alert,) = emergency()
    assert "critical floor" in alert["reason"], alert
    assert alert["playbook"]
    assert "最后5件" in alert["hint"]  # the same count as the host line: 4 + 10% of 16 unpaid
    history = ray.get(forecaster.history.remote())
    assert any(r["alert"]["id"] == alert["id"] and r["kind"] in ("firing", "escalated") for _, r in history)
    hint = ray.get(forecaster.hints.remote(["HOODIE"]))[0]
    assert hint["host_line"] == "这款还能卖5单"  # 4 available + 10% of 16 unpaid units
    assert hint["substitute"] == "CLASSIC"


def test_a_driven_forecaster_evaluates_only_when_told_and_after_hearing_every_batch(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2)
    forecaster = start_forecaster(config, driven=True, lifecycle=LifecycleSettings(pending_seconds=0))
    client = StockClient.start(config)
    try:
        client.submit([DefineSku(SkuSettings(f"S{n}", critical_floor=5), 10) for n in range(4)])
        show = 1_900_000_000.0  # event time far from the wall clock: only the driver moves it
        client.submit(
            [Reserve("douyin", f"o{sku}-{n}", f"S{sku}", 1, show + n) for sku in range(4) for n in range(6)]
        )
        sent = ray.get([owner.forecast_sent.remote() for owner in client.owners])
        assert sorted(index for index, _, _ in sent) == [0, 1]
        assert ray.get(forecaster.alerts.remote()) == []  # nothing evaluated on its own

        notes, views = ray.get(forecaster.advance_to.remote(show + 10, sent, ["S0", "S3"]))

        emergencies = sorted(n["alert"]["sku"] for n in notes if n["alert"]["level"] == Level.EMERGENCY)
        assert emergencies == ["S0", "S1", "S2", "S3"]
        assert {n["alert"]["opened_at"] for n in notes} == {show + 10}
        assert [(v["sku"], v["available"]) for v in views] == [("S0", 4), ("S3", 4)]
    finally:
        client.close()
        ray.get(forecaster.stop.remote())
        for actor in [forecaster, *client.owners]:
            ray.kill(actor, no_restart=True)


def test_advance_to_refuses_to_evaluate_before_the_owners_batches_arrive(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    forecaster = start_forecaster(config, driven=True)
    try:
        never_sent = [(0, 99, 5)]  # an owner epoch the forecaster has not heard from
        with pytest.raises(ray.exceptions.RayTaskError, match="has not heard every owner batch"):
            ray.get(forecaster.advance_to.remote(1_900_000_000.0, never_sent, [], 0.2))
    finally:
        ray.get(forecaster.stop.remote())
        ray.kill(forecaster, no_restart=True)


def test_a_restarted_forecaster_rebuilds_its_windows_and_settles_a_stale_alert_at_once(
    redis_server: RedisServer,
) -> None:
    """The issue's restart: the reservations expired, so 1,500 units are back, but the
    alert stored before the restart said EMERGENCY "0 available"."""
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = StockClient.start(config)
    forecaster = None
    try:
        client.submit([DefineSku(SkuSettings("HOODIE", lead_time_minutes=60), 1530)])
        now = time.time()
        client.submit([Reserve("douyin", f"o{n}", "HOODIE", 1, now - 600 + 20 * n) for n in range(30)])
        store = RedisAlertStore(redis.Redis.from_url(redis_server.url), config.namespace)
        stale = Alert(
            "HOODIE-1", "HOODIE", Level.EMERGENCY, "", Status.FIRING, now - 900, now - 900, now - 900,
            now - 60, now - 60, None, None, None, "0 available", {"available": 0}, "", "最后0件", None,
        )  # fmt: skip
        store.save_alert(stale)

        forecaster = start_forecaster(config, tick_seconds=0.2)

        assert ray.get(forecaster.alerts.remote()) == []  # settled before the first call answered
        (_, resolved), *_ = [e for e in ray.get(forecaster.history.remote()) if e[1]["kind"] == "resolved"]
        assert resolved["alert"]["id"] == "HOODIE-1"
        assert resolved["alert"]["evidence"]["available"] == 1500
        view = ray.get(forecaster.view.remote("HOODIE"))
        assert 1.0 <= view["velocity_per_min"] <= 4.0  # 30 orders in the last 10 minutes, rebuilt
    finally:
        client.close()
        if forecaster is not None:
            ray.get(forecaster.stop.remote())
            ray.kill(forecaster, no_restart=True)
        for actor in client.owners:
            ray.kill(actor, no_restart=True)
