"""From platform orders to ledger operations, and back to one decision per order.

A multi-line order is all-or-nothing: if any line is rejected, the lines that were
reserved are released again (compensation) and the order's decision names the line
that failed. Everything here is deterministic in the line decisions, so a redelivered
order (whose lines come back as duplicates) gets the same order decision and the same
compensation, which the ledger then recognises as already applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from policies.channels.model import Cancellation, Payment, PlatformOrder
from policies.ledger import Decision
from policies.operations import Confirm, Release, Reserve

#: release reason of lines given back because another line of the order was rejected
INCOMPLETE_ORDER = "order_incomplete"


class OrderDecision(NamedTuple):
    """The answer for one platform order: accepted only if every line was. When not,
    ``reason`` and ``failed_sku`` name the first rejected line."""

    channel: str
    order_id: str
    accepted: bool
    reason: str
    failed_sku: str
    lines: tuple[Decision, ...]
    duplicate: bool


def reservations_for(order: PlatformOrder) -> list[Reserve]:
    """One reservation per line, carrying the order's event time and paid flag."""
    return [
        Reserve(order.channel, order.order_id, line.sku, line.quantity, order.placed_at, order.paid)
        for line in order.lines
    ]


def decide_order(order: PlatformOrder, decisions: Sequence[Decision]) -> OrderDecision:
    """The order's decision from its lines' decisions (in line order)."""
    rejected = next((d for d in decisions if not d.accepted), None)
    return OrderDecision(
        order.channel,
        order.order_id,
        rejected is None,
        rejected.reason if rejected else "",
        rejected.sku if rejected else "",
        tuple(decisions),
        all(d.duplicate for d in decisions),
    )


def compensations_for(order: PlatformOrder, decisions: Sequence[Decision]) -> list[Release]:
    """Releases of the reserved lines of an order that was not accepted in full."""
    if all(d.accepted for d in decisions):
        return []
    failed = next(d.sku for d in decisions if not d.accepted)
    return [
        Release(order.channel, order.order_id, line.sku, f"{INCOMPLETE_ORDER}:{failed}")
        for line, decision in zip(order.lines, decisions, strict=True)
        if decision.accepted
    ]


def confirmations_for(payment: Payment, skus: Sequence[str]) -> list[Confirm]:
    """Confirm the paid lines: the payment's SKUs, or every SKU of the order."""
    return [Confirm(payment.channel, payment.order_id, sku) for sku in (payment.skus or skus)]


def releases_for(cancellation: Cancellation, skus: Sequence[str]) -> list[Release]:
    """Release the cancelled or refunded lines: the message's SKUs, or every SKU."""
    return [
        Release(cancellation.channel, cancellation.order_id, sku, cancellation.reason)
        for sku in (cancellation.skus or skus)
    ]


class NoticeDecision(NamedTuple):
    """The outcome of a payment or cancellation message."""

    kind: str  # "payment" | "cancel"
    order_id: str
    accepted: bool
    reason: str
    lines: tuple[Decision, ...]


def decide_notice(message: Payment | Cancellation, decisions: Sequence[Decision]) -> NoticeDecision:
    """The answer for a payment or cancellation that names only the order: accepted when
    the order's lines were found and every one was confirmed (or released); otherwise the
    first rejected line's reason, or ``unknown_order`` when no line of the order is known."""
    kind = "payment" if isinstance(message, Payment) else "cancel"
    rejected = next((d for d in decisions if not d.accepted), None)
    reason = rejected.reason if rejected else "" if decisions else "unknown_order"
    return NoticeDecision(kind, message.order_id, bool(decisions) and not rejected, reason, tuple(decisions))
