"""ChannelSync's store: it reads the committed stock and follows the ledger logs (both
written by the SKU owners, one log per partition: ``actors.owner.store``), and publishes
the quantities each platform may show.

A position in the logs is one entry id per partition's log, joined by commas (``START``
for none); ``RedisSyncStore.read_ledger`` returns entries whose ``entry_id`` is the
position after them, so a caller resumes from the last entry it took.

``RedisSyncStore`` publishes into a hash per channel (``{ns:sync}:visible:<channel>``: sku
-> units) and appends every change to ``{ns:sync}:visible-changes`` for platform
connectors to follow, in one transaction (one hash tag: one Redis Cluster slot).
``InMemorySyncStore`` reads an in-memory owner store's data
(``actors.owner.memory_store.MemoryLedgers``), for unit tests;
``tests/contract/test_sync_store_contract.py`` holds both to one suite.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from redis.cluster import RedisCluster

from actors.infra import keys
from actors.infra.atomic_write import atomic_write
from actors.infra.codec import LedgerEntry, decode_ledger_entry, text
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import StoreConfig
from actors.owner.memory_store import MemoryLedgers
from actors.owner.reads import log_keys, read_skus

#: (stream, entry id, fields) of one stream entry read
_StreamEntry = tuple[str, str, dict[object, object]]
#: the stream position before any entry
START = "0-0"
#: the most ledger entries one read returns
READ_COUNT = 500


class SyncStore(Protocol):
    def snapshot(self) -> tuple[str, dict[str, int]]:
        """The position of the newest ledger entry (``START`` when none), then every SKU's
        committed available units: entries after that position are news to the caller."""

    def read_ledger(self, after: str, block_ms: int = 0) -> list[LedgerEntry]:
        """Ledger entries after position ``after``, oldest first (at most ``READ_COUNT``);
        waits up to ``block_ms`` for the first when there is none (0: no wait)."""

    def publish(self, changes: Sequence[tuple[str, str, int]]) -> None:
        """Make (channel, sku, visible units) known to the platforms, all or none."""

    def visible(self, channel: str) -> dict[str, int]:
        """What was published for ``channel``: sku -> units."""

    def ping(self) -> bool:
        """Whether the store answers (health checks)."""


class RedisSyncStore:
    def __init__(self, config: StoreConfig, client: RedisClient | None = None) -> None:
        self.config = config
        self.client = client or connect(config.redis_url, socket_timeout=30.0)
        self.streams = log_keys(config)

    def snapshot(self) -> tuple[str, dict[str, int]]:
        pipe = self.client.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xrevrange(stream, count=1)
        positions = [text(last[0][0]) if last else START for last in pipe.execute()]
        cursor = START if all(p == START for p in positions) else ",".join(positions)
        skus = read_skus(self.client, self.config)
        return cursor, {sku: ledger.available for sku, (ledger, _) in skus.items()}

    def read_ledger(self, after: str, block_ms: int = 0) -> list[LedgerEntry]:
        positions = after.split(",") if after != START else [START] * len(self.streams)
        if len(positions) != len(self.streams):
            raise ValueError(
                f"a ledger position of {len(self.streams)} partitions was expected, got {after!r}"
            )
        index = {stream: n for n, stream in enumerate(self.streams)}
        found = [
            (_id_order(entry_id), index[stream], entry_id, fields)
            for stream, entry_id, fields in self._read_streams(positions, block_ms)
        ]
        entries = []
        for _, partition, entry_id, fields in sorted(found, key=lambda item: item[:2]):
            positions[partition] = entry_id
            entries.append(decode_ledger_entry(",".join(positions), fields))
        return entries

    def _read_streams(self, positions: list[str], block_ms: int) -> list[_StreamEntry]:
        """(stream, entry id, fields) after each partition's position. A server: one
        ``XREAD`` over every log, blocking up to ``block_ms``. A cluster refuses a read
        across slots, so each log is read on its own (``XRANGE`` after its position, in one
        pipeline the client splits by node); with nothing new it waits ``block_ms`` once
        and reads again (a poll every ``block_ms`` while idle)."""
        if not isinstance(self.client, RedisCluster):
            # BLOCK 0 would wait forever in Redis: 0 here means "do not wait"
            replies = self.client.xread(
                dict(zip(self.streams, positions, strict=True)), count=READ_COUNT, block=block_ms or None
            )
            return _xread_streams(replies)
        found = self._range_after(positions)
        if not found and block_ms:
            time.sleep(block_ms / 1000)
            found = self._range_after(positions)
        return found

    def _range_after(self, positions: list[str]) -> list[_StreamEntry]:
        pipe = self.client.pipeline(transaction=False)
        for stream, position in zip(self.streams, positions, strict=True):
            pipe.xrange(stream, f"({position}", "+", count=READ_COUNT)
        return [
            (stream, text(entry_id), dict(fields or {}))
            for stream, entries in zip(self.streams, pipe.execute(), strict=True)
            for entry_id, fields in entries
        ]

    def publish(self, changes: Sequence[tuple[str, str, int]]) -> None:
        if not changes:
            return
        ns = self.config.namespace

        def queue(pipe: Any) -> None:
            for channel, sku, units in changes:
                pipe.hset(keys.visible(ns, channel), sku, units)
                pipe.xadd(
                    keys.visible_changes(ns),
                    {"channel": channel, "sku": sku, "visible": units},
                    maxlen=100_000,
                    approximate=True,
                )

        # repeatable: each change carries the quantity itself, not a difference
        atomic_write(self.client, keys.visible_changes(ns), queue, repeatable=True)

    def visible(self, channel: str) -> dict[str, int]:
        raw = self.client.hgetall(keys.visible(self.config.namespace, channel)) or {}
        return {text(sku): int(text(units)) for sku, units in raw.items()}

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()


def _id_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def _xread_streams(replies: object) -> list[tuple[str, str, dict[object, object]]]:
    """The (stream, entry id, fields) of an XREAD reply on several streams."""
    if isinstance(replies, dict):
        streams = list(replies.items())
    elif isinstance(replies, list):
        streams = [(pair[0], pair[1]) for pair in replies]
    else:  # None: nothing arrived before the block timed out
        return []
    return [
        (text(stream), text(entry_id), dict(fields or {}))
        for stream, entries in streams
        for entry_id, fields in entries
    ]


def _xread_entries(replies: object) -> list[tuple[str, dict[object, object]]]:
    """The (entry id, fields) of an XREAD reply on one stream (redis-py types it loosely:
    a list of [stream, entries], or a dict stream -> entries under RESP3)."""
    if isinstance(replies, dict):
        streams = list(replies.values())
    elif isinstance(replies, list):
        streams = [pair[1] for pair in replies]
    else:  # None: nothing arrived before the block timed out
        return []
    return [(text(entry_id), dict(fields or {})) for entries in streams for entry_id, fields in entries]


class InMemorySyncStore:
    """``SyncStore`` over the data of in-memory owner stores; published quantities are
    kept here, every change in ``changes``."""

    def __init__(self, data: MemoryLedgers) -> None:
        self.data = data
        self.published: dict[str, dict[str, int]] = {}
        self.changes: list[tuple[str, str, int]] = []

    def snapshot(self) -> tuple[str, dict[str, int]]:
        with self.data.lock:
            cursor = self.data.log[-1].entry_id if self.data.log else START
        skus = self.data.read_skus()
        return cursor, {sku: ledger.available for sku, (ledger, _) in skus.items()}

    def read_ledger(self, after: str, block_ms: int = 0) -> list[LedgerEntry]:
        del block_ms  # nothing arrives while a single-threaded test waits
        position = int(after.split("-", 1)[0])  # in-memory entry ids are "n-0", n from 1
        with self.data.lock:
            return self.data.log[position : position + READ_COUNT]

    def publish(self, changes: Sequence[tuple[str, str, int]]) -> None:
        for channel, sku, units in changes:
            self.published.setdefault(channel, {})[sku] = units
        self.changes.extend(changes)

    def visible(self, channel: str) -> dict[str, int]:
        return dict(self.published.get(channel, {}))

    def ping(self) -> bool:
        return True
