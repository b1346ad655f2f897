"""SkuOwner: the single writer of a set of SKUs (plain class; the Ray actor wraps it).

An owner holds the ledgers, settings, open reservations and recent line records of the
SKUs of the partitions that ``owner_of`` assigns to its index. Its memory is bounded by
the present, not the past: older line records stay in the store (for the retention
window) and are looked up, one round trip per batch, when an operation names a line id
the owner does not hold (``_find_missing_lines``). It decides a batch of operations
in memory, in arrival order, with the pure rules of ``policies.operations`` (a batch
at a time: ``policies.reservations``); then it makes the whole batch durable with one
round trip to its store (group commit: Redis in production, ``actors.owner.store``; in
memory in unit tests); only then are the decisions released to callers and visible to
readers. The owner does no I/O of its own: its store is passed in
(``actors.owner.actor`` builds the Redis one).

Crash and retry:
- The owner dies before the commit: nothing of the batch is in Redis, nobody heard a
  decision; a retry is decided afresh by the restarted owner.
- It dies after the commit, before answering: the retry finds the line records (in
  memory, or looked up in the store) and returns the original decisions
  (``duplicate=True``); nothing is deducted twice. A batch spans partitions, each
  committed by its own script: a crash between them leaves some partitions' lines
  committed and some not, and the retry is idempotent per line either way.
- The commit fails (Redis down, timeout): the outcome is unknown, so the in-memory
  state is thrown away and reloaded from Redis before the next batch.
- A newer incarnation took the epoch: the commit is refused (``OwnerFencedError``) and
  this owner must stop.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import structlog

from actors.infra.codec import encode_records, split_field
from actors.infra.settings import StoreConfig
from actors.owner.expiry_schedule import ExpirySchedule
from actors.owner.reads import bucket_of, oldest_retained_bucket
from actors.owner.store import CommitBatch, OwnerFencedError, OwnerStore, SentCommit
from policies.catalogue import decide_removal
from policies.ledger import Decision, Ledger, LineRecord, LineStatus, Reason, SkuSettings
from policies.operations import Operation, ReceiveArrivals, Release, Reserve
from policies.reservations import decide_batch
from policies.routing import owner_of

RESERVED = LineStatus.RESERVED

log = structlog.get_logger(__name__)


class PendingCommit(NamedTuple):
    """A batch sent to the store whose reply has not been read yet (None: nothing to send)."""

    batch: CommitBatch
    sent: SentCommit | None
    #: the batch's number in this owner's window of recent lines
    sequence: int = 0


#: (batch number, decided at, sku, line field, record) of a line record in memory
_Recent = tuple[int, float, str, str, LineRecord]


class SkuOwner:
    """The in-memory ledgers of one shard, committed to its store batch by batch."""

    def __init__(
        self,
        config: StoreConfig,
        index: int,
        store: OwnerStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= index < config.shard_count:
            raise ValueError(f"owner index {index} is outside 0..{config.shard_count - 1}")
        self.config = config
        self.index = index
        self.clock = clock
        self.store = store
        self.store.claim_layout()
        self.epoch = self.store.take_epoch(index)
        self.log = log.bind(owner=index, epoch=self.epoch)
        self._owned: dict[str, bool] = {}
        self._stale = False
        self.fenced = False
        self._load()

    # ---- state -------------------------------------------------------------------

    def _load(self) -> None:
        started = time.perf_counter()
        loaded_at = self.store.now()
        state = self.store.load(self.index)
        self.ledgers: dict[str, Ledger] = state.ledgers
        self.settings: dict[str, SkuSettings] = state.settings
        #: sku -> line field -> the decision record of that line: every open reservation,
        #: the ``recent_lines`` newest records, and records looked up on a miss
        self.records: dict[str, dict[str, LineRecord]] = state.records
        #: the records in memory that may be dropped, oldest first
        self._recent: deque[_Recent] = deque()
        #: every line whose newest record was decided after this time is in memory
        self._covered_since = loaded_at
        #: line buckets that exist in the store, ascending: those found at load may hold
        #: records older than the load; later ones matter once records were dropped
        self._buckets: list[int] = list(state.buckets)
        self._loaded_buckets: list[int] = list(state.buckets)
        self._forgot_lines = False
        self._sequence = 0
        self._durable_sequence = 0
        #: sku -> channel -> orders accepted by the platform that the pool could not cover
        self.oversold: dict[str, dict[str, int]] = state.oversold
        self.committed_oversold: dict[str, dict[str, int]] = {
            sku: dict(counts) for sku, counts in state.oversold.items()
        }
        #: what readers see: only committed ledgers
        self.committed: dict[str, Ledger] = dict(state.ledgers)
        #: when each unpaid reservation expires (actors.owner.expiry_schedule)
        self._expiries = ExpirySchedule()
        for sku, lines in state.records.items():
            for line_field, record in lines.items():
                if record.status == RESERVED:
                    self._expiries.add(sku, line_field, record.expires_at)
        self._stale = False
        #: how long the last load from the store took (a restart's share of recovery time)
        self.load_seconds = time.perf_counter() - started
        self.log.info(
            "owner_loaded",
            skus=len(self.ledgers),
            open_lines=sum(map(len, self.records.values())),
            buckets=len(self._buckets),
            seconds=round(self.load_seconds, 3),
        )

    def owns(self, sku: object) -> bool:
        """True when ``sku`` belongs to this owner's shard."""
        if not isinstance(sku, str):
            return False
        owned = self._owned.get(sku)
        if owned is None:
            owned = self._owned[sku] = (
                owner_of(sku, self.config.shard_count, self.config.partitions) == self.index
            )
        return owned

    def ledger(self, sku: str) -> Ledger | None:
        """The committed ledger of ``sku`` (never a decision not yet durable)."""
        return self.committed.get(sku)

    # ---- deciding and committing ----------------------------------------------------

    def decide_batch(self, ops: Sequence[Operation]) -> tuple[list[Decision], CommitBatch]:
        """Decide ``ops`` in order against the working state; no I/O."""
        if self.fenced:
            raise OwnerFencedError(f"owner {self.index} epoch {self.epoch} was fenced")
        if self._stale:
            self._load()
        stored_at = self.store.now()
        self._find_missing_lines(ops, stored_at)
        ledgers, records, expiries = self.ledgers, self.records, self._expiries
        # the rules, batch at a time (policies.reservations); here only the bookkeeping
        outcome = decide_batch(
            ops, ledgers, self.settings, records, self.clock(), holds=self.owns, refuse=self._refusal
        )
        batch = CommitBatch(
            ledgers=outcome.ledgers, settings=outcome.settings, sales=outcome.sales, committed_at=stored_at
        )
        batch.new_skus.extend(sku for sku in outcome.ledgers if sku not in ledgers)
        ledgers.update(outcome.ledgers)
        self.settings.update(outcome.settings)
        batch_records = batch.records
        self._sequence += 1
        sequence, recent = self._sequence, self._recent
        written = outcome.records
        remember = recent.append
        # a batch's new reservations of one SKU share their expiry: its second's set of
        # the schedule is looked up once per run of equal expiries, not once per line
        last_expiry, due = 0.0, None
        for (sku, line_field, record), encoded in zip(written, encode_records(written), strict=True):
            status = record[0]
            lines = records.get(sku)
            if lines is None:
                lines = records[sku] = {}
            previous = lines.get(line_field)
            if previous is not None and previous[0] == RESERVED and status != RESERVED:
                batch.closed.setdefault(sku, []).append(line_field)
                expiries.forget(sku, line_field, previous[4])
                due = None  # its second's set may be gone from the schedule
            lines[line_field] = record
            remember((sequence, stored_at, sku, line_field, record))
            pairs = batch_records.get(sku)
            if pairs is None:
                pairs = batch_records[sku] = []
            pairs += (line_field, encoded)
            if status == RESERVED:
                expires_at = record[4]
                if due is None or expires_at != last_expiry:
                    last_expiry, due = expires_at, expiries.due_set(expires_at)
                due[sku, line_field] = None
        for sku, channel in outcome.oversold:
            self._count_oversold(batch, sku, channel)
        return outcome.decisions, batch

    def _find_missing_lines(self, ops: Sequence[Operation], now: float) -> None:
        """Bring into memory the stored records of the lines ``ops`` name that the owner
        does not hold but the store may (one round trip for the whole batch). ``now`` is
        the store's clock (``OwnerStore.now``), which dates commits.

        A line whose newest record was decided after ``_covered_since`` is in memory. A
        reservation's first record cannot predate its order's ``placed_at`` by more than
        ``clock_skew_seconds``, so a new order (the common case) needs no lookup; other
        misses look in every retained bucket up to ``_covered_since``."""
        config = self.config
        covered = self._covered_since
        retained = oldest_retained_bucket(config, now)
        last = bucket_of(config, covered)
        known = self._buckets if self._forgot_lines else self._loaded_buckets
        candidates = [b for b in known if retained <= b <= last]
        if not candidates:
            return
        records, ledgers, skew = self.records, self.ledgers, config.clock_skew_seconds
        wanted: dict[tuple[str, str], list[int]] = {}
        for op in ops:
            sku = op.sku
            line_field = op.field
            if not line_field or not isinstance(sku, str) or sku not in ledgers:
                continue
            lines = records.get(sku)
            if lines is not None and line_field in lines:
                continue
            buckets = candidates
            if type(op) is Reserve and 0 < op.placed_at <= now:
                since = op.placed_at - skew
                if since > covered:
                    continue
                first = bucket_of(config, since)
                buckets = [b for b in candidates if b >= first]
            if buckets:
                wanted[(sku, line_field)] = buckets
        if not wanted:
            return
        found = self.store.lookup_lines(wanted)
        for (sku, line_field), record in found.items():
            self.records.setdefault(sku, {})[line_field] = record
            self._recent.append((self._durable_sequence, 0.0, sku, line_field, record))
        self.log.debug("lines_looked_up", wanted=len(wanted), found=len(found))

    def _forget_old_lines(self) -> None:
        """Drop the oldest durable line records beyond ``recent_lines`` that were decided
        more than ``recent_seconds`` ago (open reservations stay), moving
        ``_covered_since`` past them. Keeping the last seconds whatever the rate means a
        new order arriving late by less than that needs no lookup."""
        recent, records, limit = self._recent, self.records, self.config.recent_lines
        durable = self._durable_sequence
        covered = self._covered_since
        old_enough = self.store.now() - self.config.recent_seconds
        while len(recent) > limit and recent[0][0] <= durable and recent[0][1] <= old_enough:
            _, decided_at, sku, line_field, record = recent.popleft()
            lines = records.get(sku)
            if lines is not None and lines.get(line_field) is record and record.status != RESERVED:
                del lines[line_field]
                self._forgot_lines = True
            if decided_at > covered:
                covered = decided_at
        self._covered_since = covered

    def remove(self, sku: str) -> Decision:
        """Take ``sku`` out of the catalogue if nothing is promised on it
        (``policies.catalogue``). Runs between batches with no commit in flight
        (``GroupCommitter.run_exclusively``), so no decision can touch the SKU meanwhile."""
        if self.fenced:
            raise OwnerFencedError(f"owner {self.index} epoch {self.epoch} was fenced")
        self.reload_if_stale()
        lines = self.records.get(sku, {})
        open_orders = sum(1 for record in lines.values() if record.status == RESERVED)
        decision = decide_removal(sku, self.ledgers.get(sku) if self.owns(sku) else None, open_orders)
        if not decision.accepted:
            return decision
        try:
            self.store.remove_sku(self.epoch, self.index, sku)
        except OwnerFencedError:
            self.fenced = True
            self.log.error("owner_fenced")
            raise
        except Exception:
            self._stale = True  # the outcome is unknown: reload before the next decision
            self.store.drop_connection()
            raise
        for table in (
            self.ledgers,
            self.settings,
            self.records,
            self.oversold,
            self.committed,
            self.committed_oversold,
        ):
            table.pop(sku, None)
        # its line records stay in the store for the retention window: a line of it named
        # again (the id defined anew) is looked up, and keeps its first decision
        self._forgot_lines = True
        self._covered_since = max(self._covered_since, self.store.now())
        self.log.info("sku_removed", sku=sku, on_hand=decision.quantity)
        return decision

    def _refusal(self, op: Operation) -> Decision:
        """The answer to an operation on a SKU this owner does not hold (a routing fault)."""
        sku = op.sku
        detail = f"sku {sku!r} is not held by owner {self.index}"
        return Decision(op.name, str(sku), "", False, reason=Reason.NOT_OWNER, detail=detail)

    def _count_oversold(self, batch: CommitBatch, sku: str, channel: str) -> None:
        """A platform took an order the pool could not cover: the one number flashstock
        exists to keep at zero, counted per SKU and channel."""
        counts = self.oversold.setdefault(sku, {})
        counts[channel] = counts.get(channel, 0) + 1
        batch.oversold.setdefault(sku, {})[channel] = counts[channel]

    def send(self, batch: CommitBatch) -> PendingCommit:
        """Start committing ``batch``; the store works on it while the caller decides the next.
        At most one commit is in flight: call ``finish`` before the next ``send``."""
        if batch.is_empty():
            return PendingCommit(batch, None, self._sequence)
        try:
            sent = self.store.send_commit(self.epoch, self.index, batch)
        except Exception:
            self._commit_failed(batch)
            raise
        return PendingCommit(batch, sent, self._sequence)

    def finish(self, pending: PendingCommit) -> None:
        """Wait until a sent batch is durable, then make it visible to readers. On an
        unknown outcome the working state is marked stale and reloaded from the store
        before the next batch is decided."""
        if pending.sent is None:
            self._durable_sequence = max(self._durable_sequence, pending.sequence)
            return
        try:
            self.store.finish_commit(pending.sent)
        except OwnerFencedError:
            self.fenced = True
            self.log.error("owner_fenced")
            raise
        except Exception:
            self._commit_failed(pending.batch)
            raise
        self.committed.update(pending.batch.ledgers)
        for sku, counts in pending.batch.oversold.items():
            self.committed_oversold.setdefault(sku, {}).update(counts)
        if pending.batch.records:
            bucket = bucket_of(self.config, pending.batch.committed_at)
            if bucket not in self._buckets:
                bisect.insort(self._buckets, bucket)
        self._durable_sequence = max(self._durable_sequence, pending.sequence)
        self._forget_old_lines()

    def _commit_failed(self, batch: CommitBatch) -> None:
        self._stale = True
        self.store.drop_connection()
        self.log.exception("commit_failed", skus=len(batch.ledgers))

    @property
    def stale(self) -> bool:
        """True when in-memory state may be ahead of the store (a commit failed)."""
        return self._stale

    def reload_if_stale(self) -> None:
        if self._stale:
            self._load()

    def apply(self, ops: Sequence[Operation]) -> list[Decision]:
        """Decide and durably commit ``ops``; the decisions, in the order of ``ops``."""
        decisions, batch = self.decide_batch(ops)
        self.finish(self.send(batch))
        return decisions

    @property
    def scheduled_expiries(self) -> int:
        """Reservations waiting for their expiry: the open ones (memory follows them)."""
        return len(self._expiries)

    def due_operations(self) -> list[Operation]:
        """Expiries of unpaid reservations whose TTL has passed, and arrivals of inbound
        transfers that are due, as operations to run through ``apply``."""
        now = self.clock()
        due: list[Operation] = []
        for sku, line_field in self._expiries.take_due(now):
            record = self.records.get(sku, {}).get(line_field)
            if record is None or record.status != RESERVED or record.expires_at > now:
                continue
            channel, order_id = split_field(line_field)
            due.append(Release(channel, order_id, sku, reason="expired"))
            self.log.info(
                "reservation_expired", sku=sku, channel=channel, order=order_id, quantity=record.quantity
            )
        due.extend(ReceiveArrivals(sku) for sku in self._skus_with_arrivals(now))
        return due

    def _skus_with_arrivals(self, now: float) -> Iterable[str]:
        for sku, ledger in self.ledgers.items():
            if ledger.inbound and any(t.arrives_at <= now for t in ledger.inbound):
                yield sku
