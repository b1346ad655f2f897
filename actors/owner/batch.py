"""What crosses the owner's store boundary: the store's interface (``OwnerStore``), the
batch to commit, the state loaded, and the store's refusals (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from actors.infra.settings import StoreConfig
from policies.ledger import Ledger, LineRecord, SkuSettings


class OwnerFencedError(RuntimeError):
    """A newer incarnation of this owner exists; this one must not write again."""


#: The start of every owner script that writes a partition (its fence hash is KEYS[1],
#: the caller's epoch ARGV[1], its shard count ARGV[2]): refuse (``FENCED ...``, which
#: ``raise_if_fenced`` turns into ``OwnerFencedError``) if the deployment was resharded
#: since (the partition's ``shards``) or another epoch owns the partition now.
FENCE_LUA = r"""
local fence = redis.call('HMGET', KEYS[1], 'epoch', 'shards')
if fence[2] and fence[2] ~= ARGV[2] then
  return redis.error_reply('FENCED the deployment now runs ' .. fence[2] .. ' shards, not ' .. ARGV[2])
end
if fence[1] ~= ARGV[1] then
  local current = tostring(fence[1] or 'nil')
  return redis.error_reply('FENCED epoch ' .. ARGV[1] .. ' is stale; current is ' .. current)
end
"""


def raise_if_fenced(error: Exception) -> None:
    """Raise ``OwnerFencedError`` if the store's script refused the caller as fenced."""
    if str(error).startswith("FENCED"):
        raise OwnerFencedError(str(error)) from error


class PartitionCountError(RuntimeError):
    """The deployment's data was written with another partition count."""


class BucketSpanError(RuntimeError):
    """The deployment's line buckets were written with another ``bucket_seconds``: their
    names would not be found, so redelivered lines would be decided afresh."""


def bucket_span_mismatch(config: StoreConfig, recorded: int) -> BucketSpanError:
    """The error of an owner of ``config`` on a namespace whose buckets span ``recorded``
    seconds (one wording for every store)."""
    return BucketSpanError(
        f"namespace {config.namespace!r} was written with line buckets of {recorded} s, not "
        f"{config.bucket_seconds} s (FLASHSTOCK_BUCKET_SECONDS / --bucket-seconds): the span is "
        "fixed for the life of a namespace's data, docs/storage.md#retention"
    )


class LayoutMismatchError(RuntimeError):
    """The deployment runs with another shard count; owners of this one may not start."""


def layout_mismatch(config: StoreConfig, current: int | None) -> LayoutMismatchError:
    """The error of an owner of ``config`` starting while the deployment runs ``current``
    shards (one wording for every store)."""
    return LayoutMismatchError(
        f"namespace {config.namespace!r} runs with {current} shards, not "
        f"{config.shard_count}: start the owners with actors.owner.client.start_owners, "
        "which hands the SKUs over (actors.owner.handoff)"
    )


@dataclass(slots=True)
class CommitBatch:
    """The effects of one decided batch, waiting to be made durable. ``committed_at`` is
    the owner's clock when it decided the batch (epoch seconds): the batch's line records
    go to that time's bucket (``StoreConfig.bucket_seconds``) and expire with it."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    settings: dict[str, SkuSettings] = field(default_factory=dict)
    records: dict[str, list[str]] = field(default_factory=dict)  # sku -> [field, value, ...]
    #: sku -> fields of lines that were open reservations before and are not any more
    closed: dict[str, list[str]] = field(default_factory=dict)
    committed_at: float = 0.0
    new_skus: list[str] = field(default_factory=list)
    #: sku -> channel -> orders that channel accepted but the pool could not cover
    oversold: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (sku, placed_at, units, channel) of sales (+) and releases (-), for the forecaster
    sales: list[tuple[str, float, int, str]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.ledgers or self.settings or self.records or self.closed or self.new_skus or self.oversold
        )

    def has_forecast_news(self) -> bool:
        """Whether the forecaster needs to hear of this batch (sales, stock or settings)."""
        return bool(self.sales or self.ledgers or self.settings)


@dataclass(slots=True)
class OwnedState:
    """What an owner loads from its store before it takes work: not its history, only
    what it needs to decide (older line records are looked up on a miss,
    ``OwnerStore.lookup_lines``)."""

    ledgers: dict[str, Ledger]
    settings: dict[str, SkuSettings]
    records: dict[str, dict[str, LineRecord]]  # sku -> line field -> open reservation
    oversold: dict[str, dict[str, int]]  # sku -> channel -> count
    #: the line buckets of the owner's partitions that exist in the store, ascending
    buckets: list[int] = field(default_factory=list)


class SentCommit(NamedTuple):
    """A commit sent to the store whose reply has not been read yet."""

    #: per partition, the Redis script's keys and arguments, resent after NOSCRIPT
    #: (empty in memory)
    calls: list[tuple[list[str], list[str]]]
    #: the partition of each call
    partitions: list[int]
    #: on a Redis Cluster, one partition per primary with a replica: its connection
    #: carries a ``WAIT`` for the replica after the scripts (read after their replies)
    waits: tuple[int, ...] = ()


class OwnerStore(Protocol):
    """What a ``SkuOwner`` needs of its store. Every commit is fenced: refused with
    ``OwnerFencedError`` once a newer epoch of the owner was taken, or once the deployment
    runs another shard count than the store's config."""

    def now(self) -> float:
        """The store's clock (epoch seconds): it dates commits, whose line records expire
        ``StoreConfig.retention_seconds`` after their bucket."""

    def claim_layout(self) -> None:
        """Record the config's shard and partition counts as the deployment's if none is
        recorded, and its line buckets' span; ``LayoutMismatchError`` if another shard count
        is, ``PartitionCountError`` if another partition count is, ``BucketSpanError`` if
        another bucket span is (a namespace written before the span was recorded has 3600)."""

    def take_epoch(self, index: int) -> int:
        """A new, higher epoch for owner ``index``: older incarnations are fenced from now."""

    def load(self, index: int) -> OwnedState:
        """What owner ``index`` needs to decide: ledgers, settings, oversold counts and
        open reservations of its partitions, and which line buckets exist."""

    def lookup_lines(
        self, wanted: Mapping[tuple[str, str], Sequence[int]]
    ) -> dict[tuple[str, str], LineRecord]:
        """The newest record of each ``(sku, line field)`` among its open reservation and
        the given buckets; lines with none are absent. One round trip."""

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        """Start committing ``batch``; at most one commit in flight per caller."""

    def finish_commit(self, sent: SentCommit) -> None:
        """Return once the sent batch is durable (every partition's part of it):
        ``OwnerFencedError`` when fenced, another error when the outcome is unknown."""

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        """Take ``sku`` out of the catalogue with its state, open reservations and oversold
        counts, fenced like a commit, and note it in its partition's log (``removed``). The
        owner decides first (``policies.catalogue``) and calls it with no commit in flight."""

    def drop_connection(self) -> None:
        """Forget the connection after a failed commit (its replies are out of step)."""

    def ping(self) -> bool:
        """Whether the store answers (health checks)."""
