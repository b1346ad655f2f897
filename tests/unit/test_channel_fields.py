"""The field readers of ``policies.channels.fields``, called directly.

Every reader either returns the value in flashstock's shape or raises ``FieldError``
with a message that starts with (or contains) the field's name, so an adapter's dead
letter says which field was wrong. ``parse_message`` catches ``FieldError`` only: any
other exception escaping a reader crashes the consumer instead of dead-lettering the
message.
"""

from __future__ import annotations

import math
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.channels.fields import (
    CHINA_TIME,
    EARLIEST,
    LATEST,
    MAX_CENTS,
    FieldError,
    cents,
    epoch_seconds,
    first_present,
    ident,
    item_list,
    json_object,
    merge_lines,
    quantity,
    required,
    yuan_as_cents,
)
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY

#: 2024-11-11 20:00:00 China Standard Time (12:00 UTC), as epoch seconds
SINGLES_DAY = datetime(2024, 11, 11, 12, tzinfo=UTC).timestamp()


def field_error(call: Any, *args: Any, **kwargs: Any) -> str:
    """The message of the ``FieldError`` that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(FieldError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# ---- required / first_present ------------------------------------------------------------


def test_required_returns_the_value_of_a_present_key() -> None:
    assert required({"tid": 0}, "tid", "content") == 0
    assert required({"tid": ""}, "tid", "content") == ""


@pytest.mark.parametrize("obj", [{}, {"tid": None}, {"other": 1}])
def test_required_names_the_missing_key_with_its_parent(obj: dict[str, Any]) -> None:
    assert field_error(required, obj, "tid", "content") == "content.tid is missing"


def test_first_present_skips_missing_null_and_empty_keys() -> None:
    item = {"out_sku_id": "", "code": None, "sku": "LIP-01"}

    assert first_present(item, ("out_sku_id", "code", "sku"), "item") == "LIP-01"


def test_first_present_prefers_the_first_key_that_has_a_value() -> None:
    assert first_present({"a": "x", "b": "y"}, ("a", "b"), "item") == "x"
    assert first_present({"a": 0, "b": "y"}, ("a", "b"), "item") == 0


def test_first_present_names_all_keys_it_looked_for() -> None:
    message = field_error(first_present, {"a": "", "c": 1}, ("a", "b"), "orders[2]")

    assert message == "orders[2] has none of a, b"


# ---- ident ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("LIP-01", "LIP-01", id="plain string"),
        pytest.param("  订单-0001 ", "订单-0001", id="surrounding spaces stripped"),
        pytest.param(4_987_000_111, "4987000111", id="integer as text"),
        pytest.param(0, "0", id="zero"),
        pytest.param(10**MAX_ID_LENGTH - 1, "9" * MAX_ID_LENGTH, id="integer of the maximum digits"),
        pytest.param("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH, id="exactly the maximum length"),
    ],
)
def test_ident_accepts_printable_strings_and_non_negative_integers(value: object, expected: str) -> None:
    assert ident(value, "data.p_id") == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(-1, id="negative"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param({"id": 1}, id="dict"),
        pytest.param([1], id="list"),
        pytest.param(1.0, id="float"),
        pytest.param(None, id="null"),
        pytest.param("x" * (MAX_ID_LENGTH + 1), id="too long"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\x00b", id="nul"),
    ],
)
def test_ident_rejects_values_that_are_not_ids_naming_the_field(value: object) -> None:
    assert field_error(ident, value, "data.p_id").startswith("data.p_id ")


def test_ident_error_says_what_was_wrong() -> None:
    assert "bool" in field_error(ident, True, "oid")
    assert "-7" in field_error(ident, -7, "oid")
    assert str(MAX_ID_LENGTH) in field_error(ident, "x" * 500, "oid")


def test_ident_rejects_integer_with_more_digits_than_max_id_length() -> None:
    # Regression: integer ids once skipped the length check that string ids get, so a
    # 129-digit id passed the adapter and every line was then rejected by the ledger.
    too_long = 10**MAX_ID_LENGTH  # MAX_ID_LENGTH + 1 digits

    assert str(MAX_ID_LENGTH) in field_error(ident, too_long, "tid")


# ---- quantity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1, 1, id="one"),
        pytest.param(MAX_LINE_QUANTITY, MAX_LINE_QUANTITY, id="maximum"),
        pytest.param("7", 7, id="digit string"),
        pytest.param(" 42 ", 42, id="digit string with spaces"),
        pytest.param("007", 7, id="leading zeros"),
        pytest.param(str(MAX_LINE_QUANTITY), MAX_LINE_QUANTITY, id="maximum as string"),
    ],
)
def test_quantity_accepts_whole_numbers_in_range(value: object, expected: int) -> None:
    assert quantity(value, "num") == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(MAX_LINE_QUANTITY + 1, id="absurd"),
        pytest.param("0", id="zero string"),
        pytest.param("-1", id="negative string"),
        pytest.param("100001", id="absurd string"),
        pytest.param("1.5", id="decimal string"),
        pytest.param("", id="empty string"),
        pytest.param("two", id="word"),
        pytest.param(1.0, id="whole float"),
        pytest.param(2.5, id="float"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="null"),
        pytest.param([1], id="list"),
        pytest.param({"n": 1}, id="dict"),
    ],
)
def test_quantity_rejects_anything_but_a_whole_number_in_range(value: object) -> None:
    assert field_error(quantity, value, "lines[0].quantity").startswith("lines[0].quantity must be")


def test_quantity_error_names_the_limits_and_the_value() -> None:
    message = field_error(quantity, 100_001, "num")

    assert "between 1 and 100000" in message
    assert "100001" in message


def _is_ascii_digit_string(value: str) -> bool:
    stripped = value.strip()
    return bool(stripped) and all(c in string.digits for c in stripped)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        st.integers(min_value=-(10**6), max_value=10**6),
        st.integers(min_value=-5, max_value=MAX_LINE_QUANTITY + 5).map(str),
        st.integers(min_value=0, max_value=MAX_LINE_QUANTITY + 5).map(lambda n: f" {n:07d}\t"),
        st.text(alphabet=st.characters(codec="ascii"), max_size=8),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.none(),
        st.lists(st.integers(min_value=1, max_value=3), max_size=2),
    )
)
def test_quantity_accepts_exactly_the_ints_1_to_max_and_their_digit_strings(value: object) -> None:
    if isinstance(value, bool):
        valid: int | None = None
    elif isinstance(value, int):
        valid = value if 1 <= value <= MAX_LINE_QUANTITY else None
    elif isinstance(value, str) and _is_ascii_digit_string(value):
        number = int(value.strip())
        valid = number if 1 <= number <= MAX_LINE_QUANTITY else None
    else:
        valid = None

    if valid is None:
        with pytest.raises(FieldError, match=r"^q must be"):
            quantity(value, "q")
    else:
        assert quantity(value, "q") == valid


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("²", id="superscript two"),
        pytest.param("٣", id="arabic-indic three"),
        pytest.param("１", id="fullwidth one"),
        pytest.param("1" * 5000, id="more digits than int() converts"),
    ],
)
def test_quantity_rejects_strings_that_are_not_plain_ascii_digits_with_field_error(value: str) -> None:
    # Regression: str.isdigit() admits Unicode digits. "²" and the 5000-digit string once
    # made int() raise a bare ValueError (not FieldError), which parse_message does not
    # catch; "٣" and "１" were silently accepted as 3 and 1.
    assert field_error(quantity, value, "num").startswith("num must be")


# ---- cents / yuan ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 29_900, MAX_CENTS])
def test_cents_accepts_whole_numbers_up_to_the_maximum(value: int) -> None:
    assert cents(value, "pay_amount") == value


@pytest.mark.parametrize(
    "value",
    [-1, MAX_CENTS + 1, 10**12, 99.5, 100.0, "100", True, None, [100]],
)
def test_cents_rejects_negative_absurd_and_non_integer_amounts(value: object) -> None:
    assert field_error(cents, value, "pay_amount").startswith("pay_amount must be")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("299.00", 29_900, id="two decimals"),
        pytest.param("0.5", 50, id="one decimal"),
        pytest.param("12", 1_200, id="whole yuan"),
        pytest.param("0.00", 0, id="free"),
        pytest.param("10000000.00", MAX_CENTS, id="maximum"),
    ],
)
def test_yuan_as_cents_converts_decimal_strings_exactly(value: str, expected: int) -> None:
    assert yuan_as_cents(value, "payment") == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("299.001", id="three decimals"),
        pytest.param("abc", id="not a number"),
        pytest.param("", id="empty"),
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("-1.00", id="negative"),
        pytest.param("10000000.01", id="absurd"),
        pytest.param(299, id="int"),
        pytest.param(2.99, id="float"),
        pytest.param(None, id="null"),
    ],
)
def test_yuan_as_cents_rejects_bad_amounts_naming_the_field(value: object) -> None:
    assert field_error(yuan_as_cents, value, "orders[0].payment").startswith("orders[0].payment ")


def test_yuan_as_cents_rejects_absurd_exponent_with_field_error() -> None:
    # Regression: Decimal("1e30").quantize(Decimal("0.01")) raises decimal.InvalidOperation
    # (an ArithmeticError, not a FieldError), which once crashed parse_message.
    assert field_error(yuan_as_cents, "1e30", "payment").startswith("payment ")


# ---- epoch_seconds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        pytest.param(1_731_326_400, "s", SINGLES_DAY, id="int seconds"),
        pytest.param(1_731_326_400.25, "s", SINGLES_DAY + 0.25, id="float seconds"),
        pytest.param(1_731_326_400_123, "ms", SINGLES_DAY + 0.123, id="int milliseconds"),
        pytest.param("2024-11-11 20:00:00", "s", SINGLES_DAY, id="naive text is china time"),
        pytest.param("2024-11-11T20:00:00+08:00", "s", SINGLES_DAY, id="iso with +08:00"),
        pytest.param("2024-11-11T12:00:00+00:00", "s", SINGLES_DAY, id="iso with +00:00"),
        pytest.param("2024-11-11T12:00:00Z", "s", SINGLES_DAY, id="iso with Z"),
        pytest.param("2024-11-11T07:00:00-05:00", "ms", SINGLES_DAY, id="text ignores unit"),
        pytest.param(EARLIEST, "s", EARLIEST, id="earliest"),
        pytest.param(LATEST, "s", LATEST, id="latest"),
    ],
)
def test_epoch_seconds_reads_numbers_in_their_unit_and_text_in_its_zone(
    value: object, unit: str, expected: float
) -> None:
    assert epoch_seconds(value, "placed_at", unit=unit) == pytest.approx(expected, abs=1e-6)


def test_china_time_is_eight_hours_ahead_of_utc() -> None:
    naive = epoch_seconds("2024-11-11 08:00:00", "created")

    assert naive == datetime(2024, 11, 11, tzinfo=UTC).timestamp()
    assert CHINA_TIME.utcoffset(None).total_seconds() == 8 * 3600


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        pytest.param(1_731_326_400_000, "s", id="milliseconds where seconds expected"),
        pytest.param(1_731_326_400, "ms", id="seconds where milliseconds expected"),
        pytest.param(EARLIEST - 1, "s", id="before 2015"),
        pytest.param(LATEST + 1, "s", id="after 2100"),
        pytest.param(0, "s", id="zero"),
        pytest.param(-1_731_326_400, "s", id="negative"),
        pytest.param("1999-12-31 23:59:59", "s", id="text before 2015"),
        pytest.param("2101-01-01T00:00:00+00:00", "s", id="text after 2100"),
        pytest.param(math.nan, "s", id="nan"),
        pytest.param(math.inf, "s", id="infinity"),
    ],
)
def test_epoch_seconds_rejects_times_outside_2015_to_2100(value: object, unit: str) -> None:
    message = field_error(epoch_seconds, value, "data.create_time", unit=unit)

    assert message.startswith("data.create_time is outside 2015..2100")
    assert f"unit {unit}" in message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="bool"),
        pytest.param(None, id="null"),
        pytest.param([1_731_326_400], id="list"),
        pytest.param({"t": 1}, id="dict"),
        pytest.param("yesterday", id="word"),
        pytest.param("2024-13-45 99:00:00", id="impossible date"),
        pytest.param("", id="empty"),
    ],
)
def test_epoch_seconds_rejects_values_that_are_not_times(value: object) -> None:
    assert field_error(epoch_seconds, value, "paid_at").startswith("paid_at ")


def test_epoch_seconds_rejects_integer_too_large_for_a_float_with_field_error() -> None:
    # Regression: float(10**400) raises OverflowError, not a FieldError; a JSON message
    # with such a number once crashed parse_message instead of being dead-lettered.
    assert field_error(epoch_seconds, 10**400, "placed_at").startswith("placed_at ")


# ---- json_object / item_list -------------------------------------------------------------------


def test_json_object_returns_a_mapping_unchanged() -> None:
    data = {"p_id": 1, "nested": {"a": [1, 2]}}

    assert json_object(data, "data") is data


@pytest.mark.parametrize("text", ['{"p_id": 1, "名": "值"}', '{"p_id": 1, "名": "值"}'.encode()])
def test_json_object_parses_json_text_given_as_str_or_bytes(text: str | bytes) -> None:
    assert json_object(text, "data") == {"p_id": 1, "名": "值"}


@pytest.mark.parametrize("text", ["{not json", "", "{'p_id': 1}", '{"a": 1'])
def test_json_object_rejects_invalid_json_text_naming_the_field(text: str) -> None:
    assert field_error(json_object, text, "content").startswith("content is not valid JSON")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("[1, 2]", "list"),
        ("42", "int"),
        ('"text"', "str"),
        ("null", "NoneType"),
        (42, "int"),
        (None, "NoneType"),
        ([{"p_id": 1}], "list"),
    ],
)
def test_json_object_rejects_anything_but_an_object(value: object, kind: str) -> None:
    assert field_error(json_object, value, "info") == f"info must be a JSON object, got {kind}"


def test_item_list_returns_a_list_of_objects() -> None:
    items = [{"sku": "A"}, {"sku": "B"}]

    assert item_list(items, "lines") is items


@pytest.mark.parametrize("value", [[], None, {"order": []}, "A,B", ({"sku": "A"},)])
def test_item_list_rejects_empty_or_non_list_values(value: object) -> None:
    assert field_error(item_list, value, "lines") == "lines must be a non-empty list"


def test_item_list_names_the_index_of_an_item_that_is_not_an_object() -> None:
    assert field_error(item_list, [{"sku": "A"}, "B"], "lines") == "lines[1] must be an object"


# ---- merge_lines ---------------------------------------------------------------------------------


def test_merge_lines_keeps_distinct_skus_in_order() -> None:
    assert merge_lines([("B", 1), ("A", 2)], "lines") == (("B", 1), ("A", 2))


def test_merge_lines_sums_duplicate_skus_in_first_seen_order() -> None:
    merged = merge_lines([("A", 1), ("B", 2), ("A", 3), ("C", 1), ("B", 4)], "lines")

    assert merged == (("A", 4), ("B", 6), ("C", 1))


def test_merge_lines_accepts_a_merged_total_of_exactly_the_maximum() -> None:
    merged = merge_lines([("A", MAX_LINE_QUANTITY - 1), ("A", 1)], "lines")

    assert merged == (("A", MAX_LINE_QUANTITY),)


def test_merge_lines_rejects_a_merged_total_over_the_maximum_naming_the_sku() -> None:
    message = field_error(merge_lines, [("A", 60_000), ("B", 1), ("A", 40_001)], "data.sku_order_list")

    assert message.startswith("data.sku_order_list: 100001 units of A")
    assert str(MAX_LINE_QUANTITY) in message
