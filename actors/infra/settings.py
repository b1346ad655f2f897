"""Where flashstock keeps its data and how it is split: one value passed to every actor."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policies.routing import DEFAULT_PARTITIONS

DEFAULT_NAMESPACE = "fs"
#: the Ray namespace of every named flashstock actor, so any process (a Serve replica,
#: another driver) finds them by name
RAY_NAMESPACE = "flashstock"
DEFAULT_SHARD_COUNT = 2
#: how long a settled order line's decision stays retrievable after its bucket ends: 7
#: days, longer than the platforms' redelivery horizons (a platform retries a webhook for
#: hours to a day or two; an operator replays a day's orders), ``docs/storage.md``
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0
#: the span of commit time of one line bucket (one hash, one EXPIREAT): an hour
DEFAULT_BUCKET_SECONDS = 3600
#: the shortest retention an operator may set: a platform's ordinary retries (seconds to a
#: minute apart) must find their first decision, or a redelivered order is decided afresh
MIN_RETENTION_SECONDS = 60.0


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
    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    bucket_seconds: int = DEFAULT_BUCKET_SECONDS
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
        if not math.isfinite(self.retention_seconds):
            raise ValueError(f"retention_seconds must be a finite number, got {self.retention_seconds}")
        if self.bucket_seconds < 1 or self.retention_seconds < self.bucket_seconds:
            raise ValueError(
                f"bucket_seconds ({self.bucket_seconds}) must be >= 1 and at most "
                f"retention_seconds ({self.retention_seconds})"
            )
        if min(self.recent_lines, self.recent_seconds, self.clock_skew_seconds) < 0:
            raise ValueError("recent_lines, recent_seconds and clock_skew_seconds must be >= 0")
        if not self.namespace or ":" in self.namespace or "{" in self.namespace:
            raise ValueError(f"namespace must be non-empty without ':' or '{{', got {self.namespace!r}")


def retention_problem(
    retention_seconds: float,
    bucket_seconds: int,
    names: tuple[str, str] = ("retention_seconds", "bucket_seconds"),
) -> str | None:
    """What is wrong with an operator's retention window and line bucket span (seconds),
    naming each by ``names`` (its option or environment variable); None when both are
    usable. ``StoreConfig`` alone accepts shorter windows (tests and ``bench retention``)."""
    retention, bucket = names
    if not math.isfinite(retention_seconds):  # nan passes every comparison below
        return f"{retention} must be a finite number of seconds, got {retention_seconds:g}"
    if retention_seconds < MIN_RETENTION_SECONDS:
        return (
            f"{retention} must be at least {MIN_RETENTION_SECONDS:g} seconds, got {retention_seconds:g}: "
            "a platform's retries must find their first decision"
        )
    if bucket_seconds < 1 or bucket_seconds > retention_seconds:
        return (
            f"{bucket} must be within 1..{retention} ({retention_seconds:g}), got {bucket_seconds}: "
            "a bucket is a slice of the retention window"
        )
    return None


#: a directory of secret files, one per setting (``redis_url``, ``flashstock_tokens``, ...),
#: as Docker and Kubernetes mount them; read after the environment and ``.env``
SECRETS_DIR_ENV = "FLASHSTOCK_SECRETS_DIR"


class Settings(BaseSettings):
    """Every setting a flashstock process reads, in one typed place: the environment
    first, then a ``.env`` file in the working directory, then a secrets directory
    (``FLASHSTOCK_SECRETS_DIR``, one file per setting). Every command and every Ray worker
    and Serve replica reads them through ``current_settings()``; a command-line option,
    where one exists, wins over all of them. Unknown ``FLASHSTOCK_*`` names are ignored."""

    model_config = SettingsConfigDict(env_prefix="FLASHSTOCK_", env_file=".env", extra="ignore")

    #: ``REDIS_URL``: a real Redis to use instead of the embedded one: a server, or a Redis
    #: Cluster as ``redis+cluster://host:port[,host:port]`` (``actors.infra.redis_client``)
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "FLASHSTOCK_REDIS_URL")
    )
    #: ``FLASHSTOCK_NAMESPACE``: the key namespace and the actors' name prefix
    namespace: str = DEFAULT_NAMESPACE
    #: ``FLASHSTOCK_SHARDS``: the number of SKU owners (the same for every process)
    shards: int = Field(default=DEFAULT_SHARD_COUNT, ge=1)
    #: ``FLASHSTOCK_LOG_LEVEL`` and ``FLASHSTOCK_LOG_FORMAT`` (checked by
    #: ``actors.infra.logging``: the CLI refuses a wrong one, a worker warns and keeps INFO)
    log_level: str | None = None
    log_format: str | None = None
    #: ``FLASHSTOCK_TOKENS`` (``role:name:token,...``) and ``FLASHSTOCK_TOKENS_FILE`` (one per line)
    tokens: str = ""
    tokens_file: Path | None = None
    #: ``FLASHSTOCK_SECRETS_FILE``: the 0600 file ``serve`` writes for its replicas
    secrets_file: Path | None = None
    #: ``FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE``: non-public webhook targets allowed
    #: (``actors.alerts.webhooks.allowed_targets``)
    webhook_allow_private: str = ""
    #: ``FLASHSTOCK_RETENTION_SECONDS``: how long a settled order line's decision (and the
    #: channel's order index, the ledger log) stays retrievable, ``docs/storage.md``
    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    #: ``FLASHSTOCK_BUCKET_SECONDS``: the commit-time span of one line bucket; fixed for the
    #: life of a namespace's data (its buckets are named by it)
    bucket_seconds: int = DEFAULT_BUCKET_SECONDS

    @model_validator(mode="after")
    def _usable_retention(self) -> Settings:
        problem = retention_problem(
            self.retention_seconds,
            self.bucket_seconds,
            ("FLASHSTOCK_RETENTION_SECONDS", "FLASHSTOCK_BUCKET_SECONDS"),
        )
        if problem:
            raise ValueError(problem)
        return self

    @property
    def store(self) -> StoreConfig:
        """The deployment's store; ``ValueError`` without a ``redis_url``."""
        if not self.redis_url:
            raise ValueError("REDIS_URL is not set")
        return StoreConfig(
            self.redis_url,
            self.namespace,
            self.shards,
            retention_seconds=self.retention_seconds,
            bucket_seconds=self.bucket_seconds,
        )


