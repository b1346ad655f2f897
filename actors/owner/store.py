"""The owner's store: the narrow interface its core needs (``OwnerStore``), the Redis
implementation with the one-round-trip group commit (``RedisOwnerStore``), and the one way
to read committed SKU state (``read_skus``). The in-memory implementation, for unit
tests, is ``actors.owner.memory_store``; ``tests/contract`` holds both to one suite.

Redis keys (names in ``actors.infra.keys``; ``ns`` is ``StoreConfig.namespace``):

- ``ns:skus``                      set of every SKU in the catalogue
- ``ns:sku:{sku}:state``           hash: on_hand, reserved, sold, version, held, inbound,
                                   settings
- ``ns:sku:{sku}:lines``           hash: one field per order line / restock / adjustment,
                                   the decision record that makes retries idempotent
- ``ns:sku:{sku}:oversold``        hash: channel -> orders the platform accepted that the
                                   pool could not cover (the count flashstock exists to
                                   keep at zero)
- ``ns:ledger``                    stream: one entry per committed batch (audit trail):
                                   ``epoch``, ``lines`` (a line per changed record:
                                   lines key, field, record; built inside the script)
                                   and ``ledgers`` (a line per touched SKU: sku,
                                   on_hand, reserved, sold, version); read back by
                                   ``decode_ledger_entry``
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

from collections.abc import Mapping, Sequence
from typing import Protocol

import redis

from actors.infra import keys
from actors.infra.codec import (
    LedgerEntry,
    decode_ledger,
    decode_ledger_entry,
    decode_record,
    decode_settings,
    encode_inbound,
    encode_settings,
    text,
)
from actors.infra.redis_client import RedisClient, connect, single_server
from actors.infra.settings import StoreConfig
from actors.owner.batch import (
    CommitBatch,
    LayoutMismatchError,
    OwnedState,
    OwnerFencedError,
    SentCommit,
    fence_lua,
    layout_mismatch,
    raise_if_fenced,
)
from actors.owner.removal import remove_sku
from policies.ledger import Ledger, LineRecord, SkuSettings
from policies.routing import owner_of

__all__ = [
    "CommitBatch",
    "LayoutMismatchError",
    "LedgerStore",
    "OwnedState",
    "OwnerFencedError",
    "OwnerStore",
    "RedisOwnerStore",
    "SentCommit",
    "read_skus",
    "sku_names",
]

# Lua's unpack() is limited to a few thousand values; HSET arguments go in chunks.
_COMMIT_LUA = (
    fence_lua(epoch_key=1, epoch=2, layout_key=6, shards=7)
    + r"""
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
)


class OwnerStore(Protocol):
    """What a ``SkuOwner`` needs of its store. Every commit is fenced: refused with
    ``OwnerFencedError`` once a newer epoch of the owner was taken, or once the deployment
    runs another shard count than the store's config."""

    def claim_layout(self) -> None:
        """Record the config's shard count as the deployment's if none is recorded;
        ``LayoutMismatchError`` if another is."""

    def take_epoch(self, index: int) -> int:
        """A new, higher epoch for owner ``index``: older incarnations are fenced from now."""

    def load(self, index: int) -> OwnedState:
        """The committed state of every SKU owner ``index`` holds."""

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        """Start committing ``batch``; at most one commit in flight per caller."""

    def finish_commit(self, sent: SentCommit) -> None:
        """Return once the sent batch is durable (all of it, or none when it raises):
        ``OwnerFencedError`` when fenced, another error when the outcome is unknown."""

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        """Take ``sku`` out of the catalogue with its state, line records and oversold
        counts, fenced like a commit, and note it in the ledger stream (``removed``). The
        owner decides first (``policies.catalogue``) and calls it with no commit in flight."""

    def drop_connection(self) -> None:
        """Forget the connection after a failed commit (its replies are out of step)."""

    def ping(self) -> bool:
        """Whether the store answers (health checks)."""


# ---- reading committed state, the one way --------------------------------------------------


def sku_names(client: RedisClient, config: StoreConfig) -> list[str]:
    """Every SKU of the catalogue of ``config``'s namespace, sorted."""
    return sorted(text(sku) for sku in _members(client.smembers(keys.skus(config.namespace))))


