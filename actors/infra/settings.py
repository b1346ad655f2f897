"""Where flashstock keeps its data and how it is split: one value passed to every actor."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from policies.routing import DEFAULT_PARTITIONS

DEFAULT_NAMESPACE = "fs"
#: the Ray namespace of every named flashstock actor, so any process (a Serve replica,
#: another driver) finds them by name
RAY_NAMESPACE = "flashstock"
DEFAULT_SHARD_COUNT = 2


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The Redis server and key namespace of one flashstock deployment.

    ``shard_count`` is the number of SKU owners; ownership is ``owner_of(sku,
    shard_count, partitions)``, so every process of a deployment must use the same
    values. ``partitions`` is fixed for the life of the deployment's data (recorded in
    Redis on the first start); the shard count may change (a reshard moves partitions
    between owners, never keys), up to ``partitions``.

    History (``docs/storage.md``): an owner keeps in memory its open reservations, the
    ``recent_lines`` newest line records and every record decided in the last
    ``recent_seconds``; older records stay in Redis, in hashes per ``bucket_seconds`` of
    commit time, for ``retention_seconds`` (default 7 days: longer than the platforms'
    redelivery horizons), and are looked up when a line id is not in memory. A
    reservation's first record is looked for from ``placed_at - clock_skew_seconds`` on
    (how far a platform's clock may run ahead of the owner's).
    """

    redis_url: str
    namespace: str = DEFAULT_NAMESPACE
    shard_count: int = DEFAULT_SHARD_COUNT
    partitions: int = DEFAULT_PARTITIONS
    retention_seconds: float = 7 * 24 * 3600.0
    bucket_seconds: int = 3600
    recent_lines: int = 200_000
    recent_seconds: float = 20.0
    clock_skew_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.shard_count < 1:
            raise ValueError(f"shard_count must be >= 1, got {self.shard_count}")
        if not 1 <= self.partitions <= 4096:
            raise ValueError(f"partitions must be within 1..4096, got {self.partitions}")
        if self.shard_count > self.partitions:
            raise ValueError(
                f"shard_count {self.shard_count} exceeds the {self.partitions} partitions "
                "(an owner holds whole partitions)"
            )
        if self.bucket_seconds < 1 or self.retention_seconds < self.bucket_seconds:
            raise ValueError(
                f"bucket_seconds ({self.bucket_seconds}) must be >= 1 and at most "
                f"retention_seconds ({self.retention_seconds})"
            )
        if min(self.recent_lines, self.recent_seconds, self.clock_skew_seconds) < 0:
            raise ValueError("recent_lines, recent_seconds and clock_skew_seconds must be >= 0")
        if not self.namespace or ":" in self.namespace or "{" in self.namespace:
            raise ValueError(f"namespace must be non-empty without ':' or '{{', got {self.namespace!r}")


class DeploymentSettings(BaseSettings):
    """A cluster deployment's settings, from the environment or a ``.env`` file in the
    working directory (environment first): what a Serve replica started by ``serve run`` /
    ``serve deploy`` / a KubeRay RayService, and ``flashstock up``/``down``, read.
    Secrets are never settings: they come from ``FLASHSTOCK_SECRETS_FILE``
    (``serve_app.secrets``)."""

    model_config = SettingsConfigDict(env_prefix="FLASHSTOCK_", env_file=".env", extra="ignore")

    #: the Redis every node reaches (``REDIS_URL``); a deployment has no embedded Redis
    redis_url: str = Field(validation_alias=AliasChoices("REDIS_URL", "FLASHSTOCK_REDIS_URL"), min_length=1)
    #: ``FLASHSTOCK_NAMESPACE``: the key namespace and the actors' name prefix
    namespace: str = DEFAULT_NAMESPACE
    #: ``FLASHSTOCK_SHARDS``: the number of SKU owners (the same for every process)
    shards: int = Field(default=DEFAULT_SHARD_COUNT, ge=1)

    @property
    def store(self) -> StoreConfig:
        return StoreConfig(self.redis_url, self.namespace, self.shards)


def redis_url_from_env() -> str | None:
    """``REDIS_URL`` when set: a real server to use instead of the embedded one."""
    return os.environ.get("REDIS_URL") or None


def tune_gc_for_throughput() -> None:
    """Make the cyclic garbage collector run rarely in an owner process.

    An owner allocates a few small objects per order line and keeps millions of line
    records; with the default thresholds the collector runs every 700 allocations and
    rescans them, which cost ~2.5 us of every ~8 us decision (measured). Objects that
    exist now are frozen out of future scans; reference counting still frees
    everything that is not in a cycle.
    """
    import gc

    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)
