"""The audit of a load run: what the generator sent against what the system recorded.

Checks the promises of the README's promises table on the final state: every order sent has a published
decision (none missing); an order's published decisions never disagree (a redelivery
repeats the first decision); every accepted order line has its record and each SKU's
``reserved + sold`` is exactly the units of its reserved and sold line records (no line
deducted twice); no SKU holds more promised than ``on_hand`` (no oversell);
``on_hand`` is what the catalogue plus restocks put there; and the grant invariant:
``sum over platforms of (granted - consumed) + reserved + sold <= on_hand`` with the
grant book ChannelSync saved (``grant_overcommitted``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from policies.grants import GrantBook
from policies.ledger import Ledger, LineRecord, LineStatus
from policies.operations import FIELD_SEPARATOR


class SentOrder(NamedTuple):
    channel: str
    order_id: str
    sku: str
    quantity: int


class PublishedDecision(NamedTuple):
    """One published decision of an order (a redelivered order is published again)."""

    channel: str
    order_id: str
    accepted: bool


@dataclass
class AuditResult:
    orders_sent: int = 0
    decisions_found: int = 0
    missing: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)
    records_missing: list[str] = field(default_factory=list)
    double_counted_units: dict[str, int] = field(default_factory=dict)
    oversold_units: dict[str, int] = field(default_factory=dict)
    on_hand_drift: dict[str, int] = field(default_factory=dict)
    #: sku -> units granted to platforms beyond what the pool covers (negative headroom)
    grant_overcommitted: dict[str, int] = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return (
            len(self.missing)
            + len(self.conflicting)
            + len(self.records_missing)
            + len(self.double_counted_units)
            + len(self.oversold_units)
            + len(self.on_hand_drift)
            + len(self.grant_overcommitted)
        )


def audit_orders(
    sent: Sequence[SentOrder],
    published: Sequence[PublishedDecision],
    records: Mapping[str, Mapping[str, LineRecord]],
    ledgers: Mapping[str, Ledger],
    expected_on_hand: Mapping[str, int],
) -> AuditResult:
    """``records``: sku -> line field -> its stored record; ``ledgers``: the stored
    ledgers of the SKUs to check; ``expected_on_hand``: sku -> units the catalogue and
    restocks added."""
    result = AuditResult(orders_sent=len(sent))
    outcomes: dict[tuple[str, str], set[bool]] = defaultdict(set)
    for decision in published:
        outcomes[(decision.channel, decision.order_id)].add(decision.accepted)
    for order in sent:
        key = (order.channel, order.order_id)
        found = outcomes.get(key)
        name = f"{order.channel}/{order.order_id}"
        if not found:
            result.missing.append(name)
            continue
        result.decisions_found += 1
        if len(found) > 1:
            result.conflicting.append(name)
        if True in found:
            record = records.get(order.sku, {}).get(f"{order.channel}{FIELD_SEPARATOR}{order.order_id}")
            if record is None or record.status not in (
                LineStatus.RESERVED,
                LineStatus.SOLD,
                LineStatus.RELEASED,
            ):
                result.records_missing.append(name)
    for sku, ledger in ledgers.items():
        held = sum(
            record.quantity
            for record in records.get(sku, {}).values()
            if record.status in (LineStatus.RESERVED, LineStatus.SOLD)
        )
        if held != ledger.reserved + ledger.sold:
            result.double_counted_units[sku] = ledger.reserved + ledger.sold - held
        if ledger.reserved + ledger.sold > ledger.on_hand:
            result.oversold_units[sku] = ledger.reserved + ledger.sold - ledger.on_hand
        expected = expected_on_hand.get(sku)
        if expected is not None and expected != ledger.on_hand:
            result.on_hand_drift[sku] = ledger.on_hand - expected
    return result


def audit_grants(
    book_state: Mapping[str, Any] | None,
    records: Mapping[str, Mapping[str, LineRecord]],
    ledgers: Mapping[str, Ledger],
) -> dict[str, int]:
    """SKUs whose saved grants exceed what the pool covers, with the units over: the
    book's grants less what each platform's accepted order lines consumed (each line
    once), against the stored ledger. Empty without a book (no platform-first platform)."""
    if not book_state:
        return {}
    book = GrantBook.from_state(book_state, ())
    for sku, lines in records.items():
        for line_field, record in lines.items():
            if line_field.startswith("~") or record.status == LineStatus.REJECTED:
                continue
            book.record_sale(line_field.split(FIELD_SEPARATOR, 1)[0], sku, record.quantity)
    over = {sku: -book.headroom(sku, ledger.available) for sku, ledger in ledgers.items()}
    return {sku: units for sku, units in over.items() if units > 0}
