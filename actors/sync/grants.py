"""GrantSync: drives the grant protocol (``policies.grants``) for the platform-first
platforms, from the ledger stream.

It follows the ledger stream like ``ChannelSync`` (each SKU's ``available``, each
platform's recent demand) and, from the changed order lines, what each platform's orders
consumed of its grant: a platform order line counts once, when it first appears accepted
(a later payment, cancellation or expiry does not give its units back to the platform:
flashstock frees them, and grants them again). It takes the platforms' answers from
their answer streams, and at most ``max_pushes_per_second`` times a second resends what
was left unanswered longer than ``resend_after_seconds`` and rebalances each changed
SKU; then saves the book with the new updates in one transaction
(``actors.sync.grant_store``).

Holds: the units granted are held at the SKU's owner, the SKU's single writer, so a
reserve-first order (decided against ``free = available - held``) can never take a unit
granted to a platform, and a grant can never take a unit a reserve-first order just
reserved. Before an "add N" is saved and sent, the owner must accept ``Hold(sku, +N)``
(it refuses when fewer than N units are free: the grant is withdrawn and the SKU is
rebalanced again later); a take-back answer that confirms ``removed`` units gives them
back with ``Hold(sku, -removed)``. A platform order's reservation shrinks the hold at
the owner as the book counts it consumed.

Crash and retry: the book is saved with every update it counts, before the update can
reach a platform; at start the book is loaded, what the platforms consumed is rebuilt
from the committed line records, and the answers are read again from the saved
positions (an answer taken twice changes nothing; its give-back hold has an id made of
the platform and the update id, so it counts once too). A platform's connector applies
an update id once, so a resent update is harmless. A crash between an accepted hold and
the save leaves a hold without a grant: safe (it only keeps units from reserve-first
orders), and undone by reconciliation: at start, and then every
``reconcile_after_seconds`` when a step sent nothing, each SKU's hold at its owner is set
to what the book says is outstanding (``GrantBook.held_for_platforms``) by a
compensating ``Hold`` with a fresh id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import structlog

from actors.infra.codec import LedgerEntry, split_field
from actors.sync.grant_store import BookState, GrantStore
from actors.sync.store import START, SyncStore
from policies.allocation import RecentDemand
from policies.grants import ADD, TAKE, GrantBook, GrantUpdate
from policies.ledger import Decision, Ledger, LineRecord, LineStatus
from policies.operations import Hold, Operation

log = structlog.get_logger(__name__)

#: line statuses of a platform order flashstock accepted
CONSUMING = (LineStatus.RESERVED, LineStatus.SOLD, LineStatus.RELEASED)


class HoldDesk(Protocol):
    """The SKU owners, as the sync needs them (``StockClient`` is one)."""

    def submit(self, ops: Sequence[Operation]) -> list[Decision]:
        """Decide ``ops`` at their SKUs' owners, one decision per operation, in order."""

    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        """The owners' ledgers of ``skus`` (unknown SKUs are absent)."""


