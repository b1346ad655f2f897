"""Where a channel's ingest keeps its messages and answers: the narrow interface the
``ChannelIngest`` core needs, on Redis (the system of record) and in memory (for unit
tests; ``tests/contract/test_ingest_store_contract.py`` holds both to one behaviour).

The in-memory store is in ``actors.ingest.memory_store``.

Redis keys of a channel (``actors.infra.keys.ChannelKeys``; ``{ns:ch:<channel>}`` is the
channel's hash tag):

- ``{ns:ch:<channel>}:in``           the inbox stream, read through the consumer group
                                     ``ingest``; field ``m`` holds the platform's message
- ``{ns:ch:<channel>}:decisions``    published decisions, one entry per batch, a line per
                                     decision (``actors.infra.codec``)
- ``{ns:ch:<channel>}:dead``         unreadable messages: ``reason``, ``raw``, ``order_id``
- ``{ns:ch:<channel>}:orders:<w>``   order id -> the order as first decided
                                     (``encode_order``: its lines and outcome), written
                                     once, never overwritten, in windows of the retention
                                     window that expire (``actors.ingest.order_index``)
- ``{ns:ch:<channel>}:cancel-requests``  orders the platform must cancel
- ``{ns:ch:<channel>}:ingest-stats`` counters
- ``{ns:ch:<channel>}:position``     the last inbox entry decided in order (``id``) and the
                                     group's entries-read count there (``read``)

Reading without the pending list. ``XREADGROUP`` keeps a pending-list entry per entry
read, and with the append-only file Redis logs each of them and each ``XACK``: 3.6-5.2 us
of Redis per entry, against ~0.45 us for a read with ``NOACK`` and one saved position per
batch (docs/benchmarks.md, "Session 8"). So once a position is saved, the ingest reads
new entries with ``NOACK`` (``read(tracked=False)``), and each batch's publication moves
the position to its last entry, as a compare-and-set (``InboxRange``,
``actors.ingest.publish_script``). After a crash or a failed batch the group is set back
to the saved position (``rewind``, ``XGROUP SETID`` with the entries-read count, so the
group's lag stays known) and the entries after it are read again. Until a position is
saved (a new channel, or an inbox of a version before) reads are tracked as before, and
the first batch's publication saves it. Entries on the pending list (read before a
position was saved, by an earlier version, or claimed from a dead consumer) are
acknowledged as before.

A batch's publication (decisions, order index, dead letters, counters, the
acknowledgement of its tracked inbox entries and the position) is one script call
(``actors.ingest.publish_script``) in a MULTI/EXEC transaction: all or nothing. The keys
share the channel's hash tag, so on a Redis Cluster it is one slot's transaction, also on
a replica before it returns
(``actors.infra.atomic_write``). It is not sent again when the connection is lost after
it was sent (it would publish twice): ``WriteOutcomeUnknownError``, the batch fails, and
its inbox entries, acknowledged (or passed by the position) in the same transaction, are
delivered again only if it was not applied; if it was, the rewind finds the group at the
position past it (or, if another batch was read meanwhile, the position check refuses that
one: ``InboxMoved``, and the reader rewinds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import redis

from actors.infra.atomic_write import atomic_write
from actors.infra.codec import (
    decision_fields,
    format_notice,
    format_order_decision,
    text,
)
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import DEFAULT_RETENTION_SECONDS, StoreConfig
from actors.ingest.inbox_read import InboxEntry, InboxReader, inbox_entries
from actors.ingest.order_index import bound_unsplit_index, read_recorded
from actors.ingest.publish_script import INBOX_MOVED, PUBLISH_KEYS, PUBLISH_LUA, publish_arguments
from policies.channels import Unreadable
from policies.operations import FIELD_SEPARATOR
from policies.orders import CancellationRequest, NoticeDecision, OrderDecision, RecordedOrder

#: the consumer group every ingest of a channel reads the inbox through
GROUP = "ingest"
#: a message as a platform sends it: JSON text (bytes or str) or an already-decoded object
RawMessage = bytes | str | Mapping[str, Any]
#: the claim scan's start and end mark
SCAN_START = "0-0"


class ClaimedPage(NamedTuple):
    """One page of a claim scan. ``next_start`` is ``SCAN_START`` when the scan is done;
    ``trimmed`` counts pending entries that had been trimmed from the stream (they are
    acknowledged: nothing is left to process)."""

    next_start: str
    entries: list[InboxEntry]
    trimmed: int


class Backlog(NamedTuple):
    """A channel's inbox backlog: ``pending`` read and not yet decided (on the pending
    list, or read past the saved position), ``undelivered`` not yet read by any (None
    when Redis cannot tell)."""

    pending: int
    undelivered: int | None


class DeadLetter(NamedTuple):
    reason: str
    raw: str
    order_id: str


class InboxRange(NamedTuple):
    """The first and last entry of a batch of new entries, read in order after the saved
    position: its publication moves the position to ``last`` if ``first`` is the entry
    right after it (``InboxMoved`` otherwise)."""

    first: str
    last: str


class InboxMoved(RuntimeError):
    """A batch's publication was refused, nothing written: its first entry is not the one
    right after the saved position (another reader decided past it, or the batch was read
    before a rewind). The reader rewinds and reads again; every decision is idempotent."""


class Publication(NamedTuple):
    """What one processed batch leaves behind, written in one transaction."""

    orders: Sequence[OrderDecision]
    notices: Sequence[NoticeDecision]
    dead: Sequence[Unreadable]
    #: order id -> the order as first decided, for orders decided for the first time
    #: (written only where the id has no record yet: an order stays whole)
    order_index: Mapping[str, RecordedOrder]
    #: counter increments, only the non-zero ones
    counts: Mapping[str, int]
    #: inbox entries this batch answers
    acknowledged: Sequence[str]
    #: orders a platform-first platform must cancel (oversells flashstock refused)
    cancellations: Sequence[CancellationRequest] = ()
    #: the new entries this batch answers, read in order after the saved position
    read_range: InboxRange | None = None


class IngestStore(Protocol):
    """The inbox, the answers and the counters of one channel."""

    def read(
        self, consumer: str, count: int, *, pending: bool, block_ms: int = 0, tracked: bool = True
    ) -> list[InboxEntry]:
        """``pending``: entries delivered to ``consumer`` and not yet acknowledged (after a
        restart); otherwise new entries, waiting up to ``block_ms`` (0: no wait), put on
        the pending list unless not ``tracked`` (then only the saved position, moved by
        their publication, stands for them)."""
        ...

    def rewind(self) -> bool:
        """Deliver again every entry after the saved position (after a crash or a failed
        batch: the untracked entries read past it were not decided); whether a position is
        saved (if not, nothing changes and new reads must be tracked)."""
        ...

    def claim(self, consumer: str, idle_ms: int, start: str, count: int) -> ClaimedPage:
        """Entries pending with any consumer for at least ``idle_ms``, from ``start``,
        handed over to ``consumer``."""
        ...

    def recorded_orders(self, order_ids: Sequence[str]) -> dict[str, RecordedOrder]:
        """The first decisions of the orders among ``order_ids`` that were decided before
        (accepted or not; unknown ones left out)."""
        ...

    def order_skus(self, order_ids: Sequence[str]) -> dict[str, list[str]]:
        """The SKUs of the accepted orders among ``order_ids`` (unknown ones left out)."""
        ...

    def position(self) -> str | None:
        """The saved position: the last inbox entry decided in order (None: none saved)."""
        ...

    def read_past(self) -> str | None:
        """The last entry the group delivered when that is past the saved position (read
        without the pending list and not decided yet, or by a reader that is gone); None
        otherwise."""
        ...

    def untrack(self, entry_ids: Sequence[str]) -> None:
        """Take entries off the pending list without deciding them (they lie after the
        saved position: a rewind reads them again and decides them in order)."""
        ...

    def publish(self, publication: Publication) -> None:
        """Write the publication whole, or, when its ``read_range`` does not start right
        after the saved position, nothing (``InboxMoved``)."""
        ...

    def counters(self) -> dict[str, int]: ...

    def pending(self) -> int:
        """Entries delivered to any consumer and not yet acknowledged."""
        ...

    def inbox_length(self) -> int:
        """Entries in the inbox: the backlog, plus decided ones not trimmed yet."""
        ...

    def backlog(self) -> Backlog:
        """What waits: entries read and not decided, and entries not delivered."""
        ...

    def trim_decided(self) -> int:
        """Remove the inbox entries every reader has decided and acknowledged: those older
        than the oldest pending entry (or, with none pending, every delivered one), the
        lowest over every consumer group, and never one after the saved position. Never an
        entry that is undelivered, pending or read past the position, so a crash at any
        point loses nothing: a trim repeated or skipped only changes when the space comes
        back. Skipped where that cannot be vouched for (see the Redis
        store). How many went."""
        ...

    def enqueue(self, messages: Sequence[RawMessage]) -> list[str]:
        """Append platform messages to the inbox (a connector or the simulator); their ids."""
        ...

    def published(self) -> list[list[str]]:
        """Every published decision so far, in order, as fields (``read_decisions``)."""
        ...

    def dead_letters(self) -> list[DeadLetter]: ...

    def cancellation_requests(self) -> list[CancellationRequest]:
        """Every cancellation request recorded so far, oldest first."""
        ...


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a sortable (milliseconds, sequence)."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def next_entry_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``."""
    milliseconds, _, sequence = entry_id.partition("-")
    return f"{milliseconds}-{int(sequence or 0) + 1}"


