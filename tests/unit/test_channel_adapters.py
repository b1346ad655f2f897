"""``parse_message``: each platform's messages into flashstock's internal shapes.

Every format is fed realistic samples as bytes, as text and as an already-decoded
dict, with the nested payload (douyin ``data``, taobao ``content``, kuaishou ``info``)
both as a JSON string (how the platforms send it) and as an object. Bad input never
raises: it comes back as ``Unreadable`` naming the field, keeping the raw text and
the order id when the message shows one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest

from policies.channels import (
    Cancellation,
    Ignored,
    OrderLine,
    Payment,
    PlatformOrder,
    Unreadable,
    parse_message,
)
from policies.channels.fields import MAX_CENTS
from policies.ledger import MAX_LINE_QUANTITY

CHANNEL = "live-room-7"
#: 2024-11-11 20:00:00 China Standard Time (12:00 UTC), as epoch seconds
PLACED = 1_731_326_400
PLACED_CHINA_TEXT = "2024-11-11 20:00:00"
PAID_AT = PLACED + 60
MAX_MESSAGE_BYTES = 256 * 1024

#: removes a key from a sample when passed as an override
MISSING: Any = object()

FORMATS = ("douyin", "taobao", "kuaishou", "generic")
PLATFORMS = ("douyin", "taobao", "kuaishou")
RAW_FORMS = ("bytes", "str", "dict")

ORDER_IDS = {"douyin": "4987000111", "taobao": "3900000222", "kuaishou": "2100000333", "generic": "G-1"}
BUYERS = {"douyin": "buyer-9", "taobao": "小明", "kuaishou": "f-7", "generic": "u-1"}


# ---- samples --------------------------------------------------------------------------------


Lines = Sequence[tuple[object, object]]


class OrderSample(Protocol):
    def __call__(
        self, order_lines: Lines = ..., *, text: bool = ..., paid: bool = ..., **fields: Any
    ) -> dict[str, Any]: ...


def _with(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in overrides.items():
        if value is MISSING:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def _nest(payload: dict[str, Any], text: bool) -> str | dict[str, Any]:
    return json.dumps(payload, ensure_ascii=False) if text else payload


ONE_LINE: Lines = (("LIP-01", 2),)


def douyin_order(
    order_lines: Lines = ONE_LINE, *, text: bool = True, paid: bool = False, **fields: Any
) -> dict[str, Any]:
    data = _with(
        {
            "p_id": 4_987_000_111,
            "buyer_id": "buyer-9",
            "create_time": PLACED,
            "pay_type": 1,
            "order_status": 2 if paid else 1,
            "sku_order_list": [
                {"out_sku_id": sku, "item_num": units, "pay_amount": 9_900, "sku_id": 77}
                for sku, units in order_lines
            ],
        },
        fields,
    )
    return {"tag": "100", "msg_id": "msg-1", "data": _nest(data, text)}


def taobao_order(
    order_lines: Lines = ONE_LINE, *, text: bool = True, paid: bool = False, **fields: Any
) -> dict[str, Any]:
    content = _with(
        {
            "tid": 3_900_000_222,
            "buyer_nick": "小明",
            "created": PLACED_CHINA_TEXT,
            "status": "WAIT_SELLER_SEND_GOODS" if paid else "WAIT_BUYER_PAY",
            "orders": [
                {"outer_sku_id": sku, "num": units, "payment": "99.00", "title": "口红"}
                for sku, units in order_lines
            ],
        },
        fields,
    )
    return {"topic": "taobao_trade_TradeCreate", "content": _nest(content, text)}


def kuaishou_order(
    order_lines: Lines = ONE_LINE, *, text: bool = True, paid: bool = False, **fields: Any
) -> dict[str, Any]:
    info = _with(
        {
            "oid": 2_100_000_333,
            "buyerOpenId": "f-7",
            "createTime": PLACED * 1000,
            "payTime": PAID_AT * 1000 if paid else 0,
            "orderItemList": [
                {"skuNick": sku, "num": units, "itemPrice": 9_900, "itemId": 5} for sku, units in order_lines
            ],
        },
        fields,
    )
    return {"msgId": "k-1", "event": "kwaishop_order_orderCreate", "info": _nest(info, text)}


def generic_order(
    order_lines: Lines = ONE_LINE, *, text: bool = True, paid: bool = False, **fields: Any
) -> dict[str, Any]:
    del text  # the generic format has no nested payload
    return _with(
        {
            "type": "order",
            "order_id": "G-1",
            "buyer_id": "u-1",
            "placed_at": float(PLACED),
            "paid": paid,
            "lines": [{"sku": sku, "quantity": units} for sku, units in order_lines],
        },
        fields,
    )


ORDERS: dict[str, OrderSample] = {
    "douyin": douyin_order,
    "taobao": taobao_order,
    "kuaishou": kuaishou_order,
    "generic": generic_order,
}

#: where each format keeps its order lines and the names of a line's fields
LINE_LIST = {
    "douyin": "data.sku_order_list",
    "taobao": "content.orders",
    "kuaishou": "info.orderItemList",
    "generic": "lines",
}
LIST_KEY = {"douyin": "sku_order_list", "taobao": "orders", "kuaishou": "orderItemList", "generic": "lines"}
SKU_KEY = {"douyin": "out_sku_id", "taobao": "outer_sku_id", "kuaishou": "skuNick", "generic": "sku"}
QUANTITY_KEY = {"douyin": "item_num", "taobao": "num", "kuaishou": "num", "generic": "quantity"}
ID_FIELD = {
    "douyin": ("p_id", "data.p_id"),
    "taobao": ("tid", "content.tid"),
    "kuaishou": ("oid", "info.oid"),
    "generic": ("order_id", "order_id"),
}
TIME_FIELD = {
    "douyin": ("create_time", "data.create_time"),
    "taobao": ("created", "content.created"),
    "kuaishou": ("createTime", "info.createTime"),
    "generic": ("placed_at", "placed_at"),
}


def with_items(fmt: str, items: list[Any], **fields: Any) -> dict[str, Any]:
    """An order of format ``fmt`` whose line list is exactly ``items``."""
    overrides: dict[str, Any] = {LIST_KEY[fmt]: items}
    return ORDERS[fmt](**overrides, **fields)


def as_raw(message: dict[str, Any], form: str) -> bytes | str | dict[str, Any]:
    text = json.dumps(message, ensure_ascii=False)
    if form == "bytes":
        return text.encode("utf-8")
    return text if form == "str" else message


def expected_order(fmt: str, lines: Lines = ONE_LINE, *, paid: bool = False) -> PlatformOrder:
    return PlatformOrder(
        CHANNEL,
        ORDER_IDS[fmt],
        tuple(OrderLine(str(s), int(str(q))) for s, q in lines),
        BUYERS[fmt],
        float(PLACED),
        paid,
    )


def unreadable(fmt: str, message: dict[str, Any]) -> Unreadable:
    """Parse ``message`` sent as JSON text and check it is Unreadable with its raw text."""
    text = json.dumps(message, ensure_ascii=False)
    result = parse_message(CHANNEL, fmt, text)
    assert isinstance(result, Unreadable), result
    assert result.channel == CHANNEL
    assert result.raw == text
    return result


# ---- orders -----------------------------------------------------------------------------------------


NESTINGS = [
    *(
        pytest.param(fmt, text, id=f"{fmt}-{'nested text' if text else 'nested object'}")
        for fmt in PLATFORMS
        for text in (True, False)
    ),
    pytest.param("generic", False, id="generic"),
]


@pytest.mark.parametrize("form", RAW_FORMS)
@pytest.mark.parametrize(("fmt", "nested_as_text"), NESTINGS)
def test_reads_single_line_order_from_bytes_text_or_dict(fmt: str, nested_as_text: bool, form: str) -> None:
    raw = as_raw(ORDERS[fmt](text=nested_as_text), form)

    assert parse_message(CHANNEL, fmt, raw) == expected_order(fmt)


MULTI_LINE: Lines = (("LIP-01", 2), ("BLUSH-3", 1), ("MASK-10", "5"))


@pytest.mark.parametrize("form", RAW_FORMS)
@pytest.mark.parametrize(("fmt", "nested_as_text"), NESTINGS)
def test_reads_multi_line_order_keeping_line_order(fmt: str, nested_as_text: bool, form: str) -> None:
    raw = as_raw(ORDERS[fmt](MULTI_LINE, text=nested_as_text), form)

    result = parse_message(CHANNEL, fmt, raw)

    assert result == expected_order(fmt, MULTI_LINE)
    assert isinstance(result, PlatformOrder)
    assert result.lines == (OrderLine("LIP-01", 2), OrderLine("BLUSH-3", 1), OrderLine("MASK-10", 5))


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_order_that_arrives_already_paid(fmt: str) -> None:
    result = parse_message(CHANNEL, fmt, ORDERS[fmt](paid=True))

    assert result == expected_order(fmt, paid=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_order_without_payment_status_is_unpaid(fmt: str) -> None:
    result = parse_message(CHANNEL, fmt, ORDERS[fmt](paid=False))

    assert isinstance(result, PlatformOrder)
    assert result.paid is False


@pytest.mark.parametrize(
    ("status", "paid"), [(1, False), (2, True), (3, True), (5, True), (4, False), ("2", False), (True, False)]
)
def test_douyin_order_is_paid_only_for_paid_shipped_or_completed_status(status: object, paid: bool) -> None:
    result = parse_message(CHANNEL, "douyin", douyin_order(order_status=status))

    assert isinstance(result, PlatformOrder)
    assert result.paid is paid


@pytest.mark.parametrize(
    ("status", "paid"),
    [
        ("WAIT_BUYER_PAY", False),
        ("WAIT_SELLER_SEND_GOODS", True),
        ("WAIT_BUYER_CONFIRM_GOODS", True),
        ("TRADE_FINISHED", True),
        ("TRADE_CLOSED", False),
        (MISSING, False),
    ],
)
def test_taobao_order_is_paid_only_for_paid_statuses(status: object, paid: bool) -> None:
    result = parse_message(CHANNEL, "taobao", taobao_order(status=status))

    assert isinstance(result, PlatformOrder)
    assert result.paid is paid


def test_taobao_reads_order_list_wrapped_in_an_order_key() -> None:
    wrapped = {"order": [{"outer_sku_id": "LIP-01", "num": 2}, {"outer_sku_id": "MASK-10", "num": "1"}]}

    result = parse_message(CHANNEL, "taobao", taobao_order(orders=wrapped))

    assert isinstance(result, PlatformOrder)
    assert result.lines == (OrderLine("LIP-01", 2), OrderLine("MASK-10", 1))


@pytest.mark.parametrize(
    ("fmt", "item"),
    [
        pytest.param("douyin", {"code": "LIP-01", "item_num": 2}, id="douyin code"),
        pytest.param(
            "douyin", {"out_sku_id": "", "code": "LIP-01", "item_num": 2}, id="douyin empty out_sku_id"
        ),
        pytest.param("taobao", {"outer_iid": "LIP-01", "num": 2}, id="taobao outer_iid"),
        pytest.param("kuaishou", {"relSkuId": "LIP-01", "num": 2}, id="kuaishou relSkuId"),
    ],
)
def test_reads_sku_from_the_fallback_field(fmt: str, item: dict[str, Any]) -> None:
    result = parse_message(CHANNEL, fmt, with_items(fmt, [item]))

    assert result == expected_order(fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_integer_sku_codes_become_text(fmt: str) -> None:
    result = parse_message(CHANNEL, fmt, ORDERS[fmt]([(10086, 1)]))

    assert isinstance(result, PlatformOrder)
    assert result.lines == (OrderLine("10086", 1),)


@pytest.mark.parametrize(
    ("fmt", "buyer_key"),
    [("douyin", "buyer_id"), ("taobao", "buyer_nick"), ("kuaishou", "buyerOpenId"), ("generic", "buyer_id")],
)
def test_order_without_buyer_gets_unknown_buyer(fmt: str, buyer_key: str) -> None:
    result = parse_message(CHANNEL, fmt, ORDERS[fmt](**{buyer_key: MISSING}))

    assert isinstance(result, PlatformOrder)
    assert result.buyer_id == "unknown"


def test_douyin_falls_back_to_open_id_for_the_buyer() -> None:
    result = parse_message(CHANNEL, "douyin", douyin_order(buyer_id=MISSING, open_id="oid-abc"))

    assert isinstance(result, PlatformOrder)
    assert result.buyer_id == "oid-abc"


def test_douyin_accepts_the_tag_as_a_number() -> None:
    message = douyin_order()
    message["tag"] = 100

    assert parse_message(CHANNEL, "douyin", message) == expected_order("douyin")


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_extra_fields_are_ignored(fmt: str) -> None:
    item = {SKU_KEY[fmt]: "LIP-01", QUANTITY_KEY[fmt]: 2, "colour": "正红", "gift": {"free": True}}
    message = with_items(fmt, [item], promo={"code": "1111"}, unknown_list=[1, None])
    message["envelope_extra"] = {"trace": "t-1"}

    assert parse_message(CHANNEL, fmt, message) == expected_order(fmt)


# ---- event times ---------------------------------------------------------------------------------


def test_douyin_create_time_is_epoch_seconds() -> None:
    result = parse_message(CHANNEL, "douyin", douyin_order(create_time=PLACED + 7))

    assert isinstance(result, PlatformOrder)
    assert result.placed_at == PLACED + 7


def test_kuaishou_create_time_is_epoch_milliseconds() -> None:
    result = parse_message(CHANNEL, "kuaishou", kuaishou_order(createTime=PLACED * 1000 + 250))

    assert isinstance(result, PlatformOrder)
    assert result.placed_at == pytest.approx(PLACED + 0.25)


@pytest.mark.parametrize(
    ("created", "utc"),
    [
        ("2024-11-11 20:00:00", datetime(2024, 11, 11, 12, tzinfo=UTC)),
        ("2024-11-12 07:59:59", datetime(2024, 11, 11, 23, 59, 59, tzinfo=UTC)),
        ("2025-01-01 00:00:00", datetime(2024, 12, 31, 16, tzinfo=UTC)),
    ],
)
def test_taobao_created_is_china_time_text(created: str, utc: datetime) -> None:
    result = parse_message(CHANNEL, "taobao", taobao_order(created=created))

    assert isinstance(result, PlatformOrder)
    assert result.placed_at == utc.timestamp()


@pytest.mark.parametrize(
    ("placed_at", "expected"),
    [
        pytest.param(PLACED + 0.75, PLACED + 0.75, id="float seconds"),
        pytest.param(PLACED, PLACED, id="int seconds"),
        pytest.param("2024-11-11T20:00:00+08:00", PLACED, id="iso +08:00"),
        pytest.param("2024-11-11T12:00:00+00:00", PLACED, id="iso +00:00"),
        pytest.param("2024-11-11T04:00:00-08:00", PLACED, id="iso -08:00"),
        pytest.param("2024-11-11T20:00:00.500+08:00", PLACED + 0.5, id="iso with fraction"),
    ],
)
def test_generic_placed_at_is_float_seconds_or_iso_text_with_offset(
    placed_at: object, expected: float
) -> None:
    result = parse_message(CHANNEL, "generic", generic_order(placed_at=placed_at))

    assert isinstance(result, PlatformOrder)
    assert result.placed_at == expected


# ---- payments ---------------------------------------------------------------------------------------


PAYMENTS: dict[str, Any] = {
    "douyin": lambda text: {"tag": "101", "data": _nest({"p_id": 4_987_000_111, "pay_time": PAID_AT}, text)},
    "taobao": lambda text: {
        "topic": "taobao_trade_TradeBuyerPay",
        "content": _nest({"tid": 3_900_000_222, "pay_time": "2024-11-11 20:01:00"}, text),
    },
    "kuaishou": lambda text: {
        "event": "kwaishop_order_paySuccess",
        "info": _nest({"oid": 2_100_000_333, "payTime": PAID_AT * 1000}, text),
    },
    "generic": lambda text: {"type": "payment", "order_id": "G-1", "paid_at": float(PAID_AT)},
}


@pytest.mark.parametrize("form", RAW_FORMS)
@pytest.mark.parametrize(("fmt", "nested_as_text"), NESTINGS)
def test_reads_payment_of_the_whole_order(fmt: str, nested_as_text: bool, form: str) -> None:
    raw = as_raw(PAYMENTS[fmt](nested_as_text), form)

    assert parse_message(CHANNEL, fmt, raw) == Payment(CHANNEL, ORDER_IDS[fmt], float(PAID_AT), ())


def test_taobao_payment_falls_back_to_modified_time() -> None:
    message = {
        "topic": "taobao_trade_TradeBuyerPay",
        "content": {"tid": 3_900_000_222, "modified": "2024-11-11 20:01:00"},
    }

    assert parse_message(CHANNEL, "taobao", message) == Payment(CHANNEL, "3900000222", float(PAID_AT))


@pytest.mark.parametrize(
    ("fmt", "message", "field"),
    [
        pytest.param("douyin", {"tag": "101", "data": {"p_id": 1}}, "data.pay_time", id="douyin"),
        pytest.param(
            "taobao",
            {"topic": "taobao_trade_TradeBuyerPay", "content": {"tid": 1}},
            "content.pay_time",
            id="taobao",
        ),
        pytest.param(
            "kuaishou",
            {"event": "kwaishop_order_paySuccess", "info": {"oid": 1, "payTime": 0}},
            "info.payTime",
            id="kuaishou unpaid zero",
        ),
        pytest.param("generic", {"type": "payment", "order_id": "1"}, "paid_at", id="generic"),
    ],
)
def test_payment_without_a_usable_time_is_unreadable_naming_the_time(
    fmt: str, message: dict[str, Any], field: str
) -> None:
    result = unreadable(fmt, message)

    assert field in result.reason
    assert result.order_id == "1"


# ---- cancellations and refunds ------------------------------------------------------------------------


CANCELLATIONS = [
    pytest.param(
        "douyin",
        {"tag": "106", "data": {"p_id": 4_987_000_111, "cancel_reason": "buyer changed mind"}},
        Cancellation(CHANNEL, "4987000111", "buyer changed mind"),
        id="douyin cancel with reason",
    ),
    pytest.param(
        "douyin",
        {"tag": "106", "data": {"p_id": 4_987_000_111}},
        Cancellation(CHANNEL, "4987000111", "cancelled"),
        id="douyin cancel",
    ),
    pytest.param(
        "douyin",
        {"tag": "206", "data": {"p_id": 4_987_000_111, "out_sku_ids": ["LIP-01", 7]}},
        Cancellation(CHANNEL, "4987000111", "refund", ("LIP-01", "7")),
        id="douyin refund of lines",
    ),
    pytest.param(
        "taobao",
        {"topic": "taobao_trade_TradeClose", "content": {"tid": 3_900_000_222}},
        Cancellation(CHANNEL, "3900000222", "closed"),
        id="taobao close",
    ),
    pytest.param(
        "taobao",
        {"topic": "taobao_refund_RefundSuccess", "content": {"tid": 3_900_000_222, "outer_sku_id": "LIP-01"}},
        Cancellation(CHANNEL, "3900000222", "refund", ("LIP-01",)),
        id="taobao refund of a line",
    ),
    pytest.param(
        "kuaishou",
        {"event": "kwaishop_order_orderClose", "info": {"oid": 2_100_000_333}},
        Cancellation(CHANNEL, "2100000333", "closed"),
        id="kuaishou close",
    ),
    pytest.param(
        "kuaishou",
        {"event": "kwaishop_aftersales_refundSuccess", "info": {"oid": 2_100_000_333, "skuNick": "LIP-01"}},
        Cancellation(CHANNEL, "2100000333", "refund", ("LIP-01",)),
        id="kuaishou refund of a line",
    ),
    pytest.param(
        "generic",
        {"type": "cancel", "order_id": "G-1", "reason": "timeout", "skus": ["A", "B"]},
        Cancellation(CHANNEL, "G-1", "timeout", ("A", "B")),
        id="generic cancel of lines",
    ),
    pytest.param(
        "generic",
        {"type": "refund", "order_id": "G-1"},
        Cancellation(CHANNEL, "G-1", "refund"),
        id="generic refund",
    ),
    pytest.param(
        "generic",
        {"type": "cancel", "order_id": "G-1", "skus": []},
        Cancellation(CHANNEL, "G-1", "cancel"),
        id="generic cancel empty skus",
    ),
]


@pytest.mark.parametrize("form", RAW_FORMS)
@pytest.mark.parametrize(("fmt", "message", "expected"), CANCELLATIONS)
def test_reads_cancellation_or_refund(
    fmt: str, message: dict[str, Any], expected: Cancellation, form: str
) -> None:
    assert parse_message(CHANNEL, fmt, as_raw(message, form)) == expected


@pytest.mark.parametrize("fmt", PLATFORMS)
def test_reads_cancellation_whose_nested_payload_is_json_text(fmt: str) -> None:
    envelope = {
        "douyin": {"tag": "106"},
        "taobao": {"topic": "taobao_trade_TradeClose"},
        "kuaishou": {"event": "kwaishop_order_orderClose"},
    }[fmt]
    nested_key = {"douyin": "data", "taobao": "content", "kuaishou": "info"}[fmt]
    id_key, _ = ID_FIELD[fmt]
    message = {**envelope, nested_key: json.dumps({id_key: int(ORDER_IDS[fmt])})}

    result = parse_message(CHANNEL, fmt, message)

    assert isinstance(result, Cancellation)
    assert result.order_id == ORDER_IDS[fmt]
    assert result.skus == ()


def test_douyin_cancel_with_null_out_sku_ids_cancels_every_line() -> None:
    message = {"tag": "106", "data": {"p_id": 4_987_000_111, "out_sku_ids": None}}

    assert parse_message(CHANNEL, "douyin", message) == Cancellation(CHANNEL, "4987000111", "cancelled")


@pytest.mark.parametrize(
    "out_sku_ids",
    [
        pytest.param(5, id="number"),
        pytest.param("LIP-01", id="string"),
        pytest.param({"sku": "LIP-01"}, id="object"),
    ],
)
def test_douyin_cancel_with_non_list_out_sku_ids_is_unreadable(out_sku_ids: object) -> None:
    message = {"tag": "106", "data": {"p_id": 4_987_000_111, "out_sku_ids": out_sku_ids}}

    result = parse_message(CHANNEL, "douyin", message)

    assert isinstance(result, Unreadable), result
    assert "out_sku_id" in result.reason
    assert result.order_id == "4987000111"


def test_generic_cancel_with_skus_that_are_not_a_list_is_unreadable() -> None:
    result = unreadable("generic", {"type": "cancel", "order_id": "G-1", "skus": "A,B"})

    assert "skus" in result.reason
    assert result.order_id == "G-1"


def test_generic_cancel_with_a_bad_sku_is_unreadable() -> None:
    result = unreadable("generic", {"type": "cancel", "order_id": "G-1", "skus": ["A", ""]})

    assert "skus[]" in result.reason
    assert result.order_id == "G-1"


# ---- messages that do not touch stock ----------------------------------------------------------------


@pytest.mark.parametrize("form", RAW_FORMS)
@pytest.mark.parametrize(
    ("fmt", "message", "kind"),
    [
        pytest.param(
            "douyin",
            {"tag": "102", "data": '{"p_id": 1, "logistics": "SF"}'},
            "douyin tag 102",
            id="douyin shipped",
        ),
        pytest.param("douyin", {"tag": 105}, "douyin tag 105", id="douyin address change without data"),
        pytest.param(
            "taobao",
            {"topic": "taobao_trade_TradeSellerShip", "content": "{}"},
            "taobao topic taobao_trade_TradeSellerShip",
            id="taobao shipped",
        ),
        pytest.param(
            "kuaishou",
            {"event": "kwaishop_order_addressChange", "info": "not even json"},
            "kuaishou event kwaishop_order_addressChange",
            id="kuaishou address change",
        ),
    ],
)
def test_messages_that_do_not_touch_stock_are_ignored(
    fmt: str, message: dict[str, Any], kind: str, form: str
) -> None:
    assert parse_message(CHANNEL, fmt, as_raw(message, form)) == Ignored(CHANNEL, kind)


def test_generic_format_has_no_ignored_kinds_an_unknown_type_is_unreadable() -> None:
    result = unreadable("generic", {"type": "shipped", "order_id": "G-1"})

    assert "type must be order, payment, cancel or refund" in result.reason
    assert "'shipped'" in result.reason
    assert result.order_id == "G-1"


# ---- unreadable orders: every bad field is named ------------------------------------------------------


def _bad_quantities() -> list[Any]:
    cases = []
    for fmt in FORMATS:
        for label, value in [
            ("float", 2.0),
            ("bool", True),
            ("list", [2]),
            ("zero", 0),
            ("negative", -1),
            ("absurd", MAX_LINE_QUANTITY + 1),
            ("decimal string", "2.5"),
            ("null", None),
        ]:
            item = {SKU_KEY[fmt]: "LIP-01", QUANTITY_KEY[fmt]: value}
            cases.append(
                pytest.param(
                    fmt,
                    with_items(fmt, [item]),
                    f"{LINE_LIST[fmt]}[0].{QUANTITY_KEY[fmt]}",
                    id=f"{fmt} {label}",
                )
            )
    return cases


def _bad_ids() -> list[Any]:
    cases = []
    for fmt in FORMATS:
        key, field = ID_FIELD[fmt]
        for label, value in [
            ("bool", True),
            ("negative", -5),
            ("empty", ""),
            ("dict", {"id": 1}),
            ("float", 1.5),
            ("missing", MISSING),
        ]:
            cases.append(pytest.param(fmt, ORDERS[fmt](**{key: value}), field, id=f"{fmt} {label}"))
    return cases


@pytest.mark.parametrize(("fmt", "message", "field"), _bad_ids())
def test_order_with_bad_id_is_unreadable_naming_the_id_field(
    fmt: str, message: dict[str, Any], field: str
) -> None:
    result = unreadable(fmt, message)

    assert field in result.reason


@pytest.mark.parametrize(("fmt", "message", "field"), _bad_quantities())
def test_order_with_bad_quantity_is_unreadable_naming_the_line_and_keeping_the_order_id(
    fmt: str, message: dict[str, Any], field: str
) -> None:
    result = unreadable(fmt, message)

    assert field in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_second_line_is_named_by_its_index(fmt: str) -> None:
    items = [{SKU_KEY[fmt]: "LIP-01", QUANTITY_KEY[fmt]: 1}, {SKU_KEY[fmt]: "MASK-10", QUANTITY_KEY[fmt]: 0}]

    result = unreadable(fmt, with_items(fmt, items))

    assert f"{LINE_LIST[fmt]}[1].{QUANTITY_KEY[fmt]}" in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "items",
    [
        pytest.param([], id="empty"),
        pytest.param({"a": 1}, id="object"),
        pytest.param(MISSING, id="missing"),
        pytest.param(["LIP-01"], id="not objects"),
    ],
)
def test_order_without_usable_line_list_is_unreadable(fmt: str, items: object) -> None:
    overrides: dict[str, Any] = {LIST_KEY[fmt]: items}  # any value, not the sample's typed parameters
    result = unreadable(fmt, ORDERS[fmt](**overrides))

    assert LINE_LIST[fmt] in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_line_without_sku_is_unreadable_naming_the_line(fmt: str) -> None:
    result = unreadable(fmt, with_items(fmt, [{QUANTITY_KEY[fmt]: 1}]))

    assert f"{LINE_LIST[fmt]}[0]" in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize(
    ("fmt", "key", "value", "field"),
    [
        pytest.param("douyin", "pay_amount", -1, "pay_amount", id="douyin negative cents"),
        pytest.param("douyin", "pay_amount", MAX_CENTS + 1, "pay_amount", id="douyin absurd cents"),
        pytest.param("douyin", "pay_amount", 99.5, "pay_amount", id="douyin fractional cents"),
        pytest.param("douyin", "pay_amount", "9900", "pay_amount", id="douyin cents as text"),
        pytest.param("kuaishou", "itemPrice", -100, "itemPrice", id="kuaishou negative cents"),
        pytest.param("kuaishou", "itemPrice", 10 * MAX_CENTS, "itemPrice", id="kuaishou absurd cents"),
        pytest.param("taobao", "payment", "99.999", "payment", id="taobao three decimals"),
        pytest.param("taobao", "payment", "abc", "payment", id="taobao not a number"),
        pytest.param("taobao", "payment", "-1.00", "payment", id="taobao negative"),
        pytest.param("taobao", "payment", "10000000.01", "payment", id="taobao absurd"),
        pytest.param("taobao", "payment", 99, "payment", id="taobao number instead of text"),
    ],
)
def test_order_with_bad_amount_is_unreadable_naming_the_amount(
    fmt: str, key: str, value: object, field: str
) -> None:
    item = {SKU_KEY[fmt]: "LIP-01", QUANTITY_KEY[fmt]: 1, key: value}

    result = unreadable(fmt, with_items(fmt, [item]))

    assert f"{LINE_LIST[fmt]}[0].{field}" in result.reason
    assert result.order_id == ORDER_IDS[fmt]


def test_taobao_absurd_exponent_payment_is_unreadable_naming_the_amount() -> None:
    # Regression: Decimal.quantize once raised decimal.InvalidOperation here, which
    # escaped parse_message instead of giving an Unreadable.
    item = {"outer_sku_id": "LIP-01", "num": 1, "payment": "1e30"}

    result = parse_message(CHANNEL, "taobao", taobao_order(orders=[item]))

    assert isinstance(result, Unreadable), result
    assert "content.orders[0].payment" in result.reason


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        pytest.param("douyin", PLACED * 1000, id="douyin milliseconds where seconds expected"),
        pytest.param("douyin", 1_000_000_000, id="douyin 2001"),
        pytest.param("douyin", "yesterday", id="douyin text"),
        pytest.param("douyin", MISSING, id="douyin missing"),
        pytest.param("kuaishou", PLACED, id="kuaishou seconds where milliseconds expected"),
        pytest.param("kuaishou", PLACED * 1_000_000, id="kuaishou microseconds"),
        pytest.param("taobao", "2024-13-45 99:00:00", id="taobao impossible date"),
        pytest.param("taobao", "1990-01-01 00:00:00", id="taobao 1990"),
        pytest.param("taobao", "2100-01-01 08:00:01", id="taobao after 2100"),
        pytest.param("generic", PLACED * 1000.0, id="generic milliseconds where seconds expected"),
        pytest.param("generic", "2101-01-01T00:00:00+00:00", id="generic iso after 2100"),
        pytest.param("generic", True, id="generic bool"),
        pytest.param("generic", [PLACED], id="generic list"),
    ],
)
def test_order_with_bad_event_time_is_unreadable_naming_the_time(fmt: str, value: object) -> None:
    key, field = TIME_FIELD[fmt]

    overrides: dict[str, Any] = {key: value}  # any value, not the sample's typed parameters
    result = unreadable(fmt, ORDERS[fmt](**overrides))

    assert field in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize("fmt", ["douyin", "generic"])
def test_timestamp_too_large_for_a_float_is_unreadable_naming_the_time(fmt: str) -> None:
    # Regression: float(10**400) once raised OverflowError inside epoch_seconds;
    # parse_message only catches FieldError, so the consumer would crash.
    key, field = TIME_FIELD[fmt]

    overrides: dict[str, Any] = {key: 10**400}
    result = parse_message(CHANNEL, fmt, json.dumps(ORDERS[fmt](**overrides)))

    assert isinstance(result, Unreadable), result
    assert field in result.reason


def test_non_ascii_digit_quantity_is_unreadable_naming_the_line() -> None:
    # Regression: "²".isdigit() is True but int("²") raises ValueError, which is not a
    # FieldError and would escape parse_message.
    result = parse_message(CHANNEL, "generic", generic_order([("LIP-01", "²")]))

    assert isinstance(result, Unreadable), result
    assert "lines[0].quantity" in result.reason


def test_taobao_order_with_non_string_status_does_not_raise() -> None:
    result = parse_message(CHANNEL, "taobao", taobao_order(status=["WAIT_SELLER_SEND_GOODS"]))

    assert isinstance(result, PlatformOrder | Unreadable)
    if isinstance(result, PlatformOrder):
        assert result.paid is False
    else:
        assert "status" in result.reason


def test_generic_paid_flag_must_be_a_boolean() -> None:
    result = unreadable("generic", generic_order(paid="yes"))  # type: ignore[arg-type]  # bad input on purpose

    assert "paid" in result.reason
    assert result.order_id == "G-1"


@pytest.mark.parametrize(
    ("fmt", "message", "field"),
    [
        pytest.param("douyin", {"msg_id": "m"}, "message.tag", id="douyin no tag"),
        pytest.param("douyin", {"tag": "100"}, "message.data", id="douyin no data"),
        pytest.param("taobao", {"content": "{}"}, "message.topic", id="taobao no topic"),
        pytest.param(
            "taobao",
            {"topic": "taobao_trade_TradeCreate", "content": None},
            "message.content",
            id="taobao null content",
        ),
        pytest.param("kuaishou", {"info": "{}"}, "message.event", id="kuaishou no event"),
        pytest.param(
            "kuaishou", {"event": "kwaishop_order_orderCreate"}, "message.info", id="kuaishou no info"
        ),
        pytest.param("generic", {"order_id": "G-1"}, "message.type", id="generic no type"),
        pytest.param(
            "generic",
            {"type": "order", "order_id": "G-1", "placed_at": PLACED},
            "message.lines",
            id="generic no lines",
        ),
    ],
)
def test_message_missing_a_required_field_is_unreadable_naming_it(
    fmt: str, message: dict[str, Any], field: str
) -> None:
    result = unreadable(fmt, message)

    assert f"{field} is missing" in result.reason


@pytest.mark.parametrize(
    ("fmt", "key", "order_id"),
    [
        ("douyin", "data", "4987000111"),
        ("taobao", "content", "3900000222"),
        ("kuaishou", "info", "2100000333"),
    ],
)
@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        pytest.param("{not json", "is not valid JSON", id="invalid json text"),
        pytest.param("[1, 2]", "must be a JSON object, got list", id="json list text"),
        pytest.param(42, "must be a JSON object, got int", id="number"),
        pytest.param(["a"], "must be a JSON object, got list", id="list"),
    ],
)
def test_nested_payload_that_is_not_a_json_object_is_unreadable_naming_it(
    fmt: str, key: str, order_id: str, payload: object, problem: str
) -> None:
    message = ORDERS[fmt]()
    message[key] = payload
    message["order_id"] = order_id  # the envelope shows the order id

    result = unreadable(fmt, message)

    assert result.reason.startswith(f"{key} {problem}")
    assert result.order_id == order_id


# ---- order id of dead letters ---------------------------------------------------------------------------


@pytest.mark.parametrize("nested_as_text", [True, False])
@pytest.mark.parametrize("fmt", PLATFORMS)
def test_dead_letter_carries_the_order_id_found_in_the_nested_payload(fmt: str, nested_as_text: bool) -> None:
    key, field = TIME_FIELD[fmt]

    result = unreadable(fmt, ORDERS[fmt](text=nested_as_text, **{key: MISSING}))

    assert field in result.reason
    assert result.order_id == ORDER_IDS[fmt]


def test_dead_letter_has_no_order_id_when_the_message_shows_none() -> None:
    result = unreadable("douyin", douyin_order(p_id=MISSING))

    assert result.order_id == ""


# ---- duplicate SKU lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_sku_lines_are_merged_by_summing(fmt: str) -> None:
    lines = [("LIP-01", 2), ("MASK-10", 1), ("LIP-01", 3), ("MASK-10", "4")]

    result = parse_message(CHANNEL, fmt, ORDERS[fmt](lines))

    assert isinstance(result, PlatformOrder)
    assert result.lines == (OrderLine("LIP-01", 5), OrderLine("MASK-10", 5))


@pytest.mark.parametrize("fmt", FORMATS)
def test_merged_total_over_the_line_maximum_is_unreadable(fmt: str) -> None:
    lines = [("LIP-01", 60_000), ("MASK-10", 1), ("LIP-01", 40_001)]

    result = unreadable(fmt, ORDERS[fmt](lines))

    assert LINE_LIST[fmt] in result.reason
    assert "100001 units of LIP-01" in result.reason
    assert result.order_id == ORDER_IDS[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_merged_total_of_exactly_the_line_maximum_is_accepted(fmt: str) -> None:
    result = parse_message(CHANNEL, fmt, ORDERS[fmt]([("LIP-01", 60_000), ("LIP-01", 40_000)]))

    assert isinstance(result, PlatformOrder)
    assert result.lines == (OrderLine("LIP-01", MAX_LINE_QUANTITY),)


# ---- whole-message problems ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["bytes", "str"])
@pytest.mark.parametrize("text", ["{not json", "", '{"tag": "100",}', "\ufeff{}", "{'tag': '100'}"])
def test_invalid_json_is_unreadable_keeping_the_raw_text(text: str, form: str) -> None:
    raw = text.encode() if form == "bytes" else text

    result = parse_message(CHANNEL, "douyin", raw)

    assert isinstance(result, Unreadable)
    assert result.reason.startswith("not valid JSON")
    assert result.raw == text
    assert result.order_id == ""


def test_bytes_that_are_not_utf8_are_unreadable_not_an_exception() -> None:
    result = parse_message(CHANNEL, "generic", b'{"type": "order", \xff\xfe}')

    assert isinstance(result, Unreadable)
    assert result.reason.startswith("not valid JSON")
    assert result.raw.startswith('{"type": "order", ')


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", ["[1, 2]", "42", '"order"', "null", "true"])
def test_json_that_is_not_an_object_is_unreadable(fmt: str, text: str) -> None:
    result = parse_message(CHANNEL, fmt, text)

    assert result == Unreadable(CHANNEL, "message must be a JSON object", text)


def test_deeply_nested_json_is_unreadable_not_an_exception() -> None:
    text = "[" * 100_000

    result = parse_message(CHANNEL, "generic", text)

    assert isinstance(result, Unreadable), result
    assert result.raw == text


@pytest.mark.parametrize(
    ("fmt", "envelope", "nested"),
    [
        ("douyin", douyin_order(), "data"),
        ("taobao", taobao_order(), "content"),
        ("kuaishou", kuaishou_order(), "info"),
    ],
)
@pytest.mark.parametrize("form", RAW_FORMS)
def test_a_payload_text_nested_too_deeply_is_unreadable_not_an_exception(
    fmt: str, envelope: dict[str, Any], nested: str, form: str
) -> None:
    # json.loads raises RecursionError (not a ValueError): it escaped the parser, failed
    # the webhook with 500 and, in the inbox, failed its batch for ever (the channel stuck)
    message = {**envelope, nested: "[" * 5000 + "]" * 5000}

    result = parse_message(CHANNEL, fmt, as_raw(message, form))

    assert isinstance(result, Unreadable), result
    assert result.reason == f"{nested} is JSON nested too deeply"


@pytest.mark.parametrize("form", RAW_FORMS)
def test_unknown_format_is_unreadable_naming_it_and_keeping_the_raw_text(form: str) -> None:
    message = generic_order()

    result = parse_message(CHANNEL, "wechat", as_raw(message, form))

    assert isinstance(result, Unreadable)
    assert "unknown format 'wechat'" in result.reason
    assert json.loads(result.raw) == message


@pytest.mark.parametrize("form", RAW_FORMS)
def test_unreadable_keeps_the_raw_text_of_each_raw_form(form: str) -> None:
    message = douyin_order(create_time=MISSING)

    result = parse_message(CHANNEL, "douyin", as_raw(message, form))

    assert isinstance(result, Unreadable)
    assert "data.create_time" in result.reason
    assert json.loads(result.raw) == message
    assert result.order_id == ORDER_IDS["douyin"]


def test_unreadable_dict_keeps_chinese_text_unescaped() -> None:
    message = taobao_order(created=MISSING, text=False)

    result = parse_message(CHANNEL, "taobao", message)

    assert isinstance(result, Unreadable)
    assert "小明" in result.raw


def _padded(message: dict[str, Any], size: int) -> str:
    """``message`` as JSON text padded with trailing whitespace to exactly ``size`` characters."""
    text = json.dumps(message)
    return text + " " * (size - len(text))


@pytest.mark.parametrize("form", ["bytes", "str"])
def test_message_over_256_kib_is_unreadable(form: str) -> None:
    text = _padded(generic_order(), MAX_MESSAGE_BYTES + 1)
    raw = text.encode() if form == "bytes" else text

    result = parse_message(CHANNEL, "generic", raw)

    assert isinstance(result, Unreadable)
    assert result.reason == f"message longer than {MAX_MESSAGE_BYTES} bytes"
    assert 0 < len(result.raw) <= 1100


@pytest.mark.parametrize("form", ["bytes", "str"])
def test_message_of_exactly_256_kib_is_read(form: str) -> None:
    text = _padded(generic_order(), MAX_MESSAGE_BYTES)
    raw = text.encode() if form == "bytes" else text

    assert parse_message(CHANNEL, "generic", raw) == expected_order("generic")


def test_oversized_text_is_measured_in_utf8_bytes() -> None:
    text = json.dumps({**generic_order(), "note": "字" * 100_000}, ensure_ascii=False)
    assert len(text) < MAX_MESSAGE_BYTES < len(text.encode("utf-8"))

    result = parse_message(CHANNEL, "generic", text)

    assert isinstance(result, Unreadable), result
    assert "longer than" in result.reason


def test_oversized_bytes_message_keeps_its_text_not_a_bytes_repr() -> None:
    text = _padded(generic_order(), MAX_MESSAGE_BYTES + 1)

    result = parse_message(CHANNEL, "generic", text.encode())

    assert isinstance(result, Unreadable)
    assert text.startswith(result.raw)
    assert result.raw.startswith('{"type": "order"')
