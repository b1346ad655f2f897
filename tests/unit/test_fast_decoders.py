"""The typed fast decoders (``policies.channels.fast``) against the reference parsers.

``parse_message`` decodes with msgspec and falls back to ``reference_parse_message`` for
anything the fast path does not fully handle. Hypothesis builds valid messages of every
format and kind (ids as text or numbers, quantities as digits, each platform's times,
nested payloads as JSON text or as objects, unicode) and mutates them (fields removed,
wrong types, out-of-range numbers, bad times, kinds swapped, duplicate keys, truncated or
corrupted bytes). Every message must parse to exactly the reference's result, including
``Unreadable`` and the field its reason names; valid messages must take the fast path.
A batch (``parse_messages``) parses as each of its messages does alone, and the fast
path's value checks (``fast.checks``) answer exactly as the ``fields`` helpers do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.channels import (
    FORMATS,
    Cancellation,
    OrderLine,
    Payment,
    PlatformOrder,
    parse_message,
    parse_messages,
    reference_parse_message,
)
from policies.channels import fields as f
from policies.channels.fast import checks, parse_fast
from policies.channels.fields import MAX_CENTS
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY
from scripts.loadgen import messages
from tests.unit.fast_decoder_messages import (
    KINDS,
    NESTED,
    WEIRD,
    encode,
    mutated_messages,
    valid_messages,
)

CHANNEL = "live-room-7"
PLACED = 1_731_326_400.0
EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def assert_same_as_reference(fmt: str, raw: bytes | str) -> None:
    expected = reference_parse_message(CHANNEL, fmt, raw)
    fast = parse_fast(CHANNEL, fmt, raw)
    if fast is not None:  # the fast path's own answer, before any fallback
        assert (type(fast), repr(fast)) == (type(expected), repr(expected)), raw
    got = parse_message(CHANNEL, fmt, raw)
    assert (type(got), repr(got)) == (type(expected), repr(expected)), raw


@pytest.mark.parametrize("fmt", sorted(NESTED))
@EXAMPLES
@given(data=st.data())
def test_valid_messages_take_the_fast_path_and_equal_the_reference(fmt: str, data: st.DataObject) -> None:
    message = data.draw(valid_messages(fmt))
    raw = data.draw(encode(message, fmt))

    assert parse_fast(CHANNEL, fmt, raw) is not None, raw
    assert_same_as_reference(fmt, raw)


@pytest.mark.parametrize("fmt", sorted(NESTED))
@EXAMPLES
@given(data=st.data())
def test_mutated_messages_parse_exactly_as_the_reference_does(fmt: str, data: st.DataObject) -> None:
    for raw in data.draw(mutated_messages(fmt)):
        assert_same_as_reference(fmt, raw)


@pytest.mark.parametrize("fmt", sorted(NESTED))
def test_load_generator_messages_take_the_fast_path(fmt: str) -> None:
    raws = []
    for n in range(300):
        order_id, sku = f"O-{n}", f"SKU-{n % 7}"
        raws += [
            messages.order_message(fmt, order_id, sku, 1 + n % 5, PLACED + n / 3, f"买家-{n}"),
            messages.payment_message(fmt, order_id, PLACED + n),
            messages.cancel_message(fmt, order_id, "changed mind"),
        ]
    for raw in raws:
        for form in (raw, raw.encode("utf-8")):
            assert parse_fast(CHANNEL, fmt, form) is not None, form
            assert_same_as_reference(fmt, form)


def test_parse_message_does_not_ask_the_reference_parser_for_a_valid_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(channel: str, message: Any) -> Any:
        raise AssertionError("the reference parser was asked")

    for fmt in KINDS:
        monkeypatch.setitem(FORMATS, fmt, refuse)
    order = messages.order_message("taobao", "3900000222", "LIP-01", 2, PLACED, "小明")

    assert parse_message(CHANNEL, "taobao", order.encode()) == PlatformOrder(
        CHANNEL, "3900000222", (OrderLine("LIP-01", 2),), "小明", PLACED, paid=False
    )
    assert parse_message(CHANNEL, "douyin", messages.payment_message("douyin", "9", PLACED)) == Payment(
        CHANNEL, "9", PLACED
    )
    assert parse_message(CHANNEL, "kuaishou", messages.cancel_message("kuaishou", "7", "x")) == Cancellation(
        CHANNEL, "7", "closed"
    )


@pytest.mark.parametrize(
    ("fmt", "raw", "reason"),
    [
        ("generic", '{"type": "order", "order_id": "A", "placed_at": 1731326400, "lines": []}', "lines must"),
        (
            "generic",
            '{"type": "order", "order_id": "A", "placed_at": 1731326400, "lines": [{"sku": "S", '
            f'"quantity": {MAX_LINE_QUANTITY + 1}}}]}}',
            "lines[0].quantity must be between",
        ),
        ("douyin", '{"tag": "100", "data": "{\\"p_id\\": 1}"}', "data.sku_order_list is missing"),
        (
            "douyin",
            '{"tag": "100", "data": {"p_id": 1, "create_time": 1731326400, "sku_order_list": '
            f'[{{"out_sku_id": "S", "item_num": 1, "pay_amount": {MAX_CENTS + 1}}}]}}}}',
            "pay_amount must be",
        ),
        ("taobao", '{"topic": "taobao_trade_TradeBuyerPay", "content": {"tid": 5}}', "content.pay_time must"),
        (
            "kuaishou",
            '{"event": "kwaishop_order_paySuccess", "info": "{\\"oid\\": 1, \\"payTime\\": 5}"}',
            "info.payTime is outside",
        ),
    ],
)
def test_an_unreadable_message_keeps_the_reference_reason_naming_the_field(
    fmt: str, raw: str, reason: str
) -> None:
    got = parse_message(CHANNEL, fmt, raw.encode())

    assert got == reference_parse_message(CHANNEL, fmt, raw.encode())
    assert reason in getattr(got, "reason", ""), got


def test_a_message_given_as_a_mapping_is_parsed_by_the_reference() -> None:
    message = json.loads(messages.order_message("generic", "G-1", "S", 1, PLACED))

    assert parse_message(CHANNEL, "generic", message) == reference_parse_message(CHANNEL, "generic", message)


@pytest.mark.parametrize("fmt", [*sorted(NESTED), "wechat"])
@EXAMPLES
@given(data=st.data())
def test_a_batch_parses_as_each_of_its_messages_alone(fmt: str, data: st.DataObject) -> None:
    known = fmt if fmt in NESTED else "generic"
    valid = [
        data.draw(encode(data.draw(valid_messages(known)), known))
        for _ in range(data.draw(st.integers(0, 3)))
    ]
    as_object = json.loads(data.draw(encode(data.draw(valid_messages(known)), known)))
    batch = data.draw(st.permutations([*valid, *data.draw(mutated_messages(known)), as_object]))

    got = parse_messages(CHANNEL, fmt, batch)

    expected = [reference_parse_message(CHANNEL, fmt, raw) for raw in batch]
    assert [(type(m), repr(m)) for m in got] == [(type(m), repr(m)) for m in expected]


def test_an_empty_batch_parses_to_nothing() -> None:
    assert parse_messages(CHANNEL, "douyin", []) == []


#: values at the edges of the quick paths: spaces at either end, the longest id, the
#: largest integer id, the first and last plausible second (and millisecond)
EDGES: list[object] = [
    "a",
    "a ",
    " a",
    " ",
    "",
    "a\tb",
    "x" * MAX_ID_LENGTH,
    "x" * (MAX_ID_LENGTH + 1),
    10**MAX_ID_LENGTH - 1,
    10**MAX_ID_LENGTH,
    -1,
    True,
    f.EARLIEST,
    f.LATEST,
    f.EARLIEST - 1,
    f.LATEST + 1,
    int(f.LATEST),
    int(f.LATEST) + 1,
    f.EARLIEST * 1000,
    f.LATEST * 1000,
    f.LATEST * 1000 + 1,
    10**15,
    10**15 + 1,
    -(10**15),
    1e15,
    float("nan"),
    float("inf"),
    "2024-11-11 20:00:00",
]
VALUES = (
    st.sampled_from(EDGES)
    | WEIRD
    | st.text(max_size=140)
    | st.from_regex(r"[ -~]{0,130}", fullmatch=True)
    | st.floats(1e9, 5e12)
)


def answer(check: Any, *args: Any) -> tuple[str, object]:
    """What a check gives: its value, or the error it raises."""
    try:
        value = check(*args)
    except f.FieldError as error:
        return "error", str(error)
    return type(value).__name__, value


def assert_checks_agree(value: object) -> None:
    assert answer(checks.ident, value) == answer(f.ident, value, checks.FIELD)
    for unit in ("s", "ms"):

        def reference(value: object, unit: str = unit) -> float:
            return f.epoch_seconds(value, checks.FIELD, unit=unit)

        assert repr(answer(checks.epoch_seconds, value, unit)) == repr(answer(reference, value))


@given(value=VALUES | st.integers(-(10**16), 10**16) | st.floats(-2e15, 2e15))
def test_the_quick_checks_answer_as_the_fields_helpers(value: object) -> None:
    assert_checks_agree(value)


@pytest.mark.parametrize("value", EDGES, ids=repr)
def test_the_quick_checks_answer_as_the_fields_helpers_at_their_edges(value: object) -> None:
    assert_checks_agree(value)
