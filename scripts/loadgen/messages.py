"""Platform messages as each platform sends them: the inverse of the adapters, for the
flash-sale simulator and benchmarks (what a platform's push would carry, minimally).

Times follow each platform: Douyin epoch seconds, Taobao China-time text (whole
seconds), Kuaishou epoch milliseconds, the generic format epoch seconds with fraction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policies.channels.fields import CHINA_TIME

#: the formats that have a native encoding; any other channel name uses ``generic``
NATIVE = ("douyin", "taobao", "kuaishou")


def format_of(channel: str) -> str:
    """The payload format a channel speaks by name (as the service configures them)."""
    return channel if channel in NATIVE else "generic"


def order_message(
    fmt: str, order_id: str, sku: str, quantity: int, placed_at: float, buyer_id: str = "buyer"
) -> str:
    """A new, unpaid single-line order of ``quantity`` units of ``sku``."""
    if fmt == "douyin":
        data = {
            "p_id": order_id,
            "buyer_id": buyer_id,
            "create_time": int(placed_at),
            "order_status": 1,
            "sku_order_list": [{"out_sku_id": sku, "item_num": quantity, "pay_amount": 9900}],
        }
        return _douyin("100", order_id, data)
    if fmt == "taobao":
        content = {
            "tid": order_id,
            "buyer_nick": buyer_id,
            "created": _china_text(placed_at),
            "status": "WAIT_BUYER_PAY",
            "orders": {"order": [{"outer_sku_id": sku, "num": quantity, "payment": "99.00"}]},
        }
        return _taobao("taobao_trade_TradeCreate", content)
    if fmt == "kuaishou":
        info = {
            "oid": order_id,
            "buyerOpenId": buyer_id,
            "createTime": int(placed_at * 1000),
            "payTime": 0,
            "orderItemList": [{"skuNick": sku, "num": quantity, "itemPrice": 9900}],
        }
        return _kuaishou("kwaishop_order_orderCreate", order_id, info)
    return json.dumps(
        {
            "type": "order",
            "order_id": order_id,
            "buyer_id": buyer_id,
            "placed_at": placed_at,
            "lines": [{"sku": sku, "quantity": quantity}],
        }
    )


def payment_message(fmt: str, order_id: str, paid_at: float) -> str:
    """The order was paid."""
    if fmt == "douyin":
        return _douyin("101", order_id, {"p_id": order_id, "pay_time": int(paid_at)})
    if fmt == "taobao":
        return _taobao("taobao_trade_TradeBuyerPay", {"tid": order_id, "pay_time": _china_text(paid_at)})
    if fmt == "kuaishou":
        return _kuaishou(
            "kwaishop_order_paySuccess", order_id, {"oid": order_id, "payTime": int(paid_at * 1000)}
        )
    return json.dumps({"type": "payment", "order_id": order_id, "paid_at": paid_at})


def cancel_message(fmt: str, order_id: str, reason: str) -> str:
    """The whole order was cancelled or closed unpaid (its units go back)."""
    if fmt == "douyin":
        return _douyin("106", order_id, {"p_id": order_id, "cancel_reason": reason})
    if fmt == "taobao":
        return _taobao("taobao_trade_TradeClose", {"tid": order_id})
    if fmt == "kuaishou":
        return _kuaishou("kwaishop_order_orderClose", order_id, {"oid": order_id})
    return json.dumps({"type": "cancel", "order_id": order_id, "reason": reason})


def _douyin(tag: str, order_id: str, data: Mapping[str, Any]) -> str:
    return json.dumps(
        {"tag": tag, "msg_id": f"{tag}-{order_id}", "data": json.dumps(data, ensure_ascii=False)},
        ensure_ascii=False,
    )


def _taobao(topic: str, content: Mapping[str, Any]) -> str:
    return json.dumps(
        {"topic": topic, "content": json.dumps(content, ensure_ascii=False)}, ensure_ascii=False
    )


def _kuaishou(event: str, order_id: str, info: Mapping[str, Any]) -> str:
    return json.dumps(
        {"msgId": f"{event}-{order_id}", "event": event, "info": json.dumps(info, ensure_ascii=False)},
        ensure_ascii=False,
    )


def _china_text(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
