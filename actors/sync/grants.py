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

Crash and retry: the book is saved with every update it counts, before the update can
reach a platform; at start the book is loaded, what the platforms consumed is rebuilt
from the committed line records, and the answers are read again from the saved
positions (an answer taken twice changes nothing). A platform's connector applies an
update id once, so a resent update is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import structlog

from actors.infra.codec import LedgerEntry, split_field
from actors.sync.grant_store import BookState, GrantStore
from actors.sync.store import START, SyncStore
from policies.allocation import RecentDemand
from policies.grants import GrantBook, GrantUpdate
from policies.ledger import LineRecord, LineStatus

log = structlog.get_logger(__name__)

#: line statuses of a platform order flashstock accepted
CONSUMING = (LineStatus.RESERVED, LineStatus.SOLD, LineStatus.RELEASED)


class GrantSync:
    """Keeps every platform-first platform's grant covered by the pool."""

    def __init__(
        self,
        store: SyncStore,
        grants: GrantStore,
        shares: Mapping[str, float],
        platforms: Iterable[str],
        *,
        max_pushes_per_second: float = 10.0,
        resend_after_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.grants = grants
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
                if self.book.answer(answer):
                    self._dirty.add(answer.sku)
                    if not self.book.silent(platform):  # all answered: every SKU may top it up
                        self._dirty.update(self.available)
        now = self.clock()
        if now < self._next_push:
            return []
        self._next_push = now + self.interval
        updates = self._resend(now)
        silent = {u.platform for u in updates}  # unanswered for longer than resend_after
        for sku in sorted(self._dirty):
            demand = {c: d.at(now) for c, d in self.demand.get(sku, {}).items()}
            available = self.available.get(sku, 0)
            updates += self.book.rebalance(sku, available, self.shares, demand, silent=silent)
        self._dirty.clear()
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
