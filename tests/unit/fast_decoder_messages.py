"""Platform messages for the differential test of the fast decoders
(tests/unit/test_fast_decoders.py): hypothesis strategies of valid messages of every
format and kind, and of mutants of them (fields removed or replaced by values of the
wrong type or range, kinds swapped, text truncated, duplicate keys, bad bytes)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from policies.channels.fields import MAX_CENTS
from policies.ledger import MAX_LINE_QUANTITY

# ---- generated messages ---------------------------------------------------------------------

#: where each format nests its payload (the generic format does not)
NESTED: dict[str, str | None] = {"douyin": "data", "taobao": "content", "kuaishou": "info", "generic": None}
KIND_KEY = {"douyin": "tag", "taobao": "topic", "kuaishou": "event", "generic": "type"}
#: each format's kinds of message, as its envelope names them ("other": touches no stock)
KINDS: dict[str, dict[str, str]] = {
    "douyin": {"order": "100", "payment": "101", "cancel": "106", "refund": "206", "other": "102"},
    "taobao": {
        "order": "taobao_trade_TradeCreate",
        "payment": "taobao_trade_TradeBuyerPay",
        "cancel": "taobao_trade_TradeClose",
        "refund": "taobao_refund_RefundSuccess",
        "other": "taobao_trade_TradeSellerShip",
    },
    "kuaishou": {
        "order": "kwaishop_order_orderCreate",
        "payment": "kwaishop_order_paySuccess",
        "cancel": "kwaishop_order_orderClose",
        "refund": "kwaishop_aftersales_refundSuccess",
        "other": "kwaishop_order_addressChange",
    },
    "generic": {"order": "order", "payment": "payment", "cancel": "cancel", "refund": "refund"},
}
ITEMS = {"douyin": "sku_order_list", "taobao": "orders", "kuaishou": "orderItemList", "generic": "lines"}
#: the fields each format reads: of the envelope, the payload and an item
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "douyin": (
        ("tag", "data", "msg_id"),
        (
            "p_id",
            "buyer_id",
            "open_id",
            "create_time",
            "order_status",
            "sku_order_list",
            "pay_time",
            "cancel_reason",
            "out_sku_ids",
        ),
        ("out_sku_id", "code", "item_num", "pay_amount"),
    ),
    "taobao": (
        ("topic", "content"),
        ("tid", "buyer_nick", "created", "status", "orders", "pay_time", "modified", "outer_sku_id"),
        ("outer_sku_id", "outer_iid", "num", "payment"),
    ),
    "kuaishou": (
        ("event", "info", "msgId"),
        ("oid", "buyerOpenId", "createTime", "payTime", "orderItemList", "skuNick"),
        ("skuNick", "relSkuId", "num", "itemPrice"),
    ),
    "generic": (
        ("type", "order_id"),
        ("type", "order_id", "buyer_id", "placed_at", "paid", "lines", "paid_at", "reason", "skus"),
        ("sku", "quantity"),
    ),
}
EARLY, LATE = 1_420_156_800, 4_102_358_400  # a day inside 2015..2100 either way
CHINA = timezone(timedelta(hours=8))

_name_chars = st.characters(categories=["L", "N", "P", "S"]) | st.just(" ")
IDS = st.integers(0, 10**18) | st.text(_name_chars, min_size=1, max_size=16).filter(lambda t: t.strip() != "")
SKUS = st.sampled_from(["LIP-01", "EYE-02", "口红-3", 42, " pad-4 "]) | IDS
UNITS = st.integers(1, 1000) | st.integers(1, 999).map(str) | st.integers(1, 99).map(lambda n: f" {n} ")
SECONDS = st.integers(EARLY, LATE)
CHINA_TEXT = SECONDS.map(lambda s: datetime.fromtimestamp(s, CHINA).strftime("%Y-%m-%d %H:%M:%S"))
ISO_TEXT = SECONDS.map(lambda s: datetime.fromtimestamp(s, CHINA).isoformat())
TIMES = {
    "douyin": SECONDS | st.floats(EARLY, LATE) | CHINA_TEXT,
    "taobao": CHINA_TEXT | ISO_TEXT | SECONDS,
    "kuaishou": st.integers(EARLY * 1000, LATE * 1000) | ISO_TEXT,
    "generic": st.floats(EARLY, LATE) | SECONDS | ISO_TEXT | CHINA_TEXT,
}
CENTS = st.integers(0, MAX_CENTS)
YUAN = CENTS.map(lambda c: f"{c // 100}.{c % 100:02d}") | st.sampled_from(["99", "0.5", "299.00"])
WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.sampled_from(
        [
            0,
            -1,
            2,
            3,
            5,
            MAX_LINE_QUANTITY + 1,
            MAX_CENTS + 1,
            10**15 + 1,
            2**64,
            EARLY - 86_400 * 400,
            LATE * 1000,
        ]
    ),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "12",
            "1.5",
            "-3",
            "１２",
            "2014-12-31 23:59:59",
            "2024-11-11T20:00:00+08:00",
            "not a time",
            "299.001",
            "1e3",
            "NaN",
            "x" * 130,
            "a\x00b",
            "\ud800",
            "{}",
            "[]",
            '"{}"',
            "100",
            "order",
        ]
    ),
    st.lists(st.integers(0, 9) | st.text(max_size=3), max_size=2),
    st.dictionaries(
        st.sampled_from(["order", "a"]), st.integers(0, 3) | st.lists(st.just({}), max_size=1), max_size=2
    ),
)


def _maybe(draw: st.DrawFn, target: dict[str, Any], key: str, values: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        target[key] = draw(values)


@st.composite
def _items(draw: st.DrawFn, fmt: str) -> list[dict[str, Any]]:
    sku_keys, units_key, amount_key, amounts = {
        "douyin": (("out_sku_id", "code"), "item_num", "pay_amount", CENTS),
        "taobao": (("outer_sku_id", "outer_iid"), "num", "payment", YUAN),
        "kuaishou": (("skuNick", "relSkuId"), "num", "itemPrice", CENTS),
        "generic": (("sku",), "quantity", None, CENTS),
    }[fmt]
    items = []
    for _ in range(draw(st.integers(1, 4))):
        item: dict[str, Any] = {units_key: draw(UNITS)}
        where = draw(st.sampled_from(["first", "second", "empty first"][: 1 if len(sku_keys) == 1 else 3]))
        if where == "first":
            item[sku_keys[0]] = draw(SKUS)
        else:
            item[sku_keys[1]] = draw(SKUS)
            if where == "empty first":
                item[sku_keys[0]] = draw(st.sampled_from(["", None]))
        if amount_key:
            _maybe(draw, item, amount_key, amounts)
        _maybe(draw, item, "title", st.text(max_size=5))
        items.append(item)
    return items


@st.composite
def _payload(draw: st.DrawFn, fmt: str, kind: str) -> dict[str, Any]:
    time, optional_id = TIMES[fmt], st.none() | st.just("") | IDS
    id_key = {"douyin": "p_id", "taobao": "tid", "kuaishou": "oid", "generic": "order_id"}[fmt]
    payload: dict[str, Any] = {id_key: draw(IDS)}
    if fmt == "generic":
        payload["type"] = kind
    if kind == "order":
        items = draw(_items(fmt))
        if fmt == "douyin":
            payload.update(create_time=draw(time), sku_order_list=items)
            _maybe(draw, payload, "buyer_id", optional_id)
            _maybe(draw, payload, "open_id", IDS)
            _maybe(draw, payload, "order_status", st.sampled_from([1, 2, 3, 4, 5, "2", None]))
        elif fmt == "taobao":
            payload.update(created=draw(time), orders=draw(st.sampled_from([items, {"order": items}])))
            _maybe(draw, payload, "buyer_nick", optional_id)
            statuses = ["WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS", "TRADE_FINISHED", 2]
            _maybe(draw, payload, "status", st.sampled_from(statuses))
        elif fmt == "kuaishou":
            payload.update(createTime=draw(time), orderItemList=items)
            _maybe(draw, payload, "buyerOpenId", optional_id)
            _maybe(draw, payload, "payTime", st.just(0) | time)
        else:
            payload.update(placed_at=draw(time), lines=items)
            _maybe(draw, payload, "buyer_id", optional_id)
            _maybe(draw, payload, "paid", st.booleans())
    elif kind == "payment":
        key = {"douyin": "pay_time", "taobao": "pay_time", "kuaishou": "payTime", "generic": "paid_at"}[fmt]
        if fmt == "taobao":
            key = draw(st.sampled_from(["pay_time", "modified"]))
        payload[key] = draw(time)
    elif kind in ("cancel", "refund"):
        if fmt in ("douyin", "generic"):
            reason_key, list_key = ("cancel_reason", "out_sku_ids") if fmt == "douyin" else ("reason", "skus")
            _maybe(draw, payload, reason_key, st.text(max_size=8))
            _maybe(draw, payload, list_key, st.lists(SKUS, max_size=3))
        else:
            _maybe(draw, payload, "outer_sku_id" if fmt == "taobao" else "skuNick", SKUS)
    return payload


@st.composite
def valid_messages(draw: st.DrawFn, fmt: str) -> dict[str, Any]:
    """A message as the platform would send it, its payload still a dict."""
    kind = draw(st.sampled_from(sorted(KINDS[fmt])))
    payload = draw(_payload(fmt, kind))
    nested = NESTED[fmt]
    if nested is None:
        return payload
    tag: str | int = KINDS[fmt][kind]
    if fmt == "douyin" and draw(st.booleans()):
        tag = int(tag)
    envelope = {KIND_KEY[fmt]: tag, nested: payload}
    _maybe(draw, envelope, "msg_id" if fmt == "douyin" else "msgId", st.text(max_size=6))
    return envelope


@st.composite
def encode(draw: st.DrawFn, message: dict[str, Any], fmt: str) -> bytes | str:
    """The message as sent: its nested payload as JSON text or an object, as text or bytes."""
    ascii_only = draw(st.booleans())
    nested = NESTED[fmt]
    if nested is not None and isinstance(message.get(nested), dict) and draw(st.booleans()):
        message = {**message, nested: json.dumps(message[nested], ensure_ascii=ascii_only)}
    text = json.dumps(message, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text


@st.composite
def mutated_messages(draw: st.DrawFn, fmt: str) -> list[bytes | str]:
    """A valid message with some of its fields removed or replaced, then sometimes
    corrupted as text: several mutants of one message."""
    base, mutants = draw(valid_messages(fmt)), []
    for _ in range(draw(st.integers(1, 8))):
        message = copy.deepcopy(base)
        for _ in range(draw(st.integers(1, 3))):
            _mutate(draw, fmt, message)
        raw = draw(encode(message, fmt))
        if draw(st.integers(0, 3)) == 0:
            raw = _corrupt(draw, fmt, raw)
        mutants.append(raw)
    return mutants


def _mutate(draw: st.DrawFn, fmt: str, message: dict[str, Any]) -> None:
    envelope_keys, payload_keys, item_keys = FIELDS[fmt]
    nested = NESTED[fmt]
    payload = message.get(nested) if nested is not None else message
    targets: list[tuple[dict[str, Any], tuple[str, ...]]] = [(message, envelope_keys)]
    if isinstance(payload, dict):
        targets.append((payload, payload_keys))
        items = payload.get(ITEMS[fmt])
        items = items.get("order") if isinstance(items, dict) else items
        if isinstance(items, list) and items and isinstance(items[0], dict):
            targets.append((draw(st.sampled_from(items)), item_keys))
    target, keys = draw(st.sampled_from(targets))
    key = draw(st.sampled_from(sorted(set(keys) | set(target))))
    action = draw(st.sampled_from(["remove", "weird", "kind"]))
    if action == "remove":
        target.pop(key, None)
    elif action == "kind":
        message[KIND_KEY[fmt]] = draw(st.sampled_from(sorted(KINDS[fmt].values())))
    else:
        target[key] = draw(WEIRD)


def _corrupt(draw: st.DrawFn, fmt: str, raw: bytes | str) -> bytes | str:
    text = raw.decode("utf-8", "surrogatepass") if isinstance(raw, bytes) else raw
    how = draw(st.sampled_from(["truncate", "replace", "duplicate key", "bom", "spaces", "bad bytes"]))
    at = draw(st.integers(0, max(0, len(text) - 1)))
    if how == "truncate":
        text = text[:at]
    elif how == "replace":
        text = (
            text[:at] + draw(st.sampled_from(['"', "{", "]", ",", "\\", "é", "\x01", "0"])) + text[at + 1 :]
        )
    elif how == "duplicate key":
        key = draw(st.sampled_from(FIELDS[fmt][0] + FIELDS[fmt][1]))
        value = json.dumps(draw(WEIRD))
        text = text.rstrip()[:-1] + f', "{key}": {value}}}'
    elif how == "bom":
        text = "\ufeff" + text
    elif how == "spaces":
        text = f" \n{text}\t "
    else:
        data = text.encode("utf-8", "surrogatepass")
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xe4", b"\xc3\x28", b"\xed\xa0\x80"])) + data[at:]
    return text.encode("utf-8", "surrogatepass") if isinstance(raw, bytes) else text