def read_skus(
    client: RedisClient, config: StoreConfig, skus: Sequence[str] | None = None
) -> dict[str, tuple[Ledger, SkuSettings]]:
    """The committed ledger and settings of ``skus`` (every SKU of the catalogue when None);
    unknown SKUs are absent. Pipelined, 200 SKUs per round trip."""
    wanted = sku_names(client, config) if skus is None else list(skus)
    found: dict[str, tuple[Ledger, SkuSettings]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        pipe = client.pipeline(transaction=False)
        for sku in chunk:
            pipe.hgetall(keys.sku_state(config.namespace, sku))
        for sku, raw in zip(chunk, pipe.execute(), strict=True):
            decoded = _decode_state(sku, raw)
            if decoded is not None:
                found[sku] = decoded
    return found


def read_sku_states(
    client: RedisClient, config: StoreConfig, skus: Sequence[str]
) -> dict[str, tuple[Ledger, SkuSettings, dict[str, int]]]:
    """``read_skus`` with each SKU's oversold counts (channel -> orders), in the same
    pipelined round trips: what a stock query shows, read without asking an owner."""
    found: dict[str, tuple[Ledger, SkuSettings, dict[str, int]]] = {}
    for start in range(0, len(skus), _CHUNK):
        chunk = skus[start : start + _CHUNK]
        pipe = client.pipeline(transaction=True)  # state and oversold of one commit
        for sku in chunk:
            pipe.hgetall(keys.sku_state(config.namespace, sku))
            pipe.hgetall(keys.sku_oversold(config.namespace, sku))
        replies = pipe.execute()
        for position, sku in enumerate(chunk):
            decoded = _decode_state(sku, replies[2 * position])
            if decoded is not None:
                oversold = {text(k): int(text(v)) for k, v in _items(replies[2 * position + 1])}
                found[sku] = (*decoded, oversold)
    return found


def _decode_state(sku: str, raw: object) -> tuple[Ledger, SkuSettings] | None:
    """A SKU's state hash as its ledger and settings (None for a SKU never defined)."""
    state = _text_hash(raw)
    if "on_hand" not in state:
        return None
    return decode_ledger(sku, state), decode_settings(state["settings"])


_CHUNK = 200


def _text_hash(raw: object) -> dict[str, str]:
    """A Redis hash reply as text (redis-py returns bytes or str by connection option)."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected a hash reply, got {type(raw).__name__}")
    return {text(k): text(v) for k, v in raw.items()}


def _items(raw: object) -> list[tuple[object, object]]:
    """The field-value pairs of a Redis hash reply."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"expected a hash reply, got {type(raw).__name__}")
    return list(raw.items())


def _members(raw: object) -> list[object]:
    if not isinstance(raw, set | list | tuple):
        raise TypeError(f"expected a set reply, got {type(raw).__name__}")
    return list(raw)


# ---- the Redis layout and commit --------------------------------------------------------------


class LedgerStore:
    """Key names, loading and committing for one ``StoreConfig``, over a client the caller
    passes (the handoff and audits use it directly; owners use ``RedisOwnerStore``)."""

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

    def layout(self, client: RedisClient) -> int | None:
        """The shard count the deployment runs with (None before its first owner)."""
        current = client.get(self.layout_key)
        return None if current is None else int(text(current))

    def claim_layout(self, client: RedisClient) -> None:
        """Record this config's shard count as the deployment's if none is recorded;
        ``LayoutMismatchError`` if another is (reshard first: ``actors.owner.handoff``)."""
        client.set(self.layout_key, self.config.shard_count, nx=True)
        current = self.layout(client)
        if current != self.config.shard_count:
            raise layout_mismatch(self.config, current)

    def set_layout(self, client: RedisClient) -> None:
        """Make this config's shard count the deployment's: from now on owners of any
        other shard count are fenced at their next commit."""
        client.set(self.layout_key, self.config.shard_count)

    def take_epoch(self, client: RedisClient, index: int) -> int:
        """A new, higher epoch for owner ``index``: from now on older incarnations are fenced."""
        return int(text(client.incr(self.epoch_key(index))))

    def load(self, client: RedisClient, index: int) -> OwnedState:
        """The committed state of every SKU that owner ``index`` holds."""
        shards = self.config.shard_count
        owned = [sku for sku in sku_names(client, self.config) if owner_of(sku, shards) == index]
        # one pipelined round trip per chunk of SKUs: state, line records, oversold counts
        ledgers: dict[str, Ledger] = {}
        settings: dict[str, SkuSettings] = {}
        records: dict[str, dict[str, LineRecord]] = {}
        oversold: dict[str, dict[str, int]] = {}
        for start in range(0, len(owned), _CHUNK):
            chunk = owned[start : start + _CHUNK]
            pipe = client.pipeline(transaction=False)
            for sku in chunk:
                pipe.hgetall(self.state_key(sku))
                pipe.hgetall(self.lines_key(sku))
                pipe.hgetall(self.oversold_key(sku))
            replies = pipe.execute()
            for position, sku in enumerate(chunk):
                state_raw, lines_raw, oversold_raw = replies[3 * position : 3 * position + 3]
                decoded = _decode_state(sku, state_raw)
                if decoded is None:
                    continue
                ledgers[sku], settings[sku] = decoded
                records[sku] = {text(f): decode_record(text(r)) for f, r in _items(lines_raw)}
                if oversold_raw:
                    oversold[sku] = {text(k): int(text(v)) for k, v in _items(oversold_raw)}
        return OwnedState(ledgers, settings, records, oversold)

    def oversold(self, client: RedisClient, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        """The committed oversold counts (sku -> channel -> orders) of ``skus`` that have
        any, read from Redis in one pipelined round trip per chunk (no owner is asked)."""
        oversold: dict[str, dict[str, int]] = {}
        for start in range(0, len(skus), _CHUNK):
            chunk = skus[start : start + _CHUNK]
            pipe = client.pipeline(transaction=False)
            for sku in chunk:
                pipe.hgetall(self.oversold_key(sku))
            for sku, raw in zip(chunk, pipe.execute(), strict=True):
                if raw:
                    oversold[sku] = {text(k): int(text(v)) for k, v in _items(raw)}
        return oversold

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
                "held",
                str(ledger.held),
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
            _send(conn, "SCRIPT", "LOAD", _COMMIT_LUA)
            self._commit_sha = text(conn.read_response())
        _send(conn, "EVALSHA", self._commit_sha, 0, *args)
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
                _send(conn, "EVAL", _COMMIT_LUA, 0, *args)
                conn.read_response()
                self._commit_sha = None
        except redis.exceptions.ResponseError as error:
            raise_if_fenced(error)
            raise

    def ledger_entries(self, client: RedisClient, count: int = 1000) -> list[LedgerEntry]:
        """The newest ``count`` entries of the ledger stream, oldest first (for audits)."""
        entries = client.xrevrange(self.ledger_stream, count=count) or []
        return [decode_ledger_entry(text(entry_id), fields or {}) for entry_id, fields in reversed(entries)]


class RedisOwnerStore:
    """``OwnerStore`` on Redis: commits go over one held connection, so a commit can be
    sent before its reply is read (the next batch is decided meanwhile)."""

    def __init__(self, config: StoreConfig, client: redis.Redis | None = None) -> None:
        self.config = config
        self.layout = LedgerStore(config)
        self.client = client or single_server(
            connect(
                config.redis_url, socket_timeout=10.0, socket_connect_timeout=5.0, health_check_interval=30
            ),
            "the SKU owners' commit",
        )
        #: the connection commits go over, held so a commit can be sent before its reply
        self._conn: redis.Connection = self.client.connection_pool.get_connection()

    def claim_layout(self) -> None:
        self.layout.claim_layout(self.client)

    def set_layout(self) -> None:
        self.layout.set_layout(self.client)

    def take_epoch(self, index: int) -> int:
        return self.layout.take_epoch(self.client, index)

    def load(self, index: int) -> OwnedState:
        return self.layout.load(self.client, index)

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        return SentCommit(self.layout.send_commit(self._conn, epoch, index, batch))

    def finish_commit(self, sent: SentCommit) -> None:
        self.layout.finish_commit(self._conn, sent.args)

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        remove_sku(self.client, self.layout, epoch, index, sku)

    def drop_connection(self) -> None:
        self._conn.disconnect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.connection_pool.release(self._conn)
        self.client.close()


def _send(conn: redis.Connection, *args: object) -> None:
    conn.send_command(*args)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
