"""What every benchmark runs on: a throw-away Redis (or ``REDIS_URL``) and a local Ray."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from actors.infra.runtime import ray_for, redis_for


@contextlib.contextmanager
def bench_redis() -> Iterator[tuple[str, Path]]:
    """``(redis_url, scratch directory)``: ``REDIS_URL`` when set, else an embedded
    redis-server (AOF ``appendfsync always``) in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="flashstock-bench-") as tmp, redis_for(Path(tmp)) as url:
        yield url, Path(tmp)


@contextlib.contextmanager
def bench_runtime(log_level: str | None) -> Iterator[str]:
    """``bench_redis`` plus a local Ray of two CPUs (or ``RAY_ADDRESS``): the Redis URL."""
    with bench_redis() as (url, _), ray_for(num_cpus=2, log_level=log_level):
        yield url