def message_text(message: RawMessage) -> bytes | str:
    return message if isinstance(message, bytes | str) else json.dumps(message, ensure_ascii=False)


def cancellation_fields(request: CancellationRequest) -> dict[str, str]:
    """A cancellation request as stream fields (``skus`` joined by the line separator)."""
    return {
        "channel": request.channel,
        "order_id": request.order_id,
        "skus": FIELD_SEPARATOR.join(request.skus),
        "reason": request.reason,
        "detail": request.detail,
    }


def cancellation_of(fields: Mapping[str, str]) -> CancellationRequest:
    """The cancellation request of stream fields written by ``cancellation_fields``."""
    skus = tuple(fields["skus"].split(FIELD_SEPARATOR)) if fields["skus"] else ()
    return CancellationRequest(
        fields["channel"], fields["order_id"], skus, fields["reason"], fields["detail"]
    )


def accepted_skus(recorded: Mapping[str, RecordedOrder]) -> dict[str, list[str]]:
    """The SKUs of the accepted orders among ``recorded`` (what payments and cancels that
    name only the order act on)."""
    return {order_id: r.skus for order_id, r in recorded.items() if r.accepted}


# ---- Redis ------------------------------------------------------------------------------


class RedisIngestStore:
    """A channel's ingest on Redis; creates the inbox and its consumer group if missing."""

    def __init__(
        self,
        client: RedisClient,
        keys: ChannelKeys,
        *,
        stream_maxlen: int = 1_000_000,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.stream_maxlen = stream_maxlen
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.inbox = InboxReader(client, keys.inbox, GROUP)
        bound_unsplit_index(client, keys, retention_seconds)
        try:
            self.redis.xgroup_create(keys.inbox, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    @classmethod
    def connect(
        cls, config: StoreConfig, channel: str, *, stream_maxlen: int = 1_000_000
    ) -> RedisIngestStore:
        client = connect(config.redis_url, socket_timeout=30.0)
        return cls(
            client,
            ChannelKeys.of(config.namespace, channel),
            stream_maxlen=stream_maxlen,
            retention_seconds=config.retention_seconds,
        )

    def read(
        self, consumer: str, count: int, *, pending: bool, block_ms: int = 0, tracked: bool = True
    ) -> list[InboxEntry]:
        return self.inbox.read(consumer, count, pending=pending, block_ms=block_ms, tracked=tracked)

    def rewind(self) -> bool:
        saved = self._position()
        if saved is None:
            return False
        position, entries_read = saved
        group = self._group()
        if group is not None and text(group["last-delivered-id"]) == position:
            return True  # nothing was read past it: the group's count stays as it is
        # with the count the group had there (Redis 7), so its lag stays known
        self.redis.xgroup_setid(self.keys.inbox, GROUP, position, entries_read=entries_read)
        return True

    def position(self) -> str | None:
        saved = self._position()
        return None if saved is None else saved[0]

    def read_past(self) -> str | None:
        saved = self._position()
        group = self._group()
        if saved is None or group is None:
            return None
        last = text(group["last-delivered-id"])
        return last if entry_order(last) > entry_order(saved[0]) else None

    def untrack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.redis.xack(self.keys.inbox, GROUP, *entry_ids)

    def _position(self) -> tuple[str, int | None] | None:
        """The saved position and the group's entries-read count there (None: unknown)."""
        raw: Any = self.redis.hgetall(self.keys.position)
        saved = {text(field): text(value) for field, value in (raw or {}).items()}
        if "id" not in saved:
            return None
        read = saved.get("read", "")
        return saved["id"], int(read) if read else None

    def claim(self, consumer: str, idle_ms: int, start: str, count: int) -> ClaimedPage:
        # [next start, entries, ids of pending entries no longer in the stream]
        reply: Any = self.redis.xautoclaim(self.keys.inbox, GROUP, consumer, idle_ms, start, count=count)
        deleted = [text(entry_id) for entry_id in reply[2]] if len(reply) > 2 else []
        if deleted:
            self.redis.xack(self.keys.inbox, GROUP, *deleted)
        return ClaimedPage(text(reply[0]), inbox_entries(reply[1]), len(deleted))

    def recorded_orders(self, order_ids: Sequence[str]) -> dict[str, RecordedOrder]:
        return read_recorded(self.redis, self.keys, order_ids, self.clock(), self.retention_seconds)

    def order_skus(self, order_ids: Sequence[str]) -> dict[str, list[str]]:
        """The SKUs of the accepted orders among ``order_ids``."""
        return accepted_skus(self.recorded_orders(order_ids))

    def publish(self, publication: Publication) -> None:
        orders, notices, dead, order_index, counts, acknowledged, cancellations, read_range = publication
        # One entry per batch, a line per decision: per-order entries cost more than the
        # decisions themselves at flash-sale rates.
        lines = [format_order_decision(order) for order in orders]
        lines += [format_notice(notice) for notice in notices]
        arguments = publish_arguments(
            self.keys,
            GROUP,
            self.stream_maxlen,
            "\n".join(lines),
            counts=counts,
            dead_letters=[
                {"reason": letter.reason, "raw": letter.raw, "order_id": letter.order_id} for letter in dead
            ],
            cancellations=[cancellation_fields(request) for request in cancellations],
            order_index=order_index,
            acknowledged=acknowledged,
            read_range=read_range,
            now=self.clock(),
            retention_seconds=self.retention_seconds,
        )
        # Not repeatable: a repeat would publish the decisions, dead letters and
        # cancellation requests twice and count them twice. On an unknown outcome
        # (``WriteOutcomeUnknownError``) the batch fails: applied, its entries are
        # acknowledged; not applied, they stay pending and are delivered again.
        try:
            atomic_write(
                self.redis,
                self.keys.inbox,
                lambda pipe: pipe.eval(PUBLISH_LUA, PUBLISH_KEYS, *arguments),
                repeatable=False,
            )
        except redis.exceptions.ResponseError as error:
            if str(error).startswith(INBOX_MOVED):
                raise InboxMoved(str(error).removeprefix(INBOX_MOVED).strip()) from error
            raise

    def counters(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.keys.stats)
        return {text(name): int(value) for name, value in raw.items()}

    def pending(self) -> int:
        summary: dict[str, Any] = self.redis.xpending(self.keys.inbox, GROUP)
        return int(summary["pending"])

    def inbox_length(self) -> int:
        return int(self.redis.xlen(self.keys.inbox))

    def backlog(self) -> Backlog:
        group = self._group()
        if group is None:
            return Backlog(0, int(self.redis.exists(self.keys.inbox) and self.redis.xlen(self.keys.inbox)))
        lag = group.get("lag")
        pending = int(group["pending"])
        saved = self._position()
        entries_read = group.get("entries-read")
        if saved is not None and saved[1] is not None and entries_read is not None:
            pending += max(0, int(entries_read) - saved[1])  # read past the position, not decided
        return Backlog(pending, None if lag is None else int(lag))

    def _group(self) -> dict[str, Any] | None:
        """The consumer group's ``XINFO GROUPS`` entry, None without inbox or group."""
        try:
            groups: Any = self.redis.xinfo_groups(self.keys.inbox)
        except redis.exceptions.ResponseError:  # no inbox yet
            return None
        return next((g for g in groups if text(g["name"]) == GROUP), None)

    def trim_decided(self) -> int:
        # For each consumer group on the inbox: entries below its oldest pending one were
        # delivered (a group delivers in id order) and are no longer pending, so they are
        # acknowledged; with none pending, every entry up to its last delivered one. The
        # cutoff is the lowest over all groups. Read in this order, a delivery or an
        # acknowledgement in between only makes it conservative. Nothing is trimmed when
        # a group cannot vouch for having read in order: Redis without consumer-group lag
        # (before 7.0) or with its lag unknown, or a group whose position was set beyond
        # the stream's last entry (XGROUP SETID, as a benchmark holding a backlog back).
        # Never past the saved position: the entries after it may have been read without
        # the pending list and not decided yet.
        try:
            groups: Any = self.redis.xinfo_groups(self.keys.inbox)
            stream: Any = self.redis.xinfo_stream(self.keys.inbox)
        except redis.exceptions.ResponseError:  # no inbox yet
            return 0
        if not groups:
            return 0
        last_generated = entry_order(text(stream["last-generated-id"]))
        cutoffs = []
        for group in groups:
            last = text(group["last-delivered-id"])
            if group.get("lag") is None or entry_order(last) > last_generated:
                return 0
            summary: Any = self.redis.xpending(self.keys.inbox, text(group["name"]))
            if summary["pending"]:
                cutoffs.append(text(summary["min"]))
            elif last == SCAN_START:
                return 0
            else:
                cutoffs.append(next_entry_id(last))
        saved = self._position()
        if saved is not None:
            cutoffs.append(next_entry_id(saved[0]))
        return int(self.redis.xtrim(self.keys.inbox, minid=min(cutoffs, key=entry_order), approximate=False))

    def enqueue(self, messages: Sequence[RawMessage]) -> list[str]:
        return enqueue(self.redis, self.keys, messages)

    def published(self) -> list[list[str]]:
        return [fields for _, fields in read_decisions(self.redis, self.keys)]

    def dead_letters(self) -> list[DeadLetter]:
        entries: Any = self.redis.xrange(self.keys.dead)  # [(id, {field: value})]
        return [DeadLetter(text(f[b"reason"]), text(f[b"raw"]), text(f[b"order_id"])) for _, f in entries]

    def cancellation_requests(self) -> list[CancellationRequest]:
        entries: Any = self.redis.xrange(self.keys.cancellations)  # [(id, {field: value})]
        return [cancellation_of({text(k): text(v) for k, v in f.items()}) for _, f in entries]


def read_decisions(
    client: RedisClient, keys: ChannelKeys, start: str = "-", end: str = "+"
) -> list[tuple[str, list[str]]]:
    """Published decisions as ``(entry id, fields)``, one per decision, in order; fields
    as in ``format_order_decision`` / ``format_notice``."""
    entries: Any = client.xrange(keys.decisions, start, end)  # [(id, {field: value})]
    return [(text(entry_id), fields) for entry_id, entry in entries for fields in decision_fields(entry)]


def enqueue(client: RedisClient, keys: ChannelKeys, messages: Sequence[RawMessage]) -> list[str]:
    """Append platform messages to a channel's inbox stream (what a platform connector or
    the simulator does), all or none; returns the entry ids."""
    if not messages:
        return []

    def queue(pipe: Any) -> None:
        for message in messages:
            pipe.xadd(keys.inbox, {"m": message_text(message)})

    # repeatable: a message enqueued twice is decided once (its order's first decision is
    # answered again), as when a platform sends it twice
    return [text(entry_id) for entry_id in atomic_write(client, keys.inbox, queue, repeatable=True)]
