"""From validated HTTP requests to flashstock's internal messages (``policies.channels``).

The request schema has already checked shapes and ranges; what is left are the rules
the channel adapters apply to every platform's ids and lines (printable, trimmed ids;
lines of one SKU merged), applied here with the same field helpers, so an order sent
over HTTP becomes exactly what the same order read from a channel's inbox becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from policies.channels import Cancellation, OrderLine, Payment, PlatformOrder
from policies.channels import fields as f
from serve_app.schemas import OrderIn

#: the reason of a release asked for by an operator
OPERATOR_CANCEL = "cancelled_by_operator"


class InvalidOrder(NamedTuple):
    """Why a request's order breaks a channel rule: ``field`` is its path in the request
    (``orders.1.buyer_id``), ``message`` says what is wrong."""

    field: str
    message: str


def platform_orders(orders: Sequence[OrderIn]) -> list[PlatformOrder] | InvalidOrder:
    """The internal orders of a whole request, or the first order field that breaks a
    channel rule. All or nothing: the route refuses the request (422, the field named)
    before any order is decided, so no request is refused after part of it deducted."""
    converted = []
    for position, order in enumerate(orders):
        result = platform_order(order, f"orders.{position}.")
        if isinstance(result, InvalidOrder):
            return result
        converted.append(result)
    return converted


def platform_order(order: OrderIn, prefix: str = "") -> PlatformOrder | InvalidOrder:
    """The internal order of a request's order, or the field (named after ``prefix``)
    that breaks a channel rule."""
    field = f"{prefix}order_id"
    try:
        order_id = f.ident(order.order_id, field)
        raw_lines = []
        for i, line in enumerate(order.lines):
            field = f"{prefix}lines.{i}.sku"
            raw_lines.append((f.ident(line.sku, field), line.quantity))
        field = f"{prefix}lines"
        lines = f.merge_lines(raw_lines, field)
        field = f"{prefix}buyer_id"
        buyer_id = f.ident(order.buyer_id or "unknown", field)
        field = f"{prefix}placed_at"
        placed_at = f.epoch_seconds(order.placed_at, field)
    except f.FieldError as error:
        return InvalidOrder(field, str(error))
    return PlatformOrder(
        order.channel,
        order_id,
        tuple(OrderLine(sku, quantity) for sku, quantity in lines),
        buyer_id,
        placed_at,
        paid=order.paid,
    )


def order_notice(channel: str, order_id: str, action: str, now: float) -> Payment | Cancellation | None:
    """An operator's ``confirm`` (paid at ``now``, epoch seconds) or ``cancel`` of every
    line of an order; None when ``order_id`` cannot name an order."""
    try:
        known_id = f.ident(order_id, "order_id")
    except f.FieldError:
        return None
    if action == "confirm":
        return Payment(channel, known_id, now)
    return Cancellation(channel, known_id, OPERATOR_CANCEL)
