"""Taobao / Tmall trade messages (TMC).

Shape: ``{"topic": "taobao_trade_TradeCreate", "content": "<JSON text>"}``. Topics:
TradeCreate (new, unpaid), TradeBuyerPay (paid), TradeClose (closed before payment),
taobao_refund_RefundSuccess (refunded); others do not touch stock. Content of a trade:
``tid`` (number), ``buyer_nick``, ``created`` ("YYYY-MM-DD HH:MM:SS", China time),
``status`` and ``orders`` of ``{outer_sku_id, num, payment (yuan, "299.00")}``.
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

CREATED = "taobao_trade_TradeCreate"
PAID = "taobao_trade_TradeBuyerPay"
CLOSED = "taobao_trade_TradeClose"
REFUNDED = "taobao_refund_RefundSuccess"
PAID_STATUSES = {"WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS", "TRADE_FINISHED"}


def parse_taobao(channel: str, message: Mapping[str, Any]) -> ChannelMessage:
    topic = f.required(message, "topic", "message")
    if topic not in (CREATED, PAID, CLOSED, REFUNDED):
        return Ignored(channel, f"taobao topic {topic}")
    content = f.json_object(f.required(message, "content", "message"), "content")
    order_id = f.ident(f.required(content, "tid", "content"), "content.tid")
    if topic == PAID:
        paid_at = content.get("pay_time") or content.get("modified")
        return Payment(channel, order_id, f.epoch_seconds(paid_at, "content.pay_time"))
    if topic in (CLOSED, REFUNDED):
        sku = content.get("outer_sku_id")
        skus = (f.ident(sku, "content.outer_sku_id"),) if sku else ()
        return Cancellation(channel, order_id, "refund" if topic == REFUNDED else "closed", skus)
    orders = f.required(content, "orders", "content")
    if isinstance(orders, Mapping):  # the API wraps the list: {"order": [...]}
        orders = orders.get("order")
    items = f.item_list(orders, "content.orders")
    lines = f.read_lines(
        items, "content.orders", ("outer_sku_id", "outer_iid"), "num", "payment", f.yuan_as_cents
    )
    return PlatformOrder(
        channel,
        order_id,
        lines,
        f.ident(content.get("buyer_nick") or "unknown", "content.buyer_nick"),
        f.epoch_seconds(f.required(content, "created", "content"), "content.created"),
        paid=isinstance(content.get("status"), str) and content["status"] in PAID_STATUSES,
    )
