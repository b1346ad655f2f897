"""From platform orders to ledger operations, and back to one decision per order.

A multi-line order is all-or-nothing: if any line is rejected, the lines that were
reserved are released again (compensation) and the order's decision names the line
that failed. Everything here is deterministic in the line decisions, so a redelivered
order (whose lines come back as duplicates) gets the same order decision and the same
compensation, which the ledger then recognises as already applied.

Orders stay whole: every decided order is recorded (``RecordedOrder``: its lines and
its outcome, accepted or not), the record is never overwritten, and an order id that
comes again with other lines (another SKU, another quantity) is refused as a conflict
(``order_conflict``) without touching the ledger. A recorded rejection is answered again
from the record, so a redelivery after the SKU was created still gets ``unknown_sku``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from policies.channels.model import Cancellation, Payment, PlatformOrder
from policies.ledger import Decision, LineStatus, Reason
from policies.operations import Confirm, Release, Reserve

#: release reason of lines given back because another line of the order was rejected
INCOMPLETE_ORDER = "order_incomplete"
#: an order id that came again with other lines than the ones first decided
ORDER_CONFLICT = Reason.ORDER_CONFLICT


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


def reservations_for(order: PlatformOrder, *, asked_first: bool = False) -> list[Reserve]:
    """One reservation per line, carrying the order's event time and paid flag;
    ``asked_first`` when the channel is reserve-first (a refusal is then a sold-out)."""
    channel, order_id, lines, _, placed_at, paid = order
    if len(lines) == 1:  # most flash-sale orders: no comprehension
        ((sku, quantity),) = lines
        return [Reserve(channel, order_id, sku, quantity, placed_at, paid, asked_first)]
    return [
        Reserve(channel, order_id, sku, quantity, placed_at, paid, asked_first) for sku, quantity in lines
    ]


class CancellationRequest(NamedTuple):
    """Compensation of an oversell: a platform-first platform sold ``order_id`` and
    flashstock refused it, so the platform must cancel it (and refund the buyer).
    ``skus`` are the order's SKUs, ``reason`` / ``detail`` the refusal."""

    channel: str
    order_id: str
    skus: tuple[str, ...]
    reason: str
    detail: str


def cancellation_request(decision: OrderDecision, *, asked_first: bool) -> CancellationRequest | None:
    """The cancellation a platform must make of an order it sold and flashstock refused:
    only for platform-first channels, and not for an ``order_conflict`` (the order first
    decided stands). The caller asks once per order, when it records the order's first
    decision, in the same transaction (so a redelivery after a crash still asks once)."""
    if asked_first or decision.accepted or decision.reason == ORDER_CONFLICT:
        return None
    failed = next((d for d in decision.lines if d.sku == decision.failed_sku and d.detail), None)
    detail = failed.detail if failed else f"line {decision.failed_sku} was refused ({decision.reason})"
    return CancellationRequest(
        decision.channel,
        decision.order_id,
        tuple(d.sku for d in decision.lines),
        decision.reason,
        detail,
    )


def decide_order(
    order: PlatformOrder, decisions: Sequence[Decision], released: Sequence[Decision] = ()
) -> OrderDecision:
    """The order's decision from its lines' decisions (in line order). ``released`` are
    the decisions of its compensations (``compensations_for``): a line given back because
    another line was rejected is shown as it stands, ``released`` and not accepted, with
    the reason ``order_incomplete``."""
    rejected = next((d for d in decisions if not d.accepted), None)
    lines = tuple(decisions)
    if rejected is not None and released:
        given_back = {d.sku: d for d in released if d.status == LineStatus.RELEASED}
        detail = f"released: line {rejected.sku} was rejected ({rejected.reason})"
        lines = tuple(
            d._replace(
                accepted=False,
                status=LineStatus.RELEASED,
                reason=INCOMPLETE_ORDER,
                detail=detail,
                available=given_back[d.sku].available,
            )
            if d.accepted and d.sku in given_back
            else d
            for d in decisions
        )
    return OrderDecision(
        order.channel,
        order.order_id,
        rejected is None,
        rejected.reason if rejected else "",
        rejected.sku if rejected else "",
        lines,
        all(d.duplicate for d in decisions),
    )


class RecordedOrder(NamedTuple):
    """What was first decided for an order id, kept so the order stays whole: its lines
    as ``(sku, quantity, status, reason)`` (quantity 0 when an older record kept only the
    SKUs), whether it was accepted, and why not."""

    lines: tuple[tuple[str, int, str, str], ...]
    accepted: bool
    reason: str = ""
    failed_sku: str = ""

    @property
    def skus(self) -> list[str]:
        return [line[0] for line in self.lines]


def record_order(decision: OrderDecision) -> RecordedOrder:
    """The record of an order's first decision (its lines' final status and reason)."""
    return RecordedOrder(
        tuple((d.sku, d.quantity, d.status, d.reason) for d in decision.lines),
        decision.accepted,
        decision.reason,
        decision.failed_sku,
    )


