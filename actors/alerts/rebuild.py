"""A restarted forecaster's memory, rebuilt from the durable ledger logs.

The forecaster's sales windows live in memory. The ledger logs (``{ns:pN}:log``, one per
partition, one entry per committed batch with every line record it changed; read with
``actors.owner.reads.read_log_since``) hold the same facts durably, so after a restart
the windows are refilled from their recent entries before anything is evaluated: a
reservation or a direct sale seen for the first time counts its units at the order's
``placed_at``; a release takes them back; a confirmation of a reservation already
counted adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.infra.codec import LedgerEntry, split_field
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
