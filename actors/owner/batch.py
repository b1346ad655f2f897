"""What crosses the owner's store boundary: the batch to commit, the state loaded, the
ledger stream's entries as read back, and the store's refusals (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from actors.infra.settings import StoreConfig
from policies.ledger import Ledger, LineRecord, SkuSettings


class OwnerFencedError(RuntimeError):
    """A newer incarnation of this owner exists; this one must not write again."""


def fence_lua(epoch_key: int, epoch: int, layout_key: int, shards: int) -> str:
    """The start of every owner script that writes: refuse (``FENCED ...``, which
    ``raise_if_fenced`` turns into ``OwnerFencedError``) unless ``ARGV[epoch]`` is still
    the owner's epoch at ``ARGV[epoch_key]`` and the deployment still runs ``ARGV[shards]``
    shards (``ARGV[layout_key]``). The numbers are the arguments' positions."""
    return f"""
local current = redis.call('GET', ARGV[{epoch_key}])
if current ~= ARGV[{epoch}] then
  return redis.error_reply('FENCED epoch ' .. ARGV[{epoch}] .. ' is stale; current is ' .. tostring(current))
end
local layout = redis.call('GET', ARGV[{layout_key}])
if layout and layout ~= ARGV[{shards}] then
  return redis.error_reply('FENCED the deployment now runs ' .. layout .. ' shards, not ' .. ARGV[{shards}])
end
"""


def raise_if_fenced(error: Exception) -> None:
    """Raise ``OwnerFencedError`` if the store's script refused the caller as fenced."""
    if str(error).startswith("FENCED"):
        raise OwnerFencedError(str(error)) from error


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
    """The effects of one decided batch, waiting to be made durable."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    settings: dict[str, SkuSettings] = field(default_factory=dict)
    records: dict[str, list[str]] = field(default_factory=dict)  # sku -> [field, value, ...]
    new_skus: list[str] = field(default_factory=list)
    #: sku -> channel -> orders that channel accepted but the pool could not cover
    oversold: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (sku, placed_at, units, channel) of sales (+) and releases (-), for the forecaster
    sales: list[tuple[str, float, int, str]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.ledgers or self.settings or self.records or self.new_skus or self.oversold)

    def has_forecast_news(self) -> bool:
        """Whether the forecaster needs to hear of this batch (sales, stock or settings)."""
        return bool(self.sales or self.ledgers or self.settings)


@dataclass(slots=True)
class OwnedState:
    """What an owner loads from its store before it takes work."""

    ledgers: dict[str, Ledger]
    settings: dict[str, SkuSettings]
    records: dict[str, dict[str, LineRecord]]  # sku -> line field -> record
    oversold: dict[str, dict[str, int]]  # sku -> channel -> count


class SentCommit(NamedTuple):
    """A commit sent to the store whose reply has not been read yet."""

    #: the Redis script's arguments, resent after NOSCRIPT (empty in memory)
    args: list[str]
