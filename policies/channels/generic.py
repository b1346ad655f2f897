"""The generic JSON format (the shop's own mini-program, load generators, tests).

``{"type": "order", "order_id": "...", "buyer_id": "...", "placed_at": 1731330000.5 or
"2024-11-11T20:00:00+08:00", "paid": false, "lines": [{"sku": "...", "quantity": 1}]}``;
``{"type": "payment", "order_id": "...", "paid_at": ...}``;
``{"type": "cancel" | "refund", "order_id": "...", "reason": "...", "skus": [...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.channels import fields as f
from policies.channels.model import Cancellation, ChannelMessage, Payment, PlatformOrder


def parse_generic(channel: str, message: Mapping[str, Any]) -> ChannelMessage:
    kind = f.required(message, "type", "message")
    order_id = f.ident(f.required(message, "order_id", "message"), "order_id")
    if kind == "payment":
        return Payment(
            channel, order_id, f.epoch_seconds(f.required(message, "paid_at", "message"), "paid_at")
        )
    if kind in ("cancel", "refund"):
        skus = message.get("skus") or []
        if not isinstance(skus, list):
            raise f.FieldError("skus must be a list")
        return Cancellation(
            channel, order_id, str(message.get("reason") or kind), tuple(f.ident(s, "skus[]") for s in skus)
        )
    if kind != "order":
        raise f.FieldError(f"type must be order, payment, cancel or refund, got {kind!r}")
    items = f.item_list(f.required(message, "lines", "message"), "lines")
    lines = f.read_lines(items, "lines", ("sku",), "quantity")
    paid = message.get("paid", False)
    if not isinstance(paid, bool):
        raise f.FieldError("paid must be true or false")
    return PlatformOrder(
        channel,
        order_id,
        lines,
        f.ident(message.get("buyer_id") or "unknown", "buyer_id"),
        f.epoch_seconds(f.required(message, "placed_at", "message"), "placed_at"),
        paid=paid,
    )
