"""A SKU's show context (when it went on sale, when its show ends) reaches the forecaster
through the owners' feed, and a restarted forecaster reads the same from the durable
settings: real owners, a real redis-server, a driven forecaster (event time is the show
clock, far from the wall clock)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import ray
import redis

from actors.alerts.actor import start_forecaster
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from actors.owner.reads import read_skus
from policies.alert_lifecycle import LifecycleSettings
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from tests.support import fresh_namespace

pytestmark = pytest.mark.usefixtures("ray_cluster")


def driven(config: StoreConfig) -> Any:
    return start_forecaster(config, driven=True, lifecycle=LifecycleSettings(pending_seconds=0))


def rates_at(forecaster: Any, sent: list[Any], at: float) -> dict[str, float]:
    _, views = ray.get(forecaster.advance_to.remote(at, sent, ["CLASSIC", "STAMPED"]))
    return {view["sku"]: float(view["velocity_per_min"]) for view in views}


def expected_rate(minutes_on_sale: float) -> float:
    """One order and the prior's 0.5 over the minutes on sale (plus the bucket the
    exposure starts in) and the prior's minute."""
    return 1.5 / (minutes_on_sale + 10 / 60 + 1)


def test_the_on_sale_time_reaches_the_forecaster_and_survives_its_restart(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = StockClient.start(config)
    forecaster = driven(config)
    try:
        before = time.time()
        since = before - 30
        client.submit(
            [
                DefineSku(SkuSettings("CLASSIC", lead_time_minutes=720, on_sale_since=since), 400),
                DefineSku(SkuSettings("STAMPED", lead_time_minutes=720), 400),  # on sale now
            ]
        )
        after = time.time()
        store = redis.Redis.from_url(redis_server.url)
        durable = {sku: settings for sku, (_, settings) in read_skus(store, config).items()}
        assert durable["CLASSIC"].on_sale_since == since
        stamped = durable["STAMPED"].on_sale_since
        assert stamped is not None
        assert before <= stamped <= after
        # each SKU's first order about a minute after it went on sale
        client.submit(
            [
                Reserve("douyin", "c1", "CLASSIC", 1, since + 62),
                Reserve("douyin", "s1", "STAMPED", 1, stamped + 62),
            ]
        )
        sent = ray.get([owner.forecast_sent.remote() for owner in client.owners])
        at = stamped + 70

        fed = rates_at(forecaster, sent, at)

        assert fed["STAMPED"] == pytest.approx(expected_rate(70 / 60), abs=0.002)
        assert fed["CLASSIC"] == pytest.approx(expected_rate((at - since) / 60), abs=0.002)
        # counted from the order itself it would be 1.5 / (8 s + a bucket + 1 min) = 1.1
        assert max(fed.values()) < 0.7

        ray.get(forecaster.stop.remote())
        ray.kill(forecaster, no_restart=True)
        forecaster = driven(config)  # rebuilt from the ledger log and the durable settings

        assert rates_at(forecaster, [], at) == fed
    finally:
        client.close()
        ray.get(forecaster.stop.remote())
        for actor in [forecaster, *client.owners]:
            ray.kill(actor, no_restart=True)
