"""Douyin shop (抖店) order push messages.

Shape, after the shop's message-push envelope: ``{"tag": "100", "msg_id": "...",
"data": "<JSON text>"}``. Tags: 100 order created, 101 paid, 106 cancelled, 206
refund succeeded; other tags (shipping, address changes...) do not touch stock.
``data`` of an order: ``p_id`` (order id, number), ``buyer_id``, ``create_time`` (epoch
seconds), ``pay_type``/``order_status`` (status 2 = already paid) and
``sku_order_list`` of ``{out_sku_id (merchant SKU code), item_num, pay_amount (cents)}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.channels import fields as f
from policies.channels.model import (
    Cancellation,
    ChannelMessage,
    Ignored,
    Payment,
    PlatformOrder,
)

ORDER_CREATED, ORDER_PAID, ORDER_CANCELLED, REFUND_SUCCEEDED = "100", "101", "106", "206"
PAID_STATUSES = {2, 3, 5}  # paid / shipped / completed


def parse_douyin(channel: str, message: Mapping[str, Any]) -> ChannelMessage:
    tag = str(f.required(message, "tag", "message"))
    if tag not in (ORDER_CREATED, ORDER_PAID, ORDER_CANCELLED, REFUND_SUCCEEDED):
        return Ignored(channel, f"douyin tag {tag}")
    data = f.json_object(f.required(message, "data", "message"), "data")
    order_id = f.ident(f.required(data, "p_id", "data"), "data.p_id")
    if tag == ORDER_PAID:
        return Payment(
            channel, order_id, f.epoch_seconds(f.required(data, "pay_time", "data"), "data.pay_time")
        )
    if tag in (ORDER_CANCELLED, REFUND_SUCCEEDED):
        reason = "refund" if tag == REFUND_SUCCEEDED else str(data.get("cancel_reason") or "cancelled")
        listed = data.get("out_sku_ids") or []
        if not isinstance(listed, list):
            raise f.FieldError("data.out_sku_ids must be a list of SKU codes")
        skus = tuple(f.ident(s, "data.out_sku_ids[]") for s in listed)
        return Cancellation(channel, order_id, reason, skus)
    items = f.item_list(f.required(data, "sku_order_list", "data"), "data.sku_order_list")
    lines = f.read_lines(items, "data.sku_order_list", ("out_sku_id", "code"), "item_num", "pay_amount")
    status = data.get("order_status", 1)
    return PlatformOrder(
        channel,
        order_id,
        lines,
        f.ident(data.get("buyer_id") or data.get("open_id") or "unknown", "data.buyer_id"),
        f.epoch_seconds(f.required(data, "create_time", "data"), "data.create_time"),
        paid=isinstance(status, int) and status in PAID_STATUSES,
    )
