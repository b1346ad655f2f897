"""Redis layout of the ledgers, and the one-round-trip group commit.

Keys (``ns`` is ``StoreConfig.namespace``):

- ``ns:skus``                      set of every SKU in the catalogue
- ``ns:sku:{sku}:state``           hash: on_hand, reserved, sold, version, inbound, settings
- ``ns:sku:{sku}:lines``           hash: one field per order line / restock / adjustment,
                                   the decision record that makes retries idempotent
- ``ns:sku:{sku}:oversold``        hash: channel -> orders the platform accepted that the
                                   pool could not cover (the count flashstock exists to
                                   keep at zero)
- ``ns:ledger``                    stream: one entry per committed batch (audit trail):
                                   ``epoch``, ``lines`` (a line per changed record:
                                   lines key, field, record; built inside the script)
                                   and ``ledgers`` (a line per touched SKU: sku,
                                   on_hand, reserved, sold, version)
- ``ns:epoch:{shards}:{index}``    the fencing epoch of owner ``index``
- ``ns:layout``                    the shard count the deployment runs with now

A commit is one Lua script: it checks the caller's epoch against the stored one and
the caller's shard count against the layout, and refuses (``FENCED``) if a newer owner
incarnation exists or the deployment was resharded; otherwise it writes every
changed state and line record and appends the batch to the ledger stream. Lua runs
atomically, so a crash leaves either the whole batch or none of it; with AOF
``appendfsync always`` the batch is on disk before the reply.

The script derives keys from arguments, which standalone (and replicated) Redis
allows; Redis Cluster would need the keys declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from actors.infra import keys
from actors.infra.codec import decode_ledger, decode_record, decode_settings, encode_inbound, encode_settings
from actors.infra.settings import StoreConfig
from policies.ledger import Ledger, LineRecord, SkuSettings
from policies.routing import owner_of

# Lua's unpack() is limited to a few thousand values; HSET arguments go in chunks.
_COMMIT_LUA = r"""
local current = redis.call('GET', ARGV[1])
if current ~= ARGV[2] then
  return redis.error_reply('FENCED epoch ' .. ARGV[2] .. ' is stale; current is ' .. tostring(current))
end
local layout = redis.call('GET', ARGV[6])
if layout and layout ~= ARGV[7] then
  return redis.error_reply('FENCED the deployment now runs ' .. layout .. ' shards, not ' .. ARGV[7])
