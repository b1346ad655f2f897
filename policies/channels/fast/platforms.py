"""Each platform's messages decoded by their typed shapes (``shapes``), giving exactly
what the reference parsers (``policies.channels.douyin`` ...) give on their success path.

A function here returns the parsed message, or raises (a msgspec error, a ``FieldError``
from ``fields``) or returns ``None`` when the message is not one it fully handles: the
caller then asks the reference parser, so every ``Unreadable`` and its reason come from
the reference alone. The value checks are the reference's own (``fields``); only the
decoding and the plumbing around them are new.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

from msgspec import Raw
from msgspec.json import Decoder

from policies.channels import douyin as dy
from policies.channels import fields as f
from policies.channels import kuaishou as ks
from policies.channels import taobao as tb
from policies.channels.fast import shapes as s
from policies.channels.model import (
    Cancellation,
    ChannelMessage,
    Ignored,
    OrderLine,
    Payment,
    PlatformOrder,
)

T = TypeVar("T")

_TEXT = Decoder(str)
_DOUYIN = Decoder(s.DouyinEnvelope)
_DOUYIN_ORDER, _DOUYIN_PAID = Decoder(s.DouyinOrder), Decoder(s.DouyinPaid)
_DOUYIN_CANCELLED = Decoder(s.DouyinCancelled)
_TAOBAO = Decoder(s.TaobaoEnvelope)
_TAOBAO_TRADE, _TAOBAO_PAID = Decoder(s.TaobaoTrade), Decoder(s.TaobaoPaid)
_TAOBAO_CLOSED = Decoder(s.TaobaoClosed)
_KUAISHOU = Decoder(s.KuaishouEnvelope)
_KUAISHOU_ORDER, _KUAISHOU_PAID = Decoder(s.KuaishouOrder), Decoder(s.KuaishouPaid)
_KUAISHOU_CLOSED = Decoder(s.KuaishouClosed)
_GENERIC = Decoder(s.GenericMessage)

_DOUYIN_TAGS = (dy.ORDER_CREATED, dy.ORDER_PAID, dy.ORDER_CANCELLED, dy.REFUND_SUCCEEDED)
_TAOBAO_TOPICS = (tb.CREATED, tb.PAID, tb.CLOSED, tb.REFUNDED)
_KUAISHOU_EVENTS = (ks.CREATED, ks.PAID, ks.CLOSED, ks.REFUNDED)
#: the field names below only label errors, and errors go to the reference parser
_FIELD = "field"
_QUOTE = ord('"')


def douyin(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _DOUYIN.decode(raw)
    tag = str(envelope.tag)
    if tag not in _DOUYIN_TAGS:
        return Ignored(channel, f"douyin tag {tag}")
    if tag == dy.ORDER_PAID:
        paid = _nested(envelope.data, _DOUYIN_PAID)
        return Payment(channel, f.ident(paid.p_id, _FIELD), _time(paid.pay_time))
    if tag != dy.ORDER_CREATED:
        cancelled = _nested(envelope.data, _DOUYIN_CANCELLED)
        reason = "refund" if tag == dy.REFUND_SUCCEEDED else cancelled.cancel_reason or "cancelled"
        skus = tuple(f.ident(sku, _FIELD) for sku in cancelled.out_sku_ids or ())
        return Cancellation(channel, f.ident(cancelled.p_id, _FIELD), reason, skus)
    order = _nested(envelope.data, _DOUYIN_ORDER)
    pairs = [(_sku(item.out_sku_id, item.code), _units(item.item_num)) for item in order.sku_order_list]
    status = order.order_status
    return _order(
        channel,
        order.p_id,
        pairs,
        order.buyer_id or order.open_id or "unknown",
        _time(order.create_time),
        isinstance(status, int) and status in dy.PAID_STATUSES,
    )


def taobao(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _TAOBAO.decode(raw)
    topic = envelope.topic
    if topic not in _TAOBAO_TOPICS:
        return Ignored(channel, f"taobao topic {topic}")
    if topic == tb.PAID:
        paid = _nested(envelope.content, _TAOBAO_PAID)
        paid_at = paid.pay_time or paid.modified
        if paid_at is None:
            return None
        return Payment(channel, f.ident(paid.tid, _FIELD), _time(paid_at))
    if topic != tb.CREATED:
        closed = _nested(envelope.content, _TAOBAO_CLOSED)
        sku = closed.outer_sku_id
        skus = (f.ident(sku, _FIELD),) if sku else ()
        reason = "refund" if topic == tb.REFUNDED else "closed"
        return Cancellation(channel, f.ident(closed.tid, _FIELD), reason, skus)
    trade = _nested(envelope.content, _TAOBAO_TRADE)
    items = trade.orders if isinstance(trade.orders, list) else trade.orders.order
    if items is None:
        return None
    pairs = []
    for item in items:
        if isinstance(item.payment, str):
            _yuan(item.payment)
        pairs.append((_sku(item.outer_sku_id, item.outer_iid), _units(item.num)))
    status = trade.status
    return _order(
        channel,
        trade.tid,
        pairs,
        trade.buyer_nick or "unknown",
        _time(trade.created),
        isinstance(status, str) and status in tb.PAID_STATUSES,
    )


def kuaishou(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _KUAISHOU.decode(raw)
    event = envelope.event
    if event not in _KUAISHOU_EVENTS:
        return Ignored(channel, f"kuaishou event {event}")
    if event == ks.PAID:
        paid = _nested(envelope.info, _KUAISHOU_PAID)
        return Payment(channel, f.ident(paid.oid, _FIELD), _time(paid.pay_time, "ms"))
    if event != ks.CREATED:
        closed = _nested(envelope.info, _KUAISHOU_CLOSED)
        sku = closed.sku_nick
        skus = (f.ident(sku, _FIELD),) if sku else ()
        reason = "refund" if event == ks.REFUNDED else "closed"
        return Cancellation(channel, f.ident(closed.oid, _FIELD), reason, skus)
    order = _nested(envelope.info, _KUAISHOU_ORDER)
    pairs = [(_sku(item.sku_nick, item.rel_sku_id), _units(item.num)) for item in order.order_item_list]
    return _order(
        channel,
        order.oid,
        pairs,
        order.buyer_open_id or "unknown",
        _time(order.create_time, "ms"),
        bool(order.pay_time),
    )


def generic(channel: str, raw: bytes | str) -> ChannelMessage | None:
    message = _GENERIC.decode(raw)
    kind = message.kind
    order_id = f.ident(message.order_id, _FIELD)
    if kind == "payment":
        if message.paid_at is None:
            return None
        return Payment(channel, order_id, _time(message.paid_at))
    if kind in ("cancel", "refund"):
        skus = tuple(f.ident(sku, _FIELD) for sku in message.skus or ())
        return Cancellation(channel, order_id, message.reason or kind, skus)
    if kind != "order" or message.lines is None or message.placed_at is None:
        return None
    pairs = [(_sku(line.sku, None), _units(line.quantity)) for line in message.lines]
    placed_at = _time(message.placed_at)
    return _order(channel, order_id, pairs, message.buyer_id or "unknown", placed_at, message.paid)


# ---- shared ---------------------------------------------------------------------------------


def _nested(raw: Raw, decoder: Decoder[T]) -> T:
    """A nested payload given as an object or as JSON text (``fields.json_object``)."""
    view = memoryview(raw)
    if view and view[0] == _QUOTE:
        return decoder.decode(_TEXT.decode(raw))
    return decoder.decode(raw)  # a missing payload (empty) fails here: the reference names it


def _order(
    channel: str,
    order_id: str | int,
    pairs: Sequence[tuple[str, int]],
    buyer: str | int,
    placed_at: float,
    paid: bool,
) -> PlatformOrder | None:
    if not pairs:
        return None  # an empty item list: the reference says which
    if len(pairs) == 1:
        lines: tuple[OrderLine, ...] = (OrderLine(*pairs[0]),)
    else:
        lines = tuple(OrderLine(sku, units) for sku, units in f.merge_lines(list(pairs), _FIELD))
    return PlatformOrder(
        channel, f.ident(order_id, _FIELD), lines, f.ident(buyer, _FIELD), placed_at, paid=paid
    )


def _sku(first: str | int | None, second: str | int | None) -> str:
    """``fields.first_present`` of two keys, then ``fields.ident``."""
    return f.ident(first if first is not None and first != "" else second, _FIELD)


def _units(value: int | str) -> int:
    """The shapes already range-checked an integer; digits in text go to ``fields``."""
    return value if isinstance(value, int) else f.quantity(value, _FIELD)


def _time(value: int | float | str, unit: str = "s") -> float:
    if isinstance(value, str):
        return _text_time(value)
    return f.epoch_seconds(value, _FIELD, unit=unit)


@lru_cache(maxsize=4096)
def _text_time(value: str) -> float:
    """Time text parsed once: a sale's orders share their few distinct seconds."""
    return f.epoch_seconds(value, _FIELD)


@lru_cache(maxsize=4096)
def _yuan(value: str) -> int:
    """An amount in yuan checked once: a sale's lines share their few prices."""
    return f.yuan_as_cents(value, _FIELD)
