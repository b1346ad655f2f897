"""From validated HTTP requests to flashstock's internal messages (``policies.channels``).

The request schema has already checked shapes and ranges; what is left are the rules
the channel adapters apply to every platform's ids and lines (printable, trimmed ids;
lines of one SKU merged), applied here with the same field helpers, so an order sent
over HTTP becomes exactly what the same order read from a channel's inbox becomes.
"""

from __future__ import annotations

import json

from policies.channels import Cancellation, OrderLine, Payment, PlatformOrder, Unreadable
from policies.channels import fields as f
from serve_app.schemas import OrderIn

#: the reason of a release asked for by an operator
OPERATOR_CANCEL = "cancelled_by_operator"


def platform_order(order: OrderIn) -> PlatformOrder | Unreadable:
    """The internal order of a request's order, or ``Unreadable`` naming the field that
    breaks a channel rule (the raw text is the order in the generic JSON format)."""
    try:
        order_id = f.ident(order.order_id, "order_id")
        lines = f.merge_lines(
            [(f.ident(line.sku, f"lines[{i}].sku"), line.quantity) for i, line in enumerate(order.lines)],
            "lines",
        )
        buyer_id = f.ident(order.buyer_id or "unknown", "buyer_id")
        placed_at = f.epoch_seconds(order.placed_at, "placed_at")
    except f.FieldError as error:
        raw = json.dumps({"type": "order", **order.model_dump()}, ensure_ascii=False, default=str)
        return Unreadable(order.channel, str(error), raw, order.order_id)
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
