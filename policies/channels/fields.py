"""Reading fields out of platform payloads, with errors that name the field.

Platforms disagree on types: ids are numbers or strings, quantities are sometimes
strings, money is in cents (integers) or in yuan (decimal strings), times are epoch
seconds, epoch milliseconds or "YYYY-MM-DD HH:MM:SS" in China Standard Time. These
helpers accept each platform's documented forms and nothing looser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from policies.channels.model import OrderLine
from policies.ids import bad_id_character
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY

#: China Standard Time, the zone of platform timestamps written as text
CHINA_TIME = timezone(timedelta(hours=8))
#: Plausible event times: 2015-01-01 .. 2100-01-01 UTC (catches ms-vs-s mix-ups)
EARLIEST, LATEST = 1_420_070_400.0, 4_102_444_800.0
#: The most a line may cost, in cents (10 million yuan): anything above is garbage
MAX_CENTS = 1_000_000_000


class FieldError(ValueError):
    """A required field is missing or malformed; the message names it."""


def json_object(value: object, name: str) -> Mapping[str, Any]:
    """A JSON object given as a mapping or as a JSON text (platforms nest payloads as
    strings)."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise FieldError(f"{name} is not valid JSON: {error}") from None
        except RecursionError:  # it escaped the parser and wedged the channel's inbox
            raise FieldError(f"{name} is JSON nested too deeply") from None
    if not isinstance(value, Mapping):
        raise FieldError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def required(obj: Mapping[str, Any], key: str, name: str) -> Any:
    if key not in obj or obj[key] is None:
        raise FieldError(f"{name}.{key} is missing")
    return obj[key]


def first_present(obj: Mapping[str, Any], keys: tuple[str, ...], name: str) -> Any:
    for key in keys:
        if obj.get(key) not in (None, ""):
            return obj[key]
    raise FieldError(f"{name} has none of {', '.join(keys)}")


def ident(value: object, name: str) -> str:
    """An id: a non-empty printable string, or a non-negative integer (as text)."""
    if isinstance(value, bool):
        raise FieldError(f"{name} must be a string or integer id, got bool")
    if isinstance(value, int):
        if value < 0:
            raise FieldError(f"{name} must not be negative, got {value}")
        if value >= 10**MAX_ID_LENGTH:
            raise FieldError(f"{name} has more than {MAX_ID_LENGTH} digits")
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"{name} must be a non-empty string or integer id")
    if len(value) > MAX_ID_LENGTH or bad_id_character(value) is not None:
        raise FieldError(f"{name} must be printable and at most {MAX_ID_LENGTH} characters")
    return value.strip()


def quantity(value: object, name: str) -> int:
    """Units on a line: a whole number 1..MAX_LINE_QUANTITY (digits in a string allowed)."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise FieldError(f"{name} must be a whole number, got {value[:20]!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{name} must be a whole number, got {type(value).__name__}")
    if not 1 <= value <= MAX_LINE_QUANTITY:
        raise FieldError(f"{name} must be between 1 and {MAX_LINE_QUANTITY}, got {value}")
    return value


def cents(value: object, name: str) -> int:
    """An amount in cents (分): a whole number 0..MAX_CENTS."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"{name} must be a whole number of cents, got {type(value).__name__}")
    if not 0 <= value <= MAX_CENTS:
        raise FieldError(f"{name} must be between 0 and {MAX_CENTS} cents, got {value}")
    return value


def yuan_as_cents(value: object, name: str) -> int:
    """An amount in yuan written as a decimal string ("299.00"), returned in cents."""
    if not isinstance(value, str):
        raise FieldError(f"{name} must be a decimal string in yuan, got {type(value).__name__}")
    try:
        amount = Decimal(value)
        if not amount.is_finite() or abs(amount) > MAX_CENTS:
            raise FieldError(f"{name} must be between 0 and {MAX_CENTS // 100} yuan, got {value[:30]!r}")
        if amount != amount.quantize(Decimal("0.01")):
            raise FieldError(f"{name} must have at most 2 decimals, got {value!r}")
    except InvalidOperation:
        raise FieldError(f"{name} is not a decimal amount: {value[:30]!r}") from None
    return cents(int(amount * 100), name)


def epoch_seconds(value: object, name: str, *, unit: str = "s") -> float:
    """An event time as epoch seconds. Numbers are in ``unit`` ("s" or "ms"); text is
    ISO-8601 (naive text is China Standard Time) or "YYYY-MM-DD HH:MM:SS"."""
    if isinstance(value, bool):
        raise FieldError(f"{name} must be a time, got bool")
    if isinstance(value, int | float):
        if abs(value) > 1e15:  # far beyond 2100 in milliseconds; also keeps float() safe
            raise FieldError(f"{name} is outside 2015..2100 (unit {unit}): {value!r}")
        seconds = float(value) / (1000.0 if unit == "ms" else 1.0)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(f"{name} is not a time: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CHINA_TIME)
        seconds = parsed.timestamp()
    else:
        raise FieldError(f"{name} must be a number or a time string, got {type(value).__name__}")
    if not math.isfinite(seconds) or not EARLIEST <= seconds <= LATEST:
        raise FieldError(f"{name} is outside 2015..2100 (unit {unit}): {value!r}")
    return seconds


def item_list(value: object, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise FieldError(f"{name} must be a non-empty list")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise FieldError(f"{name}[{index}] must be an object")
    return value


def merge_lines(lines: list[tuple[str, int]], name: str) -> tuple[tuple[str, int], ...]:
    """Lines of one order with the same SKU merged (a line is keyed by channel, order and
    SKU, so an order holds each SKU once), in first-seen order."""
    merged: dict[str, int] = {}
    for sku, units in lines:
        merged[sku] = merged.get(sku, 0) + units
    for sku, units in merged.items():
        if units > MAX_LINE_QUANTITY:
            raise FieldError(f"{name}: {units} units of {sku} in one order exceed {MAX_LINE_QUANTITY}")
    return tuple(merged.items())


def read_lines(
    items: list[Mapping[str, Any]],
    name: str,
    sku_keys: tuple[str, ...],
    quantity_key: str,
    amount_key: str | None = None,
    amount: Callable[[object, str], int] = cents,
) -> tuple[OrderLine, ...]:
    """The order lines of a platform's item list: the SKU code is the first present of
    ``sku_keys``, the units under ``quantity_key``; an amount under ``amount_key``, when
    present, must be valid. Lines of the same SKU are merged (``merge_lines``)."""
    lines = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        sku = ident(first_present(item, sku_keys, where), f"{where}.{sku_keys[0]}")
        units = quantity(required(item, quantity_key, where), f"{where}.{quantity_key}")
        if amount_key is not None and amount_key in item:
            amount(item[amount_key], f"{where}.{amount_key}")
        lines.append((sku, units))
    return tuple(OrderLine(sku, units) for sku, units in merge_lines(lines, name))
