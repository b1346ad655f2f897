"""What every benchmark runs on: a throw-away Redis (or ``REDIS_URL``), or a throw-away
local Redis Cluster, and a local Ray."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from actors.infra.local_cluster import LocalCluster
from actors.infra.runtime import guard_durability, ray_for, redis_for

#: the local Redis Cluster a benchmark starts: primaries, and replicas of each
CLUSTER_PRIMARIES = 3
CLUSTER_REPLICAS = 1


@contextlib.contextmanager
def bench_redis() -> Iterator[tuple[str, Path]]:
    """``(redis_url, scratch directory)``: ``REDIS_URL`` when set, else an embedded
    redis-server (AOF ``appendfsync always``) in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="flashstock-bench-") as tmp, redis_for(Path(tmp)) as url:
        yield url, Path(tmp)


@contextlib.contextmanager
def bench_redis_cluster() -> Iterator[str]:
    """The ``redis+cluster://`` URL of a local Redis Cluster started for the benchmark
    (``LocalCluster``: ``CLUSTER_PRIMARIES`` primaries with ``CLUSTER_REPLICAS`` replica
    each, every node AOF ``appendfsync always``, so every commit is fsynced on its primary
    and waited for on a replica), checked by the owners' durability guard, in a temporary
    directory removed afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="flashstock-bench-") as tmp,
        LocalCluster(Path(tmp), masters=CLUSTER_PRIMARIES, replicas=CLUSTER_REPLICAS) as cluster,
    ):
        guard_durability(cluster.url)
        yield cluster.url


@contextlib.contextmanager
def bench_runtime(log_level: str | None) -> Iterator[str]:
    """``bench_redis`` plus a local Ray of two CPUs (or ``RAY_ADDRESS``): the Redis URL."""
    with bench_redis() as (url, _), ray_for(num_cpus=2, log_level=log_level):
        yield url
