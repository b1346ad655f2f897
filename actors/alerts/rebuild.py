"""A restarted forecaster's memory, rebuilt from the durable ledger stream.

The forecaster's sales windows live in memory. The ledger stream (``ns:ledger``, one
entry per committed batch with every line record it changed) holds the same facts
durably, so after a restart the windows are refilled from its recent entries before
anything is evaluated: a reservation or a direct sale seen for the first time counts
its units at the order's ``placed_at``; a release takes them back; a confirmation of a
reservation already counted adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.infra import keys
from actors.infra.codec import LedgerEntry, decode_ledger_entry, split_field, text
from actors.infra.redis_client import RedisClient
from actors.infra.wire import SaleEvent
from policies.ledger import LineStatus

SELLING = (LineStatus.RESERVED, LineStatus.SOLD)


def sales_of(entries: Iterable[LedgerEntry]) -> list[SaleEvent]:
    """The sale events (units, negative for a release) the entries' order lines stand for,
    oldest first; restocks and adjustments are not sales."""
    counted: set[tuple[str, str]] = set()
    sales: list[SaleEvent] = []
    for entry in entries:
        for sku, line_field, record in entry.lines:
            channel, order_id = split_field(line_field)
            if not order_id or record.placed_at <= 0:
                continue  # not an order line (restock, adjustment)
            if record.status in SELLING and (sku, line_field) not in counted:
                counted.add((sku, line_field))
                sales.append(SaleEvent(sku, record.placed_at, record.quantity, channel))
            elif record.status == LineStatus.RELEASED:
                counted.add((sku, line_field))
                sales.append(SaleEvent(sku, record.placed_at, -record.quantity, channel))
    return sales


def read_ledger_since(
    client: RedisClient, namespace: str, since_wall: float, batch: int = 10_000
) -> list[LedgerEntry]:
    """The ledger stream's entries committed at or after ``since_wall`` (epoch seconds,
    the Redis clock of the commit), oldest first, read ``batch`` entries at a time."""
    stream = keys.ledger_stream(namespace)
    start = f"{max(int(since_wall * 1000), 0)}-0"
    entries: list[LedgerEntry] = []
    while True:
        # redis-py types stream replies loosely; each is (id, {field: value})
        page: Any = client.xrange(stream, start, "+", count=batch)
        for entry_id, fields in page:
            entries.append(decode_ledger_entry(text(entry_id), fields or {}))
        if len(page) < batch:
            return entries
        last = text(page[-1][0])
        millis, _, seq = last.partition("-")
        start = f"{millis}-{int(seq or 0) + 1}"
