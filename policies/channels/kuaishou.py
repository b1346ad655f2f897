"""Kuaishou shop (快手小店) order messages.

Shape: ``{"msgId": "...", "event": "kwaishop_order_orderCreate", "info": "<JSON text>"}``.
Events: kwaishop_order_orderCreate, kwaishop_order_paySuccess, kwaishop_order_orderClose,
kwaishop_aftersales_refundSuccess; others do not touch stock. Info of an order: ``oid``
(number), ``buyerOpenId``, ``createTime`` (epoch milliseconds), ``payTime`` (ms, 0 if
unpaid) and ``orderItemList`` of ``{skuNick (merchant SKU code), num, itemPrice (cents)}``.
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

CREATED = "kwaishop_order_orderCreate"
PAID = "kwaishop_order_paySuccess"
CLOSED = "kwaishop_order_orderClose"
REFUNDED = "kwaishop_aftersales_refundSuccess"


def parse_kuaishou(channel: str, message: Mapping[str, Any]) -> ChannelMessage:
    event = f.required(message, "event", "message")
    if event not in (CREATED, PAID, CLOSED, REFUNDED):
        return Ignored(channel, f"kuaishou event {event}")
    info = f.json_object(f.required(message, "info", "message"), "info")
    order_id = f.ident(f.required(info, "oid", "info"), "info.oid")
    if event == PAID:
        return Payment(
            channel, order_id, f.epoch_seconds(f.required(info, "payTime", "info"), "info.payTime", unit="ms")
        )
    if event in (CLOSED, REFUNDED):
        sku = info.get("skuNick")
        skus = (f.ident(sku, "info.skuNick"),) if sku else ()
        return Cancellation(channel, order_id, "refund" if event == REFUNDED else "closed", skus)
    items = f.item_list(f.required(info, "orderItemList", "info"), "info.orderItemList")
    lines = f.read_lines(items, "info.orderItemList", ("skuNick", "relSkuId"), "num", "itemPrice")
    return PlatformOrder(
        channel,
        order_id,
        lines,
        f.ident(info.get("buyerOpenId") or "unknown", "info.buyerOpenId"),
        f.epoch_seconds(f.required(info, "createTime", "info"), "info.createTime", unit="ms"),
        paid=bool(info.get("payTime")),
    )
