"""``OwnerStore`` in memory, for unit tests of the owner (and of ChannelSync, which reads
its ledger log): the same semantics as ``RedisOwnerStore`` without a server.

``MemoryLedgers`` plays the Redis server (the data every store of a deployment shares);
``InMemoryOwnerStore`` is one connection to it with one ``StoreConfig``, so two owners of
one shard, or of two layouts, are two stores over the same ``MemoryLedgers``. A commit
is applied whole or not at all, fenced by epoch and layout, when it is sent (as Redis runs
the script when it arrives); its outcome is raised by ``finish_commit``. Line records are
kept encoded (``actors.infra.codec``) and decoded on load, as in Redis.
``tests/contract/test_owner_store_contract.py`` holds both stores to the same suite.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from actors.infra.codec import LedgerCounters, LedgerEntry, decode_record
from actors.infra.settings import StoreConfig
from actors.owner.batch import CommitBatch, OwnedState, OwnerFencedError, SentCommit, layout_mismatch
from policies.ledger import Ledger, SkuSettings
from policies.routing import owner_of


@dataclass
class MemoryLedgers:
    """What Redis holds for one namespace: catalogue, ledgers, settings, line records,
    oversold counts, epochs, layout and the ledger log (one entry per committed batch)."""

    skus: set[str] = field(default_factory=set)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    settings: dict[str, SkuSettings] = field(default_factory=dict)
    lines: dict[str, dict[str, str]] = field(default_factory=dict)  # sku -> field -> record
    oversold: dict[str, dict[str, int]] = field(default_factory=dict)
    epochs: dict[tuple[int, int], int] = field(default_factory=dict)  # (shards, index) -> epoch
    layout: int | None = None
    log: list[LedgerEntry] = field(default_factory=list)
    #: True while the "server" is down: every call raises ``ConnectionError``
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read_skus(self, skus: list[str] | None = None) -> dict[str, tuple[Ledger, SkuSettings]]:
        """Committed ledger and settings, as ``actors.owner.store.read_skus`` reads them."""
        with self.lock:
            wanted = sorted(self.skus) if skus is None else skus
            return {sku: (self.ledgers[sku], self.settings[sku]) for sku in wanted if sku in self.ledgers}


class InMemoryOwnerStore:
    """``OwnerStore`` over a ``MemoryLedgers`` (a fresh one when none is given)."""

    def __init__(self, config: StoreConfig, data: MemoryLedgers | None = None) -> None:
        self.config = config
        self.data = data if data is not None else MemoryLedgers()
        self._outcomes: deque[OwnerFencedError | None] = deque()

    def _check_up(self) -> None:
        if self.data.down:
            raise ConnectionError("the in-memory store is down")

    def claim_layout(self) -> None:
        self._check_up()
        with self.data.lock:
            if self.data.layout is None:
                self.data.layout = self.config.shard_count
            current = self.data.layout
        if current != self.config.shard_count:
            raise layout_mismatch(self.config, current)

    def set_layout(self) -> None:
        self._check_up()
        with self.data.lock:
            self.data.layout = self.config.shard_count

    def take_epoch(self, index: int) -> int:
        self._check_up()
        key = (self.config.shard_count, index)
        with self.data.lock:
            self.data.epochs[key] = self.data.epochs.get(key, 0) + 1
            return self.data.epochs[key]

    def load(self, index: int) -> OwnedState:
        self._check_up()
        data, shards = self.data, self.config.shard_count
        with data.lock:
            owned = [s for s in sorted(data.skus) if s in data.ledgers and owner_of(s, shards) == index]
            return OwnedState(
                {sku: data.ledgers[sku] for sku in owned},
                {sku: data.settings[sku] for sku in owned},
                {sku: {f: decode_record(r) for f, r in data.lines.get(sku, {}).items()} for sku in owned},
                {sku: dict(data.oversold[sku]) for sku in owned if data.oversold.get(sku)},
            )

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        self._check_up()
        with self.data.lock:
            self._outcomes.append(self._commit(epoch, index, batch))
        return SentCommit([])

    def _commit(self, epoch: int, index: int, batch: CommitBatch) -> OwnerFencedError | None:
        data, shards = self.data, self.config.shard_count
        current = data.epochs.get((shards, index))
        if current != epoch:
            return OwnerFencedError(f"FENCED epoch {epoch} is stale; current is {current or 'nil'}")
        if data.layout is not None and data.layout != shards:
            return OwnerFencedError(f"FENCED the deployment now runs {data.layout} shards, not {shards}")
        data.ledgers.update(batch.ledgers)
        data.settings.update(batch.settings)
        changed = []
        for sku, pairs in batch.records.items():
            lines = data.lines.setdefault(sku, {})
            for line_field, record in zip(pairs[::2], pairs[1::2], strict=True):
                lines[line_field] = record
                changed.append((sku, line_field, decode_record(record)))
        for sku, counts in batch.oversold.items():
            data.oversold.setdefault(sku, {}).update(counts)
        data.skus.update(batch.new_skus)
        counters = tuple(
            LedgerCounters(sku, x.on_hand, x.reserved, x.sold, x.version) for sku, x in batch.ledgers.items()
        )
        data.log.append(LedgerEntry(f"{len(data.log) + 1}-0", epoch, counters, tuple(changed)))
        return None

    def finish_commit(self, sent: SentCommit) -> None:
        del sent  # the outcome was settled when the commit was sent
        outcome = self._outcomes.popleft()
        self._check_up()  # the reply is lost: the caller cannot know the outcome
        if outcome is not None:
            raise outcome

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        self._check_up()
        data, shards = self.data, self.config.shard_count
        with data.lock:
            current = data.epochs.get((shards, index))
            if current != epoch:
                raise OwnerFencedError(f"FENCED epoch {epoch} is stale; current is {current or 'nil'}")
            if data.layout is not None and data.layout != shards:
                raise OwnerFencedError(f"FENCED the deployment now runs {data.layout} shards, not {shards}")
            data.skus.discard(sku)
            for table in (data.ledgers, data.settings, data.lines, data.oversold):
                table.pop(sku, None)
            data.log.append(LedgerEntry(f"{len(data.log) + 1}-0", epoch, (), ()))

    def drop_connection(self) -> None:
        self._outcomes.clear()

    def ping(self) -> bool:
        self._check_up()
        return True
