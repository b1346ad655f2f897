"""Stopping a deployment (what Ctrl-C of ``flashstock serve`` does) never waits for ever:
a hung actor is given its time, logged, and the rest stops. Real Ray, real Redis."""

from __future__ import annotations

import os
import signal
import time

import pytest
import ray

from actors.bootstrap import kill_system, start_system, stop_system
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from tests.support import fresh_namespace


@pytest.mark.usefixtures("ray_cluster")
def test_stopping_a_deployment_with_a_hung_forecaster_returns_after_the_stop_timeout(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    system = start_system(config, {"web": "generic"})
    pid = ray.get(system.forecaster.__ray_call__.remote(lambda _: os.getpid()))
    os.kill(pid, signal.SIGSTOP)  # alive, answering nothing
    try:
        started = time.monotonic()
        stop_system(system, stop_timeout=2.0)
        assert time.monotonic() - started < 20
        # the others did stop: their loops have ended
        for actor in (system.ingest["web"], system.sync):
            assert not ray.get(
                actor.__ray_call__.remote(lambda service: service._loop.is_alive()), timeout=30
            )
    finally:
        os.kill(pid, signal.SIGCONT)
        kill_system(config, ["web"], stop_timeout=5.0)
