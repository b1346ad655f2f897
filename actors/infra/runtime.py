"""Bring up what flashstock runs on: Redis (real server or embedded) and Ray.

``REDIS_URL`` selects a real Redis server; without it an embedded redis-server is
started with AOF ``appendfsync always`` in ``data_dir`` and stopped cleanly when the
context exits (``actors.infra.redis_server``: it dies with this process and holds its
data directory alone). Either way its persistence is checked first
(``guard_durability``, the rule in ``actors.infra.durability``). ``RAY_ADDRESS`` (or
``ray_address``) joins an existing Ray cluster; otherwise a local one is started that
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import ray
import redis
import structlog
from ray._private import ray_constants

from actors.infra.durability import Durability, Level, judge_durability
from actors.infra.logging import FORMAT_ENV
from actors.infra.redis_client import RedisUrlError, connect, primaries, without_password
from actors.infra.redis_server import RedisServer, RedisServerError
from actors.infra.settings import RAY_NAMESPACE, current_settings

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path(".flashstock")
#: Ray reads it (``ray_constants.ENABLE_RAY_CLUSTER``): "0" makes a local Ray use the
#: loopback address as its node IP, so GCS, raylet, workers, the agents and their
#: Prometheus exporter listen on 127.0.0.1 only
RAY_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class VolatileRedisError(RedisServerError):
    """The Redis does not keep acknowledged decisions on disk (or would not say), and
    ``--allow-volatile-redis`` was not given."""


class RedisRuntime(NamedTuple):
    url: str
    #: the embedded server, None when ``REDIS_URL`` names one flashstock does not own
    server: RedisServer | None
    #: what its persistence settings mean for acknowledged decisions
    durability: Durability | None = None


@contextlib.contextmanager
def redis_runtime(
    data_dir: Path = DEFAULT_DATA_DIR, redis_url: str | None = None, *, allow_volatile: bool = False
) -> Iterator[RedisRuntime]:
    """The Redis to use: ``redis_url``, else ``REDIS_URL``, else an embedded server in
    ``data_dir`` that lives as long as the context. Its persistence is checked first
    (``guard_durability``): ``VolatileRedisError`` unless it keeps an append-only file
    or ``allow_volatile``."""
    url = redis_url or current_settings().redis_url
    if url:
        log.info("redis_external", url=without_password(url))
        yield RedisRuntime(url, None, guard_durability(url, allow_volatile=allow_volatile))
        return
    with RedisServer(data_dir / "redis") as server:
        yield RedisRuntime(server.url, server, guard_durability(server.url, allow_volatile=allow_volatile))


def guard_durability(url: str, *, allow_volatile: bool = False) -> Durability:
    """Read the ``appendonly`` and ``appendfsync`` settings of the Redis at ``url`` (of
    every primary, for a Redis Cluster) and judge them (``actors.infra.durability``); on a
    cluster the least durable primary decides, and the verdict names it. Raises
    ``VolatileRedisError`` (one line: what was found, what to do) when refused,
    ``RedisServerError`` when Redis cannot be reached or the URL is malformed."""
    try:
        client = connect(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    except RedisUrlError as error:  # one line for the command to print, not a traceback
        raise RedisServerError(f"the Redis URL cannot be used: {error}") from None
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as error:
        raise RedisServerError(f"cannot reach Redis at {without_password(url)}: {error}") from None
    try:
        nodes = primaries(client)
        verdicts = [
            _judge_node(
                node, url, allow_volatile=allow_volatile, name=_node_name(node) if len(nodes) > 1 else ""
            )
            for node in nodes
        ]
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as error:
        raise RedisServerError(f"cannot reach Redis at {without_password(url)}: {error}") from None
    finally:
        client.close()
    durability = max(verdicts, key=lambda verdict: _SEVERITY[verdict.level])
    log.info(
        "redis_durability",
        url=without_password(url),
        primaries=len(verdicts),
        level=durability.level.value,
        appendonly=durability.appendonly,
        appendfsync=durability.appendfsync,
    )
    if durability.refused:
        raise VolatileRedisError(durability.message)
    return durability


#: which verdict decides for a cluster: the least durable primary's
_SEVERITY = {Level.DURABLE: 0, Level.WARNING: 1, Level.VOLATILE: 2, Level.REFUSED: 3}


def _judge_node(node: redis.Redis, url: str, *, allow_volatile: bool, name: str) -> Durability:
    """The verdict on one server; ``name`` (a cluster primary's host:port) prefixes its
    message when given."""
    try:
        settings = {**node.config_get("appendonly"), **node.config_get("appendfsync")}
        appendonly, appendfsync = settings.get("appendonly"), settings.get("appendfsync")
    except redis.exceptions.ResponseError as error:  # CONFIG renamed, or not allowed (NOPERM)
        log.warning("redis_config_unreadable", url=without_password(url), node=name, error=str(error))
        appendonly = appendfsync = None
    durability = judge_durability(_text(appendonly), _text(appendfsync), allow_volatile=allow_volatile)
    if not name:
        return durability
    return dataclasses.replace(durability, message=f"Redis Cluster primary {name}: {durability.message}")


def _node_name(node: redis.Redis) -> str:
    kwargs = node.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def redis_for(data_dir: Path = DEFAULT_DATA_DIR, redis_url: str | None = None) -> Iterator[str]:
    """The URL of ``redis_runtime``'s Redis."""
    with redis_runtime(data_dir, redis_url) as runtime:
        yield runtime.url


def keep_redis_alive(
    server: RedisServer,
    stop: threading.Event,
    *,
    max_restarts: int = 3,
    window_seconds: float = 300.0,
    interval: float = 0.5,
) -> str | None:
    """Watch the embedded server until ``stop`` is set, restarting it (same port, same
    data directory: it replays its AOF) when it dies. Returns None once ``stop`` is set,
    or one line saying why it gave up: more than ``max_restarts`` deaths within
    ``window_seconds``, or a restart that failed."""
    deaths: list[float] = []
    while not stop.wait(interval):
        code = server.exit_code()
        if code is None:
            continue
        now = time.monotonic()
        deaths = [t for t in deaths if now - t < window_seconds] + [now]
        log.warning("redis_died", exit_code=code, deaths=len(deaths), data_dir=str(server.data_dir))
        if len(deaths) > max_restarts:
            return (
                f"the embedded redis-server died {len(deaths)} times in {window_seconds:.0f} s "
                f"(last exit code {code}); see {server.data_dir / 'redis.log'}"
            )
        try:
            server.restart()
        except RedisServerError as exc:
            return f"the embedded redis-server died (exit code {code}) and did not restart: {exc}"
        log.info("redis_restarted", url=server.url)
    return None


@contextlib.contextmanager
def ray_for(
    address: str | None = None, *, num_cpus: int | None = None, log_level: str | None = None
) -> Iterator[None]:
    """A Ray runtime for the context: joined (``address`` / ``RAY_ADDRESS``) or local.
    A local one listens on 127.0.0.1 only, without a dashboard. ``log_level`` reaches
    every worker as ``FLASHSTOCK_LOG_LEVEL`` (and this process's ``FLASHSTOCK_LOG_FORMAT``).
    A runtime that was already initialised is used as it is and left running."""
    if ray.is_initialized():
        yield
        return
    env = {"FLASHSTOCK_LOG_LEVEL": log_level} if log_level else {}
    if os.environ.get(FORMAT_ENV):
        env[FORMAT_ENV] = os.environ[FORMAT_ENV]
    # without an address, a local Ray of this process's own (Ray would otherwise join
    # any cluster already running on the machine)
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    with loopback_only_ray() if target == "local" else contextlib.nullcontext():
        ray.init(
            address=target,
            num_cpus=num_cpus if target == "local" else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
            namespace=RAY_NAMESPACE,
            runtime_env={"env_vars": env},
        )
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def loopback_only_ray() -> Iterator[None]:
    """While a local Ray starts: its node IP is 127.0.0.1, so all its servers bind
    loopback. ``ray.init(_node_ip_address="127.0.0.1")`` does not do it (Ray 2.60
    replaces a loopback node address by the machine's reachable one); Ray's own switch
    for single-machine Ray does, read here (already imported) and by Ray's children."""
    previous_env = os.environ.get(RAY_CLUSTER_SWITCH)
    previous = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[RAY_CLUSTER_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous
        if previous_env is None:
            os.environ.pop(RAY_CLUSTER_SWITCH, None)
        else:
            os.environ[RAY_CLUSTER_SWITCH] = previous_env