class DeploymentSettings(Settings):
    """A cluster deployment's settings: the same sources, with ``REDIS_URL`` required (a
    deployment has no embedded Redis). What a Serve replica started by ``serve run`` /
    ``serve deploy`` / a KubeRay RayService, and ``flashstock up``/``down``, read.
    Secrets such as tokens are never passed as settings through Ray: they come from
    ``FLASHSTOCK_SECRETS_FILE`` (``serve_app.secrets``) or the secrets directory."""

    redis_url: str = Field(validation_alias=AliasChoices("REDIS_URL", "FLASHSTOCK_REDIS_URL"), min_length=1)


def current_settings() -> Settings:
    """This process's settings, read now (the environment can change between calls)."""
    return Settings(_secrets_dir=_secrets_dir())  # type: ignore[call-arg]  # pydantic-settings init option


def deployment_settings(**given: object) -> DeploymentSettings:
    """A deployment's settings; ``given`` (options from a command line) win.
    ``pydantic.ValidationError`` names what is missing or wrong."""
    return DeploymentSettings(_secrets_dir=_secrets_dir(), **given)  # type: ignore[call-arg, arg-type]


def _secrets_dir() -> Path | None:
    value = os.environ.get(SECRETS_DIR_ENV)
    return Path(value) if value else None


def tune_gc_for_throughput() -> None:
    """Make the cyclic garbage collector run rarely in a process on the order path (an
    owner, a channel's ingest, the HTTP replica, the forecaster).

    They allocate a few small objects per order line and keep many long-lived ones (an
    owner's line records, the forecaster's sales windows); with the default thresholds
    the collector runs every 700 allocations and rescans them: ~2.5 us of every ~8 us
    decision in an owner, and 15-16 us of CPU per order in ingest and owner together
    (both measured). Objects that exist now are frozen out of future scans; reference
    counting still frees everything that is not in a cycle.
    """
    import gc

    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)
