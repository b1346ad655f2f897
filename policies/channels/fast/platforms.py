"""Each platform's messages decoded by their typed shapes (``shapes``), giving exactly
what the reference parsers (``policies.channels.douyin`` ...) give on their success path.

A function here returns the parsed message, or raises (a msgspec error, a ``FieldError``
from ``fields``) or returns ``None`` when the message is not one it fully handles: the
caller then asks the reference parser, so every ``Unreadable`` and its reason come from
the reference alone. The value checks are the reference's own (``fields``, through
``checks``, which answers the common values quickly and leaves every other to ``fields``);
only the decoding and the plumbing around them are new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from msgspec import Raw, ValidationError
from msgspec.json import Decoder

from policies.channels import douyin as dy
from policies.channels import fields as f
from policies.channels import kuaishou as ks
from policies.channels import taobao as tb
from policies.channels.fast import shapes as s
from policies.channels.fast.checks import FIELD, epoch_seconds, ident, quantity, yuan_as_cents
from policies.channels.model import (
    Cancellation,
    ChannelMessage,
    Ignored,
    OrderLine,
    Payment,
    PlatformOrder,
)

T = TypeVar("T")
E = TypeVar("E")
Item = TypeVar("Item")

#: a NamedTuple of the model built from its fields, in order, without the Python-level
#: ``__new__`` NamedTuple adds (about 0.3 us on a one-line order, measured); the differential test
#: compares every result with the reference's, so a field out of place would show
_new = tuple.__new__

_TEXT = Decoder(str)
_DOUYIN_TEXT, _DOUYIN = Decoder(s.DouyinTextEnvelope), Decoder(s.DouyinEnvelope)
_DOUYIN_ORDER, _DOUYIN_PAID = Decoder(s.DouyinOrder), Decoder(s.DouyinPaid)
_DOUYIN_CANCELLED = Decoder(s.DouyinCancelled)
_TAOBAO_TEXT, _TAOBAO = Decoder(s.TaobaoTextEnvelope), Decoder(s.TaobaoEnvelope)
_TAOBAO_TRADE, _TAOBAO_PAID = Decoder(s.TaobaoTrade), Decoder(s.TaobaoPaid)
_TAOBAO_CLOSED = Decoder(s.TaobaoClosed)
_KUAISHOU_TEXT, _KUAISHOU = Decoder(s.KuaishouTextEnvelope), Decoder(s.KuaishouEnvelope)
_KUAISHOU_ORDER, _KUAISHOU_PAID = Decoder(s.KuaishouOrder), Decoder(s.KuaishouPaid)
_KUAISHOU_CLOSED = Decoder(s.KuaishouClosed)
_GENERIC = Decoder(s.GenericMessage)

_DOUYIN_TAGS = (dy.ORDER_CREATED, dy.ORDER_PAID, dy.ORDER_CANCELLED, dy.REFUND_SUCCEEDED)
_TAOBAO_TOPICS = (tb.CREATED, tb.PAID, tb.CLOSED, tb.REFUNDED)
_KUAISHOU_EVENTS = (ks.CREATED, ks.PAID, ks.CLOSED, ks.REFUNDED)
_QUOTE = ord('"')


def douyin(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _envelope(raw, _DOUYIN_TEXT, _DOUYIN)
    tag = str(envelope.tag)
    if tag not in _DOUYIN_TAGS:
        return Ignored(channel, f"douyin tag {tag}")
    if tag == dy.ORDER_PAID:
        paid = _nested(envelope.data, _DOUYIN_PAID)
        return _new(Payment, (channel, ident(paid.p_id), epoch_seconds(paid.pay_time), ()))
    if tag != dy.ORDER_CREATED:
        cancelled = _nested(envelope.data, _DOUYIN_CANCELLED)
        reason = "refund" if tag == dy.REFUND_SUCCEEDED else cancelled.cancel_reason or "cancelled"
        skus = tuple(ident(sku) for sku in cancelled.out_sku_ids or ())
        return _new(Cancellation, (channel, ident(cancelled.p_id), reason, skus))
    order = _nested(envelope.data, _DOUYIN_ORDER)
    lines = _lines(order.sku_order_list, _douyin_line)
    if lines is None:
        return None
    status = order.order_status
    buyer = order.buyer_id or order.open_id or "unknown"
    already_paid = isinstance(status, int) and status in dy.PAID_STATUSES
    placed_at = epoch_seconds(order.create_time)
    return _new(PlatformOrder, (channel, ident(order.p_id), lines, ident(buyer), placed_at, already_paid))


def _douyin_line(item: s.DouyinItem) -> tuple[str, int]:
    return _sku(item.out_sku_id, item.code), quantity(item.item_num)


def taobao(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _envelope(raw, _TAOBAO_TEXT, _TAOBAO)
    topic = envelope.topic
    if topic not in _TAOBAO_TOPICS:
        return Ignored(channel, f"taobao topic {topic}")
    if topic == tb.PAID:
        paid = _nested(envelope.content, _TAOBAO_PAID)
        paid_at = paid.pay_time or paid.modified
        if paid_at is None:
            return None
        return _new(Payment, (channel, ident(paid.tid), epoch_seconds(paid_at), ()))
    if topic != tb.CREATED:
        closed = _nested(envelope.content, _TAOBAO_CLOSED)
        sku = closed.outer_sku_id
        skus = (ident(sku),) if sku else ()
        reason = "refund" if topic == tb.REFUNDED else "closed"
        return _new(Cancellation, (channel, ident(closed.tid), reason, skus))
    trade = _nested(envelope.content, _TAOBAO_TRADE)
    items = trade.orders if isinstance(trade.orders, list) else trade.orders.order
    lines = None if items is None else _lines(items, _taobao_line)
    if lines is None:
        return None
    status = trade.status
    buyer = trade.buyer_nick or "unknown"
    already_paid = isinstance(status, str) and status in tb.PAID_STATUSES
    placed_at = epoch_seconds(trade.created)
    return _new(PlatformOrder, (channel, ident(trade.tid), lines, ident(buyer), placed_at, already_paid))


def _taobao_line(item: s.TaobaoItem) -> tuple[str, int]:
    if isinstance(item.payment, str):
        yuan_as_cents(item.payment)
    return _sku(item.outer_sku_id, item.outer_iid), quantity(item.num)


def kuaishou(channel: str, raw: bytes | str) -> ChannelMessage | None:
    envelope = _envelope(raw, _KUAISHOU_TEXT, _KUAISHOU)
    event = envelope.event
    if event not in _KUAISHOU_EVENTS:
        return Ignored(channel, f"kuaishou event {event}")
    if event == ks.PAID:
        paid = _nested(envelope.info, _KUAISHOU_PAID)
        return _new(Payment, (channel, ident(paid.oid), epoch_seconds(paid.pay_time, "ms"), ()))
    if event != ks.CREATED:
        closed = _nested(envelope.info, _KUAISHOU_CLOSED)
        sku = closed.sku_nick
        skus = (ident(sku),) if sku else ()
        reason = "refund" if event == ks.REFUNDED else "closed"
        return _new(Cancellation, (channel, ident(closed.oid), reason, skus))
    order = _nested(envelope.info, _KUAISHOU_ORDER)
    lines = _lines(order.order_item_list, _kuaishou_line)
    if lines is None:
        return None
    buyer = order.buyer_open_id or "unknown"
    placed_at = epoch_seconds(order.create_time, "ms")
    return _new(
        PlatformOrder, (channel, ident(order.oid), lines, ident(buyer), placed_at, bool(order.pay_time))
    )


def _kuaishou_line(item: s.KuaishouItem) -> tuple[str, int]:
    return _sku(item.sku_nick, item.rel_sku_id), quantity(item.num)


def generic(channel: str, raw: bytes | str) -> ChannelMessage | None:
    message = _GENERIC.decode(raw)
    kind = message.kind
    order_id = ident(message.order_id)
    if kind == "payment":
        if message.paid_at is None:
            return None
        return _new(Payment, (channel, order_id, epoch_seconds(message.paid_at), ()))
    if kind in ("cancel", "refund"):
        skus = tuple(ident(sku) for sku in message.skus or ())
        return _new(Cancellation, (channel, order_id, message.reason or kind, skus))
    if kind != "order" or message.lines is None or message.placed_at is None:
        return None
    lines = _lines(message.lines, _generic_line)
    if lines is None:
        return None
    placed_at = epoch_seconds(message.placed_at)
    buyer = message.buyer_id or "unknown"
    return _new(PlatformOrder, (channel, order_id, lines, ident(buyer), placed_at, message.paid))


def _generic_line(line: s.GenericLine) -> tuple[str, int]:
    return _sku(line.sku, None), quantity(line.quantity)


# ---- shared ---------------------------------------------------------------------------------


def _envelope(raw: bytes | str, as_text: Decoder[T], as_raw: Decoder[E]) -> T | E:
    """The envelope with its nested payload as text (as platforms send it), or, when the
    payload is not text, kept as ``Raw``."""
    try:
        return as_text.decode(raw)
    except ValidationError:
        return as_raw.decode(raw)


def _nested(payload: str | Raw, decoder: Decoder[T]) -> T:
    """A nested payload given as JSON text or as an object (``fields.json_object``)."""
    if isinstance(payload, str):
        return decoder.decode(payload)  # an empty (missing) payload fails: the reference names it
    view = memoryview(payload)
    if view and view[0] == _QUOTE:
        return decoder.decode(_TEXT.decode(payload))
    return decoder.decode(payload)


def _lines(items: list[Item], line: Callable[[Item], tuple[str, int]]) -> tuple[OrderLine, ...] | None:
    """The order lines of ``items`` (``line`` reads one: its SKU and units), those of the
    same SKU merged (``fields.merge_lines``); None for no items (the reference says why)."""
    if len(items) == 1:  # nearly every order: one line, nothing to merge
        return (_new(OrderLine, line(items[0])),)
    if not items:
        return None
    merged = f.merge_lines([line(item) for item in items], FIELD)
    return tuple(_new(OrderLine, pair) for pair in merged)


def _sku(first: str | int | None, second: str | int | None) -> str:
    """``fields.first_present`` of two keys, then ``fields.ident``."""
    return ident(first if first is not None and first != "" else second)