end
local changes = {}
local i = 8
local n = #ARGV
while i <= n do
  local command = ARGV[i]
  local key = ARGV[i + 1]
  local first = i + 3
  local last = first + tonumber(ARGV[i + 2]) - 1
  local s = first
  while s <= last do
    local e = math.min(s + 3999, last)
    redis.call(command, key, unpack(ARGV, s, e))
    s = e + 1
  end
  if command == 'HSET' and string.sub(key, -6) == ':lines' then
    for j = first, last, 2 do
      changes[#changes + 1] = key .. '\t' .. ARGV[j] .. '\t' .. ARGV[j + 1]
    end
  end
  i = last + 1
end
redis.call('XADD', ARGV[3], 'MAXLEN', '~', ARGV[4], '*', 'epoch', ARGV[2],
           'lines', table.concat(changes, '\n'), 'ledgers', ARGV[5])
return 1
"""


class OwnerFencedError(RuntimeError):
    """A newer incarnation of this owner exists; this one must not write again."""


class LayoutMismatchError(RuntimeError):
    """The deployment runs with another shard count; owners of this one may not start."""


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
    """What an owner loads from Redis before it takes work."""

    ledgers: dict[str, Ledger]
    settings: dict[str, SkuSettings]
    records: dict[str, dict[str, LineRecord]]  # sku -> line field -> record
    oversold: dict[str, dict[str, int]]  # sku -> channel -> count


class LedgerStore:
    """Key names, loading and committing for one ``StoreConfig``."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        ns = config.namespace
        self.skus_key = keys.skus(ns)
        self.ledger_stream = keys.ledger_stream(ns)
        self._commit_sha: str | None = None

    def state_key(self, sku: str) -> str:
        return keys.sku_state(self.config.namespace, sku)

    def lines_key(self, sku: str) -> str:
        return keys.sku_lines(self.config.namespace, sku)

    def oversold_key(self, sku: str) -> str:
        return keys.sku_oversold(self.config.namespace, sku)

    def epoch_key(self, index: int) -> str:
        return keys.owner_epoch(self.config.namespace, self.config.shard_count, index)

    @property
    def layout_key(self) -> str:
        return keys.layout(self.config.namespace)

    def layout(self, client: redis.Redis) -> int | None:
        """The shard count the deployment runs with (None before its first owner)."""
        current = client.get(self.layout_key)
        return None if current is None else int(current)

    def claim_layout(self, client: redis.Redis) -> None:
        """Record this config's shard count as the deployment's if none is recorded;
        ``LayoutMismatchError`` if another is (reshard first: ``actors.owner.handoff``)."""
        client.set(self.layout_key, self.config.shard_count, nx=True)
        current = self.layout(client)
        if current != self.config.shard_count:
            raise LayoutMismatchError(
                f"namespace {self.config.namespace!r} runs with {current} shards, not "
                f"{self.config.shard_count}: start the owners with actors.owner.client.start_owners, "
                "which hands the SKUs over (actors.owner.handoff)"
            )

    def set_layout(self, client: redis.Redis) -> None:
        """Make this config's shard count the deployment's: from now on owners of any
        other shard count are fenced at their next commit."""
        client.set(self.layout_key, self.config.shard_count)

    def take_epoch(self, client: redis.Redis, index: int) -> int:
        """A new, higher epoch for owner ``index``: from now on older incarnations are fenced."""
        return int(client.incr(self.epoch_key(index)))

    def load(self, client: redis.Redis, index: int) -> OwnedState:
        """The committed state of every SKU that owner ``index`` holds."""
        skus = sorted(
            sku
            for sku in (s.decode() for s in client.smembers(self.skus_key))
            if owner_of(sku, self.config.shard_count) == index
        )
        ledgers: dict[str, Ledger] = {}
        settings: dict[str, SkuSettings] = {}
        records: dict[str, dict[str, LineRecord]] = {}
        oversold: dict[str, dict[str, int]] = {}
        for start in range(0, len(skus), 200):
            chunk = skus[start : start + 200]
            pipe = client.pipeline(transaction=False)
            for sku in chunk:
                pipe.hgetall(self.state_key(sku))
                pipe.hgetall(self.lines_key(sku))
                pipe.hgetall(self.oversold_key(sku))
            replies = pipe.execute()
            for position, sku in enumerate(chunk):
                state_raw, lines_raw, oversold_raw = replies[3 * position : 3 * position + 3]
                state = {k.decode(): v.decode() for k, v in state_raw.items()}
                if "on_hand" not in state:
                    continue
                ledgers[sku] = decode_ledger(sku, state)
                settings[sku] = decode_settings(state["settings"])
                records[sku] = {
                    line_field.decode(): decode_record(raw.decode()) for line_field, raw in lines_raw.items()
                }
                if oversold_raw:
                    oversold[sku] = {k.decode(): int(v) for k, v in oversold_raw.items()}
        return OwnedState(ledgers, settings, records, oversold)

    def commit_args(self, epoch: int, index: int, batch: CommitBatch) -> list[str]:
        """Arguments of the commit script for ``batch``."""
        args: list[str] = [
            self.epoch_key(index),
            str(epoch),
            self.ledger_stream,
            str(self.config.ledger_stream_maxlen),
            "\n".join(
                f"{sku}\t{x.on_hand}\t{x.reserved}\t{x.sold}\t{x.version}" for sku, x in batch.ledgers.items()
            ),
            self.layout_key,
            str(self.config.shard_count),
        ]
        for sku, ledger in batch.ledgers.items():
            fields = [
                "on_hand",
                str(ledger.on_hand),
                "reserved",
                str(ledger.reserved),
                "sold",
                str(ledger.sold),
                "version",
                str(ledger.version),
                "inbound",
                encode_inbound(ledger.inbound) if ledger.inbound else "[]",
            ]
            if sku in batch.settings:
                fields += ["settings", encode_settings(batch.settings[sku])]
            args += ["HSET", self.state_key(sku), str(len(fields)), *fields]
        for sku, settings in batch.settings.items():
            if sku not in batch.ledgers:
                args += ["HSET", self.state_key(sku), "2", "settings", encode_settings(settings)]
        for sku, pairs in batch.records.items():
            args += ["HSET", self.lines_key(sku), str(len(pairs)), *pairs]
        for sku, counts in batch.oversold.items():
            pairs = [item for channel, count in counts.items() for item in (channel, str(count))]
            args += ["HSET", self.oversold_key(sku), str(len(pairs)), *pairs]
        if batch.new_skus:
            args += ["SADD", self.skus_key, str(len(batch.new_skus)), *batch.new_skus]
        return args

    def send_commit(self, conn: redis.Connection, epoch: int, index: int, batch: CommitBatch) -> list[str]:
        """Send the commit of ``batch`` on ``conn`` without waiting for the reply, so the
        caller can decide its next batch while Redis applies and fsyncs this one.
        Returns the arguments, which ``finish_commit`` needs to resend after NOSCRIPT."""
        args = self.commit_args(epoch, index, batch)
        if self._commit_sha is None:
            conn.send_command("SCRIPT", "LOAD", _COMMIT_LUA)
            self._commit_sha = str(_as_text(conn.read_response()))
        conn.send_command("EVALSHA", self._commit_sha, 0, *args)
        return args

    def finish_commit(self, conn: redis.Connection, args: list[str]) -> None:
        """Wait for the reply of a sent commit. Returns when the batch is durable; raises
        ``OwnerFencedError`` when a newer owner exists, another error when the outcome
        is unknown (the caller must then reload its state from Redis)."""
        try:
            try:
                conn.read_response()
            except redis.exceptions.NoScriptError:
                # Redis restarted and lost its script cache; the batch was not applied.
                conn.send_command("EVAL", _COMMIT_LUA, 0, *args)
                conn.read_response()
                self._commit_sha = None
        except redis.exceptions.ResponseError as error:
            _raise_if_fenced(error)
            raise

    def ledger_events(self, client: redis.Redis, count: int = 1000) -> list[dict[str, Any]]:
        """The newest ``count`` entries of the ledger stream, oldest first (for audits)."""
        entries = client.xrevrange(self.ledger_stream, count=count)
        return [
            {"id": entry_id.decode(), **{k.decode(): v.decode() for k, v in fields.items()}}
            for entry_id, fields in reversed(entries)
        ]


def _as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _raise_if_fenced(error: redis.exceptions.ResponseError) -> None:
    if str(error).startswith("FENCED"):
        raise OwnerFencedError(str(error)) from error