class GrantSync:
    """Keeps every platform-first platform's grant covered by the pool, and held at the
    SKU's owner."""

    def __init__(
        self,
        store: SyncStore,
        grants: GrantStore,
        owners: HoldDesk,
        shares: Mapping[str, float],
        platforms: Iterable[str],
        *,
        max_pushes_per_second: float = 10.0,
        resend_after_seconds: float = 5.0,
        reconcile_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.grants = grants
        self.owners = owners
        self.reconcile_after = reconcile_after_seconds
        self.shares = dict(shares)
        self.interval = 1.0 / max_pushes_per_second
        self.resend_after = resend_after_seconds
        self.clock = clock
        platforms = sorted(platforms)
        saved = grants.load_book()
        self.book = GrantBook.from_state(saved, platforms) if saved else GrantBook(platforms)
        self.answered: dict[str, str] = {p: START for p in self.book.platforms}
        self.answered.update((saved or {}).get("answered", {}))
        self._cursor, self.available = store.snapshot()
        self.demand: dict[str, dict[str, RecentDemand]] = {}  # sku -> channel -> recent sales
        #: (sku, line field) of every accepted order line seen (counted once)
        self._seen: set[tuple[str, str]] = set()
        for sku, lines in grants.line_records().items():
            for line_field, record in lines.items():
                self._consume(sku, line_field, record, demand=False)
        self._sent_at: dict[tuple[str, int], float] = {}
        self._dirty: set[str] = set(self.available)
        self._next_push = 0.0
        self._changed = saved is None
        self._saved_headroom: dict[str, int] = {}
        #: tells this incarnation's hold ids from an earlier one's (a crash may have lost
        #: the book that counted an earlier hold; a new hold must not be taken for it)
        self._run = uuid.uuid4().hex[:16]
        self._holds_made = 0
        #: give-back holds of confirmed take-backs, not yet accepted by the owner
        self._give_back: list[Hold] = []
        self._reconciled_at: float | None = None

    def _consume(self, sku: str, line_field: str, record: LineRecord, *, demand: bool) -> None:
        """An accepted order line seen for the first time: the channel's demand, and for
        a platform-first platform, units consumed of its grant."""
        if line_field.startswith("~") or record.status not in CONSUMING or (sku, line_field) in self._seen:
            return
        self._seen.add((sku, line_field))
        channel, _ = split_field(line_field)
        if demand:
            by_channel = self.demand.setdefault(sku, {})
            by_channel[channel] = by_channel.get(channel, RecentDemand()).add(record.quantity, self.clock())
        self.book.record_sale(channel, sku, record.quantity)  # only platforms of the book count

    def _apply_entry(self, entry: LedgerEntry) -> None:
        for counters in entry.counters:
            self.available[counters.sku] = counters.available
            self._dirty.add(counters.sku)
        for sku, line_field, record in entry.lines:
            self._consume(sku, line_field, record, demand=True)

    def step(self, block_ms: int = 50) -> list[GrantUpdate]:
        """Read new ledger entries and answers; when the push interval has passed, resend
        and rebalance, and save the book with the updates. The updates sent."""
        for entry in self.store.read_ledger(self._cursor, block_ms):
            self._cursor = entry.entry_id
            self._apply_entry(entry)
        for platform in self.book.platforms:
            for position, answer in self.grants.answers(platform, self.answered.get(platform, START)):
                self.answered[platform] = position
                self._changed = True
                sent = self.book.unanswered.get(platform, {}).get(answer.update_id)
                if self.book.answer(answer):
                    if sent is not None and sent.kind == TAKE:
                        removed = min(max(answer.units, 0), sent.units)
                        if removed:
                            hold_id = f"take-{platform}-{sent.update_id}"
                            self._give_back.append(Hold(sent.sku, -removed, hold_id))
                    self._dirty.add(answer.sku)
                    if not self.book.silent(platform):  # all answered: every SKU may top it up
                        self._dirty.update(self.available)
        now = self.clock()
        if now < self._next_push:
            return []
        self._next_push = now + self.interval
        if self._reconciled_at is None:  # at start: holds as the saved book says
            self.reconcile(now)
        updates = self._resend(now)
        silent = {u.platform for u in updates}  # unanswered for longer than resend_after
        mark = self.book.next_ids()
        dirty = sorted(self._dirty)
        self._dirty.clear()
        for sku in dirty:
            demand = {c: d.at(now) for c, d in self.demand.get(sku, {}).items()}
            available = self.available.get(sku, 0)
            self.book.rebalance(sku, available, self.shares, demand, silent=silent)
        updates += self._held(mark, dirty)
        if not updates and now - (self._reconciled_at or 0.0) >= self.reconcile_after:
            self.reconcile(now)
        headroom = self.headroom()
        if updates or self._changed or headroom != self._saved_headroom:
            self.grants.save(self.saved_state(), headroom, updates)
            self._changed = False
            self._saved_headroom = headroom
            if any(units < 0 for units in headroom.values()):
                log.error("grant_invariant_violated", skus=sorted(s for s, u in headroom.items() if u < 0))
            for update in updates:
                self._sent_at[(update.platform, update.update_id)] = now
            if updates:
                log.debug("grant_updates_sent", updates=len(updates))
        return updates

    def _held(self, mark: Mapping[str, int], dirty: Sequence[str]) -> list[GrantUpdate]:
        """The updates made since ``mark`` (this step's) less the grants whose hold the
        owner refused, once the owner took the holds and the give-backs of confirmed
        take-backs. If the owners cannot be reached, nothing new is sent (the book
        forgets it) and the SKUs are rebalanced again at the next step."""
        fresh = self.book.issued_since(mark)
        adds: dict[str, int] = {}
        for update in fresh:
            if update.kind == ADD:
                adds[update.sku] = adds.get(update.sku, 0) + update.units
        holds = []
        for sku, units in adds.items():
            self._holds_made += 1
            holds.append(Hold(sku, units, f"grant-{self._run}-{self._holds_made}"))
        ops: list[Operation] = [*self._give_back, *holds]
        if not ops:
            return fresh
        try:
            decisions = self.owners.submit(ops)
        except Exception:
            self.book.withdraw(fresh)
            self._dirty.update(dirty)
            raise
        # a give-back is never refused for want of stock; any other refusal (the SKU was
        # removed) is left to reconciliation
        self._give_back = []
        refused = {
            op.sku for op, d in zip(holds, decisions[len(ops) - len(holds) :], strict=True) if not d.accepted
        }
        if not refused:
            return fresh
        log.debug("grant_hold_refused", skus=sorted(refused))  # the sync read the ledger late
        self.book.withdraw(u for u in fresh if u.kind == ADD and u.sku in refused)
        self._dirty.update(refused)
        return self.book.issued_since(mark)

    def reconcile(self, now: float) -> None:
        """Set each known SKU's hold at its owner to what the book says is outstanding,
        by a compensating ``Hold`` (a fresh id: it is a new fact, not a retry)."""
        self._reconciled_at = now
        skus = sorted(set(self.available) | {sku for _, sku in self.book.granted})
        if not skus:
            return
        ops: list[Operation] = []
        for sku, ledger in sorted(self.owners.ledgers(skus).items()):
            delta = self.book.held_for_platforms(sku) - ledger.held
            if delta:
                self._holds_made += 1
                ops.append(Hold(sku, delta, f"reconcile-{self._run}-{self._holds_made}"))
        if not ops:
            return
        decisions = self.owners.submit(ops)
        log.info(
            "grant_holds_reconciled",
            skus=[op.sku for op in ops],
            refused=[op.sku for op, d in zip(ops, decisions, strict=True) if not d.accepted],
        )

    def _resend(self, now: float) -> list[GrantUpdate]:
        stale = []
        for platform in self.book.platforms:
            for update in self.book.resend(platform):
                sent = self._sent_at.setdefault((platform, update.update_id), now)
                if now - sent >= self.resend_after:
                    stale.append(update)
        return stale

    def saved_state(self) -> BookState:
        return {**self.book.state(), "answered": dict(self.answered)}

    def headroom(self) -> dict[str, int]:
        """``on_hand - reserved - sold - sum(granted - consumed)`` per SKU: never negative
        while the invariant holds."""
        return {sku: self.book.headroom(sku, units) for sku, units in self.available.items()}