def decide_accepted_order(
    order: PlatformOrder, decisions: tuple[Decision, ...]
) -> tuple[OrderDecision, RecordedOrder] | None:
    """The decision and the record of an order every line of which was accepted and none
    names an ``order_conflict`` (a flash sale's common case), in one pass over its lines;
    None for any other order. The values equal ``decide_order`` and ``record_order``'s
    (the reference; a differential test holds the two equal); such an order needs no
    compensation and no cancellation."""
    if len(decisions) == 1:  # most flash-sale orders: no loop, no list
        (d,) = decisions
        if not d.accepted or d.reason == ORDER_CONFLICT:
            return None
        return (
            OrderDecision(order.channel, order.order_id, True, "", "", decisions, bool(d.duplicate)),
            RecordedOrder(((d.sku, d.quantity, d.status, d.reason),), True),
        )
    duplicate = True
    recorded = []
    for d in decisions:
        if not d.accepted or d.reason == ORDER_CONFLICT:
            return None
        if not d.duplicate:
            duplicate = False
        recorded.append((d.sku, d.quantity, d.status, d.reason))
    return (
        OrderDecision(order.channel, order.order_id, True, "", "", decisions, duplicate),
        RecordedOrder(tuple(recorded), True),
    )


def order_conflict(order: PlatformOrder, recorded: RecordedOrder) -> str | None:
    """Why ``order`` cannot be the order first decided as ``recorded`` (other SKUs, or
    another quantity of a SKU), or None when it is the same order sent again. A record
    without quantities (0) is compared by its SKUs only."""
    asked = {line.sku: line.quantity for line in order.lines}
    known = {sku: quantity for sku, quantity, _, _ in recorded.lines}
    if set(asked) != set(known):
        return (
            f"order {order.order_id!r} was first decided with lines {_describe(known)}; "
            f"it came again with {_describe(asked)}"
        )
    for sku, quantity in asked.items():
        if known[sku] and known[sku] != quantity:
            return (
                f"order {order.order_id!r} was first decided with {known[sku]} of {sku!r}; "
                f"it came again with {quantity}"
            )
    return None


def _describe(lines: dict[str, int]) -> str:
    return ", ".join(f"{sku} x{quantity}" if quantity else sku for sku, quantity in sorted(lines.items()))


def conflict_decision(order: PlatformOrder, detail: str) -> OrderDecision:
    """The refusal of an order id that came again with other lines: every line rejected
    with ``order_conflict`` and ``detail``, nothing recorded, nothing deducted."""
    key = f"{order.channel}/{order.order_id}"
    lines = tuple(
        Decision("reserve", line.sku, key, False, "", line.quantity, 0, ORDER_CONFLICT, detail)
        for line in order.lines
    )
    return OrderDecision(order.channel, order.order_id, False, ORDER_CONFLICT, "", lines, False)


def repeat_rejection(order: PlatformOrder, recorded: RecordedOrder) -> OrderDecision:
    """A recorded rejected order, answered again as first decided (``duplicate=True``)."""
    key = f"{order.channel}/{order.order_id}"
    lines = tuple(
        Decision("reserve", sku, key, False, status, quantity, 0, reason, "", True)
        for sku, quantity, status, reason in recorded.lines
    )
    return OrderDecision(
        order.channel, order.order_id, False, recorded.reason, recorded.failed_sku, lines, True
    )


def compensations_for(order: PlatformOrder, decisions: Sequence[Decision]) -> list[Release]:
    """Releases of the reserved lines of an order that was not accepted in full. When a
    line conflicts with the order as first decided (``order_conflict``), the message is
    not that order: only the lines it reserved itself are released, never the first
    order's lines it merely repeated."""
    if all(d.accepted for d in decisions):
        return []
    failed = next(d.sku for d in decisions if not d.accepted)
    conflict = any(d.reason == ORDER_CONFLICT for d in decisions)
    return [
        Release(order.channel, order.order_id, line.sku, f"{INCOMPLETE_ORDER}:{failed}")
        for line, decision in zip(order.lines, decisions, strict=True)
        if decision.accepted and not (conflict and decision.duplicate)
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


def answer_from_record(
    order: PlatformOrder, recorded: RecordedOrder | None, earlier: PlatformOrder | None = None
) -> OrderDecision | None:
    """The answer of an order that must not be decided again, or None when it is to be
    decided: a conflict with its ``recorded`` first decision (or, before that is
    recorded, with the same id ``earlier`` in the batch), or its recorded rejection
    repeated. An order recorded as accepted, sent again with the same lines, is decided
    again: the owners' line records answer it."""
    known = recorded
    if known is None and earlier is not None:
        known = RecordedOrder(tuple((line.sku, line.quantity, "", "") for line in earlier.lines), True)
    if known is None:
        return None
    conflict = order_conflict(order, known)
    if conflict is not None:
        return conflict_decision(order, conflict)
    if recorded is not None and not recorded.accepted:
        return repeat_rejection(order, recorded)
    return None
