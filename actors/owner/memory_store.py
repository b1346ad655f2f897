"""``OwnerStore`` in memory, for unit tests of the owner (and of ChannelSync, which reads
its ledger log): the same semantics as ``RedisOwnerStore`` without a server.

``MemoryLedgers`` plays the Redis server (the data every store of a deployment shares);
``InMemoryOwnerStore`` is one connection to it with one ``StoreConfig``, so two owners of
one shard, or of two layouts, are two stores over the same ``MemoryLedgers``. As in
Redis, each partition has a fence (epoch and shard count), and a commit is applied per
partition, each part whole or not at all, fenced, when it is sent (as Redis runs the
script when it arrives); its outcome is raised by ``finish_commit``. Line records are
kept encoded (``actors.infra.codec``) in buckets of commit time that expire after the
retention window (by ``MemoryLedgers.clock``), and in the open reservations.
``tests/contract/test_owner_store_contract.py`` holds both stores to the same suite.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from actors.infra.codec import LedgerCounters, LedgerEntry, decode_record
from actors.infra.settings import DEFAULT_BUCKET_SECONDS, StoreConfig
from actors.owner.batch import (
    CommitBatch,
    OwnedState,
    OwnerFencedError,
    PartitionCountError,
    SentCommit,
    bucket_span_mismatch,
    layout_mismatch,
)
from actors.owner.reads import bucket_of, oldest_retained_bucket
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from policies.routing import partition_of, partitions_of

_RESERVED_PREFIX = f"{LineStatus.RESERVED}|"


@dataclass
class MemoryLedgers:
    """What Redis holds for one namespace: ledgers, settings, line records (open ones,
    and by bucket), oversold counts, epochs, fences, layout and the ledger log (one entry
    per committed partition's part of a batch)."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    settings: dict[str, SkuSettings] = field(default_factory=dict)
    open: dict[tuple[str, str], str] = field(default_factory=dict)  # (sku, field) -> record
    #: (partition, bucket) -> (sku, field) -> record
    buckets: dict[tuple[int, int], dict[tuple[str, str], str]] = field(default_factory=dict)
    oversold: dict[str, dict[str, int]] = field(default_factory=dict)
    epochs: dict[tuple[int, int], int] = field(default_factory=dict)  # (shards, index) -> epoch
    #: partition -> {"epoch": ..., "shards": ...}
    fences: dict[int, dict[str, int]] = field(default_factory=dict)
    layout: int | None = None
    partitions: int | None = None
    #: the line buckets' span recorded on the first start (``ns:bucket-seconds``)
    bucket_span: int | None = None
    log: list[LedgerEntry] = field(default_factory=list)
    #: True while the "server" is down: every call raises ``ConnectionError``
    down: bool = False
    #: the "server's" clock, which expires line buckets (epoch seconds)
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the history settings of the deployment (``StoreConfig``; its stores set them)
    bucket_seconds: int = 3600
    retention_seconds: float = 7 * 24 * 3600.0

    def read_skus(self, skus: list[str] | None = None) -> dict[str, tuple[Ledger, SkuSettings]]:
        """Committed ledger and settings, as ``actors.owner.reads.read_skus`` reads them."""
        with self.lock:
            wanted = sorted(self.ledgers) if skus is None else skus
            return {
                sku: (self.ledgers[sku], self.settings[sku])
                for sku in wanted
                if sku in self.ledgers and sku in self.settings
            }

    @property
    def skus(self) -> set[str]:
        """The catalogue: every SKU with a ledger."""
        with self.lock:
            return set(self.ledgers)

    def record_of(self, sku: str, line_field: str) -> str | None:
        """The newest retained record of a line, encoded (its open reservation first)."""
        return self.line_text().get((sku, line_field))

    def line_records(self) -> dict[str, dict[str, LineRecord]]:
        """Every retained line record (sku -> field -> newest record), as audits read them."""
        records: dict[str, dict[str, LineRecord]] = {}
        for (sku, line_field), raw in self.line_text().items():
            records.setdefault(sku, {})[line_field] = decode_record(raw)
        return records

    def line_text(self) -> dict[tuple[str, str], str]:
        """Every retained line record, encoded, by (sku, line field)."""
        with self.lock:
            newest: dict[tuple[str, str], str] = {}
            for (_, bucket), lines in sorted(self.buckets.items(), key=lambda item: item[0][1]):
                if self.retained(bucket):
                    newest.update(lines)
            newest.update(self.open)
            return newest

    def retained(self, bucket: int) -> bool:
        """Whether line bucket ``bucket`` has not expired yet (as Redis expires it)."""
        return (bucket + 1) * self.bucket_seconds + self.retention_seconds > self.clock()


class InMemoryOwnerStore:
    """``OwnerStore`` over a ``MemoryLedgers`` (a fresh one when none is given)."""

    def __init__(self, config: StoreConfig, data: MemoryLedgers | None = None) -> None:
        self.config = config
        self.data = data if data is not None else MemoryLedgers()
        self.data.bucket_seconds = config.bucket_seconds
        self.data.retention_seconds = config.retention_seconds
        self._outcomes: deque[OwnerFencedError | None] = deque()

    def _check_up(self) -> None:
        if self.data.down:
            raise ConnectionError("the in-memory store is down")

    def _partition(self, sku: str) -> int:
        return partition_of(sku, self.config.partitions)

    def now(self) -> float:
        return self.data.clock()

    def claim_layout(self) -> None:
        self._check_up()
        shards = self.config.shard_count
        with self.data.lock:
            if self.data.bucket_span is None:
                fresh = self.data.partitions is None
                self.data.bucket_span = self.config.bucket_seconds if fresh else DEFAULT_BUCKET_SECONDS
            if self.data.bucket_span != self.config.bucket_seconds:
                raise bucket_span_mismatch(self.config, self.data.bucket_span)
            if self.data.partitions is None:
                self.data.partitions = self.config.partitions
            if self.data.partitions != self.config.partitions:
                raise PartitionCountError(
                    f"namespace {self.config.namespace!r} was written with {self.data.partitions} "
                    f"partitions, not {self.config.partitions}: the partition count of a "
                    "deployment never changes"
                )
            if self.data.layout is None:
                self.data.layout = shards
            current = self.data.layout
            if current == shards:
                for partition in range(self.config.partitions):
                    self.data.fences.setdefault(partition, {}).setdefault("shards", shards)
        if current != shards:
            raise layout_mismatch(self.config, current)

    def set_layout(self) -> None:
        self._check_up()
        with self.data.lock:
            self.data.layout = self.config.shard_count
            for partition in range(self.config.partitions):
                if self.data.fences.get(partition, {}).get("shards") != self.config.shard_count:
                    self.data.fences[partition] = {"shards": self.config.shard_count}

    def take_epoch(self, index: int) -> int:
        self._check_up()
        shards = self.config.shard_count
        key = (shards, index)
        with self.data.lock:
            epoch = self.data.epochs[key] = self.data.epochs.get(key, 0) + 1
            for partition in partitions_of(index, shards, self.config.partitions):
                fence = self.data.fences.setdefault(partition, {})
                if fence.get("shards", shards) == shards and fence.get("epoch", 0) < epoch:
                    fence["epoch"] = epoch
            return epoch

    def load(self, index: int) -> OwnedState:
        self._check_up()
        data, config = self.data, self.config
        owned_partitions = set(partitions_of(index, config.shard_count, config.partitions))
        with data.lock:
            owned = sorted(
                s for s in data.ledgers if s in data.settings and self._partition(s) in owned_partitions
            )
            records: dict[str, dict[str, LineRecord]] = {sku: {} for sku in owned}
            for (sku, line_field), raw in data.open.items():
                if sku in records:
                    records[sku][line_field] = decode_record(raw)
            buckets = sorted(
                {
                    bucket
                    for (partition, bucket) in data.buckets
                    if partition in owned_partitions and data.retained(bucket)
                }
            )
            return OwnedState(
                {sku: data.ledgers[sku] for sku in owned},
                {sku: data.settings[sku] for sku in owned},
                records,
                {sku: dict(data.oversold[sku]) for sku in owned if data.oversold.get(sku)},
                buckets,
            )

    def lookup_lines(
        self, wanted: Mapping[tuple[str, str], Sequence[int]]
    ) -> dict[tuple[str, str], LineRecord]:
        self._check_up()
        data = self.data
        found: dict[tuple[str, str], LineRecord] = {}
        with data.lock:
            for line, buckets in wanted.items():
                raw = data.open.get(line)
                if raw is None:
                    partition = self._partition(line[0])
                    for bucket in sorted(buckets, reverse=True):
                        lines = data.buckets.get((partition, bucket))
                        if lines is not None and line in lines and data.retained(bucket):
                            raw = lines[line]
                            break
                if raw is not None:
                    found[line] = decode_record(raw)
        return found

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        self._check_up()
        with self.data.lock:
            self._outcomes.append(self._commit(epoch, batch))
        return SentCommit([], [])

    def _fenced(self, epoch: int, partition: int) -> OwnerFencedError | None:
        fence = self.data.fences.get(partition, {})
        shards = self.config.shard_count
        if "shards" in fence and fence["shards"] != shards:
            return OwnerFencedError(f"FENCED the deployment now runs {fence['shards']} shards, not {shards}")
        if fence.get("epoch") != epoch:
            return OwnerFencedError(f"FENCED epoch {epoch} is stale; current is {fence.get('epoch', 'nil')}")
        return None

    def _commit(self, epoch: int, batch: CommitBatch) -> OwnerFencedError | None:
        data, config = self.data, self.config
        at = batch.committed_at or data.clock()
        bucket = bucket_of(config, at)
        touched: dict[int, list[str]] = {}
        for table in (batch.ledgers, batch.settings, batch.records, batch.closed, batch.oversold):
            for sku in table:
                touched.setdefault(self._partition(sku), [])
                if sku not in touched[self._partition(sku)]:
                    touched[self._partition(sku)].append(sku)
        failure: OwnerFencedError | None = None
        for partition, skus in touched.items():
            fenced = self._fenced(epoch, partition)
            if fenced is not None:
                failure = failure or fenced
                continue
            changed = []
            for sku in skus:
                if sku in batch.ledgers:
                    data.ledgers[sku] = batch.ledgers[sku]
                if sku in batch.settings:
                    data.settings[sku] = batch.settings[sku]
                pairs = batch.records.get(sku, [])
                for line_field, record in zip(pairs[::2], pairs[1::2], strict=True):
                    if record.startswith(_RESERVED_PREFIX):
                        data.open[(sku, line_field)] = record
                    else:
                        data.buckets.setdefault((partition, bucket), {})[(sku, line_field)] = record
                    changed.append((sku, line_field, decode_record(record)))
                for line_field in batch.closed.get(sku, []):
                    data.open.pop((sku, line_field), None)
                if sku in batch.oversold:
                    data.oversold.setdefault(sku, {}).update(batch.oversold[sku])
            counters = tuple(
                LedgerCounters(sku, x.on_hand, x.reserved, x.sold, x.version)
                for sku in skus
                if (x := batch.ledgers.get(sku)) is not None
            )
            data.log.append(LedgerEntry(f"{len(data.log) + 1}-0", epoch, counters, tuple(changed)))
        oldest = oldest_retained_bucket(config, data.clock())
        for stale in [key for key in data.buckets if key[1] < oldest and not data.retained(key[1])]:
            del data.buckets[stale]
        return failure

    def finish_commit(self, sent: SentCommit) -> None:
        del sent  # the outcome was settled when the commit was sent
        outcome = self._outcomes.popleft()
        self._check_up()  # the reply is lost: the caller cannot know the outcome
        if outcome is not None:
            raise outcome

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        self._check_up()
        data = self.data
        with data.lock:
            fenced = self._fenced(epoch, self._partition(sku))
            if fenced is not None:
                raise fenced
            for table in (data.ledgers, data.settings, data.oversold):
                table.pop(sku, None)
            data.log.append(LedgerEntry(f"{len(data.log) + 1}-0", epoch, (), ()))

    def drop_connection(self) -> None:
        self._outcomes.clear()

    def ping(self) -> bool:
        self._check_up()
        return True
