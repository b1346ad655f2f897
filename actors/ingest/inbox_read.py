"""Reading a channel's inbox through its consumer group into ``InboxEntry`` tuples.

redis-py turns every entry of an ``XREADGROUP`` reply into a dict of its fields (and a
tuple around it) before the store keeps only the message: a third of the read's CPU in
the ingest loop (docs/benchmarks.md, "Where the time goes, 2026-11-28"). On a single
server the reader asks for the raw reply instead, through its own client on the caller's
connection pool whose ``XREADGROUP`` callback returns the reply as it came (hiredis's
nested lists), so the caller's client answers as before. A Redis Cluster client routes
by its own command parsing: there the reader uses redis-py's parsed reply.

A read changes nothing but the consumer group's position and, when ``tracked``, its
pending list (``XREADGROUP``'s own effect): on a crash tracked entries stay pending and
are read again with ``pending=True``; untracked ones (``NOACK``) are read again after the
group is set back to the saved position (``actors.ingest.store``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import redis
from redis.client import NEVER_DECODE

from actors.infra.codec import text
from actors.infra.redis_client import RedisClient

#: the inbox entry's field holding the platform's message
MESSAGE_FIELD = b"m"


class InboxEntry(NamedTuple):
    """One inbox entry: its stream id and the platform's message (``b""`` when absent)."""

    entry_id: str
    message: bytes


_new_entry = tuple.__new__  # InboxEntry without its generated __new__: one call less per entry


class InboxReader:
    """Reads one stream through one consumer group (``read``), raw where it can."""

    def __init__(self, client: RedisClient, stream: str, group: str) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self._raw: redis.Redis | None = None
        if isinstance(client, redis.Redis):
            self._raw = redis.Redis(connection_pool=client.connection_pool)
            self._raw.response_callbacks["XREADGROUP"] = _as_sent

    def read(
        self, consumer: str, count: int, *, pending: bool, block_ms: int = 0, tracked: bool = True
    ) -> list[InboxEntry]:
        """Up to ``count`` entries: this consumer's pending ones (``pending``) or new ones,
        waiting up to ``block_ms`` for them (0: not at all), put on the pending list only
        when ``tracked``."""
        start = "0" if pending else ">"
        block = None if pending or not block_ms else block_ms
        noack = not (pending or tracked)
        if self._raw is None:
            replies: Any = self.client.xreadgroup(  # redis-py types stream replies loosely
                self.group, consumer, {self.stream: start}, count=count, block=block, noack=noack
            )
            return inbox_entries(replies[0][1]) if replies else []
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, consumer, "COUNT", count]
        if block is not None:
            args += ["BLOCK", block]
        if noack:
            args.append("NOACK")
        reply = self._raw.execute_command(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            *args, "STREAMS", self.stream, start, **{NEVER_DECODE: True}
        )
        return raw_inbox_entries(reply)


def _as_sent(response: Any, **options: Any) -> Any:
    return response


def raw_inbox_entries(reply: Any) -> list[InboxEntry]:
    """The entries of a raw ``XREADGROUP`` reply of one stream: ``None`` (nothing
    new), ``{stream: entries}`` (RESP3) or ``[[stream, entries]]`` (RESP2), each entry
    ``[id, [field, value, ...]]`` or ``[id, None]`` when trimmed from the stream."""
    if not reply:
        return []
    entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    return [
        _new_entry(
            InboxEntry,
            (
                entry_id.decode(),
                fields[1] if fields and fields[0] == MESSAGE_FIELD else _message(fields),
            ),
        )
        for entry_id, fields in entries
    ]


def _message(fields: list[bytes] | None) -> bytes:
    for at in range(0, len(fields or ()) - 1, 2):
        if fields and fields[at] == MESSAGE_FIELD:
            return fields[at + 1]
    return b""


def inbox_entries(raw: Iterable[tuple[bytes, Mapping[bytes, bytes] | None]]) -> list[InboxEntry]:
    """The entries of redis-py's parsed stream reply (``XREADGROUP``, ``XAUTOCLAIM``)."""
    # a pending entry trimmed from the stream comes back without fields
    return [InboxEntry(text(entry_id), (fields or {}).get(MESSAGE_FIELD, b"")) for entry_id, fields in raw]
