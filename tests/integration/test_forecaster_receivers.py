"""The forecaster actor on real Ray and Redis delivers to a receiver: a sale that crosses
the critical floor reaches a DingTalk robot (a loopback server checking DingTalk's 加签)
through the actor's own delivery threads, with no flush from anyone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from actors.alerts.actor import ForecasterActor
from actors.alerts.webhooks import ALLOW_PRIVATE_ENV
from actors.infra.directory import forecaster_name
from actors.infra.redis_server import RedisServer
from actors.infra.settings import RAY_NAMESPACE, StoreConfig
from actors.owner.client import StockClient
from policies.alert_lifecycle import LifecycleSettings
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from policies.subscriptions import ReceiverKind, Subscription
from tests.integration.test_receivers import DING_SECRET, Platform, dingtalk_judge
from tests.support import fresh_namespace, wait_for

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def stack(redis_server: RedisServer) -> Iterator[tuple[StockClient, Any]]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    # the operator's allowance of a loopback receiver, in the actor's own environment
    forecaster = ForecasterActor.options(
        name=forecaster_name(config),
        namespace=RAY_NAMESPACE,
        runtime_env={"env_vars": {ALLOW_PRIVATE_ENV: "127.0.0.1"}},
    ).remote(config, tick_seconds=0.2, lifecycle=LifecycleSettings(pending_seconds=0))
    ray.get(forecaster.stats.remote())
    client = StockClient.start(config)
    yield client, forecaster
    client.close()
    ray.get(forecaster.stop.remote())
    for actor in [forecaster, *client.owners]:
        ray.kill(actor, no_restart=True)


def test_an_emergency_reaches_a_dingtalk_robot_from_the_actor(stack: tuple[StockClient, Any]) -> None:
    client, forecaster = stack
    robot = Platform(dingtalk_judge(DING_SECRET, "tok-9"))
    try:
        subscription = Subscription(
            "ding-ops",
            f"{robot.base}/robot/send?access_token=tok-9",
            DING_SECRET,
            ("EMERGENCY",),
            "ops",
            ReceiverKind.DINGTALK,
            group_wait=0,
        )
        ray.get(forecaster.subscribe.remote(subscription))
        client.submit([DefineSku(SkuSettings("HOODIE", "联名卫衣", critical_floor=5), 20)])
        now = time.time()
        client.submit([Reserve("douyin", f"o{n}", "HOODIE", 1, now) for n in range(16)])

        wait_for(lambda: bool(robot.seen), timeout=60, message="a message at the DingTalk robot")

        message = json.loads(robot.seen[0].body)
        assert message["msgtype"] == "markdown"
        text = message["markdown"]["text"]
        assert "**紧急预警·" in text  # firing or escalated, as the evaluation went
        assert "HOODIE 剩余 4 件" in text
        assert robot.seen[0].query["access_token"] == ["tok-9"]  # signed, and the robot agreed:
        assert robot.judge(robot.seen[0])[1] == {"errcode": 0, "errmsg": "ok"}
    finally:
        robot.close()
