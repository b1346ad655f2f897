"""``IngestStore`` in one process's memory, for the core's unit tests; the contract suite
(``tests/contract/test_ingest_store_contract.py``) holds it to the Redis store's behaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from actors.infra.codec import (
    decision_fields,
    decode_order,
    encode_order,
    format_notice,
    format_order_decision,
)
from actors.infra.settings import DEFAULT_RETENTION_SECONDS
from actors.ingest.inbox_read import InboxEntry
from actors.ingest.order_index import current_window
from actors.ingest.store import (
    SCAN_START,
    Backlog,
    ClaimedPage,
    DeadLetter,
    InboxMoved,
    Publication,
    RawMessage,
    accepted_skus,
    entry_order,
    message_text,
)
from policies.orders import CancellationRequest, RecordedOrder


class _Delivery(NamedTuple):
    consumer: str
    at_ms: float


class MemoryIngestStore:
    """The same behaviour in one process's memory: a stream with one consumer group
    (delivery, pending entries per consumer, claims by idle time) and a saved read
    position, no blocking reads."""

    def __init__(
        self, *, retention_seconds: float = DEFAULT_RETENTION_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.retention_seconds = retention_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._inbox: list[InboxEntry] = []
        self._delivered = 0  # entries of the inbox handed out as new so far
        self._last_id = 0  # the sequence of the last entry id given out
        self._pending: dict[str, _Delivery] = {}
        self._position: str | None = None  # the last entry decided in order
        self._last_delivered: str | None = None  # the group's last delivered entry
        #: the order index by window (``actors.ingest.order_index``): (start, expiry) of the
        #: window -> order id -> record, in the order the windows were first written;
        #: windows of another length (the retention changed) stay until they expire
        self._orders: dict[tuple[float, int], dict[str, str]] = {}
        self._decisions: list[str] = []
        self._dead: list[DeadLetter] = []
        self._counters: dict[str, int] = {}
        self._cancellations: list[CancellationRequest] = []

    def read(
        self, consumer: str, count: int, *, pending: bool, block_ms: int = 0, tracked: bool = True
    ) -> list[InboxEntry]:
        with self._lock:
            if pending:
                mine = [e for e in self._inbox if self._holder(e.entry_id) == consumer][:count]
                for entry in mine:
                    self._pending[entry.entry_id] = _Delivery(consumer, _now_ms())
                return mine
            new = self._inbox[self._delivered : self._delivered + count]
            self._delivered += len(new)
            if new:
                self._last_delivered = new[-1].entry_id
            if tracked:
                for entry in new:
                    self._pending[entry.entry_id] = _Delivery(consumer, _now_ms())
            return new

    def rewind(self) -> bool:
        with self._lock:
            if self._position is None:
                return False
            self._delivered = self._decided()
            self._last_delivered = self._position
            return True

    def position(self) -> str | None:
        with self._lock:
            return self._position

    def read_past(self) -> str | None:
        with self._lock:
            last, position = self._last_delivered, self._position
            if last is None or position is None or entry_order(last) <= entry_order(position):
                return None
            return last

    def untrack(self, entry_ids: Sequence[str]) -> None:
        with self._lock:
            for entry_id in entry_ids:
                self._pending.pop(entry_id, None)

    def claim(self, consumer: str, idle_ms: int, start: str, count: int) -> ClaimedPage:
        with self._lock:
            now = _now_ms()
            stale = [
                e
                for e in self._inbox
                if entry_order(e.entry_id) >= entry_order(start)
                and e.entry_id in self._pending
                and now - self._pending[e.entry_id].at_ms >= idle_ms
            ]
            page, rest = stale[:count], stale[count:]
            for entry in page:
                self._pending[entry.entry_id] = _Delivery(consumer, now)
            return ClaimedPage(rest[0].entry_id if rest else SCAN_START, page, 0)

    def recorded_orders(self, order_ids: Sequence[str]) -> dict[str, RecordedOrder]:
        now = self.clock()
        found: dict[str, RecordedOrder] = {}
        with self._lock:
            # oldest first (in the order they were first written): its record wins
            for window, recorded in list(self._orders.items()):
                if window[1] <= now:
                    del self._orders[window]  # as Redis expires it
                    continue
                for order_id in order_ids:
                    if order_id in recorded and order_id not in found:
                        found[order_id] = decode_order(recorded[order_id])
        return found

    def order_skus(self, order_ids: Sequence[str]) -> dict[str, list[str]]:
        """The SKUs of the accepted orders among ``order_ids``."""
        return accepted_skus(self.recorded_orders(order_ids))

    def publish(self, publication: Publication) -> None:
        orders, notices, dead, order_index, counts, acknowledged, cancellations, read_range = publication
        window = current_window(self.clock(), self.retention_seconds)
        with self._lock:
            if read_range is not None and self._position is not None:
                after = self._inbox[self._decided() :]
                if not after or after[0].entry_id != read_range.first:
                    raise InboxMoved(
                        f"the inbox was decided up to {self._position}, and this batch does not "
                        f"start with the entry after it: {read_range.first}"
                    )
            if read_range is not None:  # the range's entries held pending by another reader
                first, last = entry_order(read_range.first), entry_order(read_range.last)
                for entry_id in [e for e in self._pending if first <= entry_order(e) <= last]:
                    del self._pending[entry_id]
            self._cancellations.extend(cancellations)
            current = self._orders.setdefault(window, {})
            for order_id, recorded in order_index.items():
                current.setdefault(order_id, encode_order(recorded))  # never overwritten
            if orders or notices:
                lines = [format_order_decision(o) for o in orders] + [format_notice(n) for n in notices]
                self._decisions.append("\n".join(lines))
            self._dead.extend(DeadLetter(d.reason, d.raw, d.order_id) for d in dead)
            for name, value in counts.items():
                self._counters[name] = self._counters.get(name, 0) + value
            for entry_id in acknowledged:
                self._pending.pop(entry_id, None)
            if read_range is not None:
                self._position = read_range.last

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def inbox_length(self) -> int:
        with self._lock:
            return len(self._inbox)

    def backlog(self) -> Backlog:
        with self._lock:
            past = self._delivered - self._decided() if self._position is not None else 0
            return Backlog(len(self._pending) + max(0, past), len(self._inbox) - self._delivered)

    def trim_decided(self) -> int:
        with self._lock:
            if self._pending:
                oldest = min(entry_order(entry_id) for entry_id in self._pending)
                decided = sum(1 for e in self._inbox[: self._delivered] if entry_order(e.entry_id) < oldest)
            else:
                decided = self._delivered
            if self._position is not None:
                decided = min(decided, self._decided())
            del self._inbox[:decided]
            self._delivered -= decided
            return decided

    def enqueue(self, messages: Sequence[RawMessage]) -> list[str]:
        with self._lock:
            added = []
            for message in messages:
                text = message_text(message)
                self._last_id += 1
                entry = InboxEntry(f"{self._last_id}-0", text.encode() if isinstance(text, str) else text)
                self._inbox.append(entry)
                added.append(entry.entry_id)
            return added

    def published(self) -> list[list[str]]:
        with self._lock:
            return [fields for entry in self._decisions for fields in _split_decisions(entry)]

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            return list(self._dead)

    def cancellation_requests(self) -> list[CancellationRequest]:
        with self._lock:
            return list(self._cancellations)

    def _decided(self) -> int:
        """How many inbox entries lie up to the saved position (none without one)."""
        if self._position is None:
            return 0
        position = entry_order(self._position)
        return sum(1 for e in self._inbox if entry_order(e.entry_id) <= position)

    def _holder(self, entry_id: str) -> str | None:
        delivery = self._pending.get(entry_id)
        return delivery.consumer if delivery else None


def _split_decisions(entry: str) -> list[list[str]]:
    return decision_fields({b"decisions": entry.encode()})


def _now_ms() -> float:
    return time.monotonic() * 1000
