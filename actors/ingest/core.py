"""ChannelIngest: one platform's order messages into the stock pool (plain class; the Ray
actor in ``actors.ingest.actor`` wraps it). It takes its store (``actors.ingest.store``)
and the SKU owners' ``submit`` as constructor arguments.

Messages arrive on the channel's inbox (a Redis Stream read through a consumer group),
as a signed webhook batch, or already validated from the HTTP API. Raw messages are
parsed with ``policies.channels``; parsed messages (``decide``) are turned into ledger
operations in message order, decided by the SKU owners (durably), and only then
answered: one transaction publishes the batch's decisions, remembers the accepted
orders' SKUs (so a later payment or cancel that names only the order finds its lines),
parks unreadable messages as dead letters with the reason and the raw text, and
acknowledges the inbox entries.

Crash and retry: delivery is at least once. A crash before that transaction leaves the
entries undecided: pending ones are read again (by this consumer after a restart, or
claimed by another once idle), and new ones read without the pending list (once the
channel has a saved read position: ``actors.ingest.store``) are read again after the
group is set back to that position (``rewind``). Because every line's decision is
idempotent, they come back with the same decisions and deduct nothing twice; the
position's compare-and-set keeps a batch from being published twice. Multi-line orders
are all-or-nothing: the reserved lines of an order with a rejected line are released
(compensation), also idempotently. A message the parser fails on (a defect: it names
every problem it knows as ``Unreadable``) is dead-lettered with the error, so it cannot
fail its batch on every retry and stall the channel behind it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import NamedTuple

import structlog

from actors.infra.keys import ChannelKeys
from actors.ingest.inbox_read import InboxEntry
from actors.ingest.messages import WebhookRejected, WebhookUndecodable, webhook_messages
from actors.ingest.store import (
    GROUP,
    SCAN_START,
    InboxMoved,
    InboxRange,
    IngestStore,
    Publication,
    RawMessage,
    enqueue,
    entry_order,
    read_decisions,
)
from policies.channel_modes import asks_first, default_mode, invalid_mode
from policies.channels import (
    Cancellation,
    ChannelMessage,
    Ignored,
    Payment,
    PlatformOrder,
    Unreadable,
    message_text,
    parse_message,
    parse_messages,
)
from policies.channels.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookHeaders,
    webhook_problem,
)
from policies.ledger import Decision
from policies.operations import Operation
from policies.orders import (
    ORDER_CONFLICT,
    CancellationRequest,
    NoticeDecision,
    OrderDecision,
    RecordedOrder,
    answer_from_record,
    cancellation_request,
    compensations_for,
    confirmations_for,
    decide_accepted_order,
    decide_notice,
    decide_order,
    record_order,
    releases_for,
    reservations_for,
)

# GROUP, ChannelKeys, enqueue and read_decisions are imported from here by callers
# written before the store had its own module.
__all__ = [
    "GROUP",
    "ChannelIngest",
    "ChannelKeys",
    "IngestResult",
    "Submit",
    "WebhookRejected",
    "WebhookUndecodable",
    "enqueue",
    "read_decisions",
]

log = structlog.get_logger(__name__)

#: decides ledger operations durably (the SKU owners), one decision per operation
Submit = Callable[[Sequence[Operation]], list[Decision]]


class IngestResult(NamedTuple):
    orders: list[OrderDecision]
    notices: list[NoticeDecision]
    dead: list[Unreadable]
    ignored: int


#: a message, its operations ``ops[start:end]`` and, for an order that is not decided
#: again (a conflict, a recorded rejection), its answer; a plain tuple (unpacked by
#: position) because building a NamedTuple per message cost more than the rest of its span
_Span = tuple[PlatformOrder | Payment | Cancellation, int, int, OrderDecision | None]


#: the most inbox entries read and decided in one batch. A read takes what has arrived, so
#: under a load the ingest keeps up with a batch holds what came since the last one, and
#: this bound is reached only with a backlog, where a larger batch spreads each batch's
#: fixed costs (its reads, its owners' calls, their commits, its publication) over more
#: orders: 4,000 against 1,000 took 5-17% less CPU per order end to end and drained the
#: backlog sooner, while each batch's own cycle grew 3-4x (docs/benchmarks.md, "Session 8")
DEFAULT_BATCH_SIZE = 4000


class ChannelIngest:
    """Parses, routes and acknowledges the order messages of one channel."""

    def __init__(
        self,
        channel: str,
        fmt: str,
        store: IngestStore,
        submit: Submit,
        *,
        secret: bytes | None = None,
        consumer: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        claim_idle_ms: int = 30_000,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        mode: str | None = None,
    ) -> None:
        problem = invalid_mode(mode) if mode is not None else None
        if problem:
            raise ValueError(f"{channel}: {problem}")
        self.channel = channel
        self.fmt = fmt
        #: ``platform-first`` or ``reserve-first`` (``policies.channel_modes``)
        self.mode = mode or default_mode(fmt)
        self.asked_first = asks_first(self.mode)
        self.store = store
        self.submit = submit
        self.secret = secret
        self.consumer = consumer or f"{channel}@{socket.gethostname()}"
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.tolerance_seconds = tolerance_seconds
        self.log = log.bind(channel=channel, consumer=self.consumer)
        #: after a (re)start or a failed batch: finish what this consumer held pending, then
        #: set the group back to the saved position
        self._recovering = True
        #: a position is saved: new entries are read without the pending list
        self._untracked = False
        #: the group's delivery past the saved position at the last claim scan
        self._past_seen: str | None = None

    # ---- the stream -------------------------------------------------------------------

    def poll(self, block_ms: int = 100) -> int:
        """Read and process one batch of entries; how many entries were handled."""
        if self._recovering:
            entries = self.store.read(self.consumer, self.batch_size, pending=True)
            if entries:
                return self._process_entries(entries, tracked=True)
            self._untracked = self.store.rewind()
            self._recovering = False
            return 0
        tracked = not self._untracked
        try:
            entries = self.store.read(
                self.consumer, self.batch_size, pending=False, block_ms=block_ms, tracked=tracked
            )
        except Exception:
            # Redis may have delivered them and the reply been lost: back to the position
            self._recovering = True
            raise
        if not entries:
            return 0
        read_range = InboxRange(entries[0].entry_id, entries[-1].entry_id)
        handled = self._process_entries(entries, read_range, tracked=tracked)
        self._untracked = True  # its publication saved the position
        return handled

    def claim_stale(self) -> int:
        """Take over entries another consumer has held longer than ``claim_idle_ms`` (it
        probably died) and process them; how many were handled.

        Also the watch over entries read past the saved position by a reader that is gone
        (an actor Ray replaced, a read whose reply was lost): when the group's delivery
        stands past the position and has not moved since the last scan, this reader (which
        has nothing in flight between polls) rewinds and decides them, even if the channel
        stays quiet."""
        if self._untracked and not self._recovering:
            past = self.store.read_past()
            if past is not None and past == self._past_seen:
                self.log.warning("entries_read_past_position_read_again", delivered=past)
                self._recovering = True
            self._past_seen = past
        handled = 0
        start = SCAN_START
        while True:
            page = self.store.claim(self.consumer, self.claim_idle_ms, start, self.batch_size)
            if page.trimmed:  # trimmed from the stream while pending: nothing left to process
                self.log.warning("claimed_entries_were_trimmed", count=page.trimmed)
            handled += self._process_entries(page.entries, tracked=True)
            start = page.next_start
            if start == SCAN_START or not page.entries:
                return handled

    def trim_inbox(self) -> int:
        """Give back the space of inbox entries decided and acknowledged by every reader
        (``IngestStore.trim_decided``); how many entries went."""
        trimmed = self.store.trim_decided()
        if trimmed:
            self.log.debug("inbox_trimmed", entries=trimmed)
        return trimmed

    def _process_entries(
        self, entries: Sequence[InboxEntry], read_range: InboxRange | None = None, *, tracked: bool
    ) -> int:
        """Decide ``entries`` and publish their answers, acknowledging them if ``tracked``
        (on the pending list) and moving the saved position past ``read_range``."""
        if read_range is None:
            entries = self._untrack_past_position(entries)
        if not entries:
            return 0
        acknowledged = [entry.entry_id for entry in entries] if tracked else []
        try:
            self.process([entry.message for entry in entries], acknowledged, read_range=read_range)
        except Exception as error:
            # Not published: pending entries stay pending, and the group goes back to the
            # saved position; all are read again.
            self._recovering = True
            if isinstance(error, InboxMoved):
                self.log.warning("batch_read_again", reason=str(error), entries=len(entries))
            raise
        return len(entries)

    def _untrack_past_position(self, entries: Sequence[InboxEntry]) -> Sequence[InboxEntry]:
        """Pending entries (own or claimed) that lie after the saved position are decided
        through the position, in order, never here: deciding them from the pending list
        would leave the position behind them, and a rewind would publish them again. They
        leave the pending list, and the next poll rewinds to read them."""
        position = self.store.position() if entries else None
        if position is None:
            return entries
        cutoff = entry_order(position)
        kept: list[InboxEntry] = []
        after: list[str] = []
        for entry in entries:
            if entry_order(entry.entry_id) <= cutoff:
                kept.append(entry)
            else:
                after.append(entry.entry_id)
        if not after:
            return entries
        self.store.untrack(after)
        self._recovering = True
        self.log.info("pending_entries_past_position_read_again", entries=len(after))
        return kept

    # ---- webhooks ---------------------------------------------------------------------

    def ingest_signed(self, body: bytes, headers: WebhookHeaders, now: float) -> IngestResult:
        """A platform's batch signed Standard Webhooks style (``policies.channels.signing``),
        received at ``now`` (unix seconds): a JSON array of messages (or one message). The
        signature and its timestamp are checked over the exact bytes before anything is
        parsed (``WebhookRejected``); then the body must decode (``WebhookUndecodable``)."""
        problem = webhook_problem(self.secret or b"", body, headers, now, self.tolerance_seconds)
        if problem:
            self.log.warning("webhook_rejected", reason=problem.message, code=problem.code, bytes=len(body))
            raise WebhookRejected(problem.message, problem.code)
        return self.process(webhook_messages(body))

    # ---- the shared path --------------------------------------------------------------

    def process(
        self,
        raws: Sequence[RawMessage],
        entry_ids: Sequence[str] = (),
        *,
        read_range: InboxRange | None = None,
    ) -> IngestResult:
        """Parse a batch of platform messages and ``decide`` them; ``entry_ids`` are the
        pending inbox entries they came from, ``read_range`` the new entries read after
        the saved position."""
        try:
            messages = parse_messages(self.channel, self.fmt, raws)
        except Exception:  # a parser defect: only the messages that raise are set aside
            messages = [self._parse_or_park(raw) for raw in raws]
        return self.decide(messages, entry_ids, read_range=read_range)

    def _parse_or_park(self, raw: RawMessage) -> ChannelMessage | Unreadable:
        """``parse_message``, or, when the parser raises (it should name every problem as
        ``Unreadable``; an exception is a defect), the message as a dead letter with the
        error: one bad message must never fail its batch on every retry and stall the
        channel behind it."""
        try:
            return parse_message(self.channel, self.fmt, raw)
        except Exception as error:
            self.log.error("message_parse_failed", exc_info=error)
            reason = f"the parser failed on this message: {type(error).__name__}: {error}"[:500]
            return Unreadable(self.channel, reason, message_text(raw))

    def decide(
        self,
        messages: Sequence[ChannelMessage | Unreadable],
        entry_ids: Sequence[str] = (),
        *,
        read_range: InboxRange | None = None,
    ) -> IngestResult:
        """Decide parsed messages (durably, through ``submit``) in message order and
        publish the answers; acknowledge ``entry_ids`` and move the saved position past
        ``read_range`` in the same transaction as the publication. The one way orders are
        decided, whether they came from the inbox, a webhook or the HTTP API.

        Orders stay whole: an order id decided before (or earlier in the batch) that
        comes with other lines is refused as ``order_conflict`` and changes nothing; one
        whose first decision was a rejection gets that rejection again from its record;
        every order decided for the first time is recorded, accepted or not.

        A flash sale's common order (an id not seen before; every line accepted) takes a
        fast path (``decide_accepted_order``) that gives the same answers, records and
        publication as ``reference_decide``."""
        return self._decide(messages, entry_ids, read_range, fast=True)

    def reference_decide(
        self, messages: Sequence[ChannelMessage | Unreadable], entry_ids: Sequence[str] = ()
    ) -> IngestResult:
        """``decide`` without its fast path: every order goes through
        ``answer_from_record``, ``compensations_for``, ``decide_order``, ``record_order``
        and ``cancellation_request``. The reference the fast path is tested against."""
        return self._decide(messages, entry_ids, None, fast=False)

    def _decide(
        self,
        messages: Sequence[ChannelMessage | Unreadable],
        entry_ids: Sequence[str],
        read_range: InboxRange | None,
        *,
        fast: bool,
    ) -> IngestResult:
        recorded = self._recorded(messages)
        known_skus = {order_id: r.skus for order_id, r in recorded.items() if r.accepted}
        first_lines: dict[str, PlatformOrder] = {}
        latest: dict[str, PlatformOrder] = {}  # the last order decided per id: its SKUs are known
        ops: list[Operation] = []
        spans: list[_Span] = []
        dead: list[Unreadable] = []
        ignored = 0
        asked_first = self.asked_first
        for message in messages:
            if isinstance(message, PlatformOrder):
                order_id = message.order_id
                if fast and order_id not in recorded and order_id not in first_lines:
                    ready = None  # nothing to answer it from: answer_from_record says None
                else:
                    ready = answer_from_record(message, recorded.get(order_id), first_lines.get(order_id))
                if ready is not None:
                    if ready.reason == ORDER_CONFLICT:
                        detail = ready.lines[0].detail if ready.lines else ""
                        self.log.warning("order_conflict_refused", order=order_id, detail=detail)
                    spans.append((message, len(ops), len(ops), ready))
                    continue
                new_ops: Sequence[Operation] = reservations_for(message, asked_first=asked_first)
                first_lines.setdefault(order_id, message)
                latest[order_id] = message
            elif isinstance(message, Unreadable):
                dead.append(message)
                continue
            elif isinstance(message, Ignored):
                ignored += 1
                continue
            else:
                order = latest.get(message.order_id)
                skus = (
                    [line.sku for line in order.lines]
                    if order is not None
                    else known_skus.get(message.order_id, [])
                )
                new_ops = (
                    confirmations_for(message, skus)
                    if isinstance(message, Payment)
                    else releases_for(message, skus)
                )
            spans.append((message, len(ops), len(ops) + len(new_ops), None))
            ops.extend(new_ops)

        decisions = self.submit(ops) if ops else []
        compensation: list[Operation] = []
        # per span: its compensations' positions, and the fast path's answer and record
        given_back: list[tuple[int, int, tuple[OrderDecision, RecordedOrder] | None]] = []
        for message, start, end, ready in spans:
            begin = len(compensation)
            accepted = None
            if ready is None and isinstance(message, PlatformOrder):
                lines = decisions[start:end]
                if fast:
                    accepted = decide_accepted_order(message, tuple(lines))
                if accepted is None:
                    compensation.extend(compensations_for(message, lines))
            given_back.append((begin, len(compensation), accepted))
        released = self.submit(compensation) if compensation else []
        orders: list[OrderDecision] = []
        notices: list[NoticeDecision] = []
        index: dict[str, RecordedOrder] = {}
        cancellations: list[CancellationRequest] = []
        for (message, start, end, ready), (begin, given_end, accepted) in zip(spans, given_back, strict=True):
            if not isinstance(message, PlatformOrder):
                notices.append(decide_notice(message, decisions[start:end]))
                continue
            if ready is not None:
                orders.append(ready)
                continue
            order_id = message.order_id
            first = order_id not in recorded and order_id not in index
            if accepted is not None:  # nothing to compensate nor to cancel
                orders.append(accepted[0])
                if first:
                    index[order_id] = accepted[1]
                continue
            decision = decide_order(message, decisions[start:end], released[begin:given_end])
            orders.append(decision)
            conflict = any(d.reason == ORDER_CONFLICT for d in decision.lines)
            if first and not conflict:  # a conflict is refused, not recorded (nor cancelled)
                index[order_id] = record_order(decision)
                request = cancellation_request(decision, asked_first=asked_first)
                if request is not None:
                    cancellations.append(request)
        self._publish(orders, notices, dead, ignored, entry_ids, read_range, index, cancellations)
        return IngestResult(orders, notices, dead, ignored)

    def _recorded(self, messages: Sequence[object]) -> dict[str, RecordedOrder]:
        """The records of the orders (and of the orders that payments and cancels without
        SKUs name) decided before."""
        wanted = sorted(
            {m.order_id for m in messages if isinstance(m, PlatformOrder)}
            | {m.order_id for m in messages if isinstance(m, Payment | Cancellation) and not m.skus}
        )
        return self.store.recorded_orders(wanted) if wanted else {}

    def _publish(
        self,
        orders: list[OrderDecision],
        notices: list[NoticeDecision],
        dead: list[Unreadable],
        ignored: int,
        entry_ids: Sequence[str],
        read_range: InboxRange | None,
        index: dict[str, RecordedOrder],
        cancellations: list[CancellationRequest],
    ) -> None:
        counts = {
            "orders": len(orders),
            "accepted": sum(o.accepted for o in orders),
            "notices": len(notices),
            "dead": len(dead),
            "ignored": ignored,
            "cancel_requests": len(cancellations),
        }
        for letter in dead:
            self.log.warning("message_dead_lettered", order=letter.order_id, reason=letter.reason)
        self.store.publish(
            Publication(
                orders,
                notices,
                dead,
                index,
                {k: v for k, v in counts.items() if v},
                list(entry_ids),
                cancellations,
                read_range,
            )
        )

    def stats(self) -> dict[str, int]:
        """Counters so far and the entries delivered but not yet acknowledged."""
        return {**self.store.counters(), "pending": self.store.pending()}
