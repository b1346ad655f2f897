"""The reference's value checks (``policies.channels.fields``) with a quick path for the
values a sale sends nearly always: a plain ASCII id, an epoch time in range.

Each function returns exactly what its ``fields`` helper returns. The quick path only
answers a value it can see is valid with the same result; any other value goes to the
``fields`` helper itself, which returns it or raises, so what counts as valid (and every
error) stays the reference's alone.
"""

from __future__ import annotations

from functools import lru_cache

from policies.channels import fields as f
from policies.ledger import MAX_ID_LENGTH

#: the field name only labels errors, and errors go to the reference parser
FIELD = "field"
#: integer ids have at most MAX_ID_LENGTH digits (``fields.ident``)
_ID_LIMIT = 10**MAX_ID_LENGTH
#: numbers beyond this are refused before any division (``fields.epoch_seconds``)
_NUMBER_LIMIT = 1e15


def ident(value: object) -> str:
    """``fields.ident``: printable ASCII text with no space at either end is the id as
    it is (nothing to strip, no character to refuse); an integer in range is its digits."""
    if type(value) is str:
        if (
            0 < len(value) <= MAX_ID_LENGTH
            and value.isascii()
            and value.isprintable()
            and value[0] != " "
            and value[-1] != " "
        ):
            return value
    elif type(value) is int and 0 <= value < _ID_LIMIT:
        return str(value)
    return f.ident(value, FIELD)


def epoch_seconds(value: object, unit: str = "s") -> float:
    """``fields.epoch_seconds``: a number (in ``unit``, "s" or "ms") whose seconds fall in
    2015..2100 is those seconds, computed as the reference computes them; time text is
    parsed once per distinct text (a sale's orders share their few seconds)."""
    if type(value) is int or type(value) is float:
        if -_NUMBER_LIMIT <= value <= _NUMBER_LIMIT:
            seconds = float(value) / (1000.0 if unit == "ms" else 1.0)
            if f.EARLIEST <= seconds <= f.LATEST:
                return seconds
    elif type(value) is str:
        return _text_seconds(value, unit)
    return f.epoch_seconds(value, FIELD, unit=unit)


@lru_cache(maxsize=4096)
def _text_seconds(value: str, unit: str) -> float:
    return f.epoch_seconds(value, FIELD, unit=unit)


@lru_cache(maxsize=4096)
def yuan_as_cents(value: str) -> int:
    """``fields.yuan_as_cents``, checked once per distinct text: a sale's lines share
    their few prices."""
    return f.yuan_as_cents(value, FIELD)


def quantity(value: int | str) -> int:
    """Units of a line: the shapes already range-checked an integer; digits in text go to
    ``fields.quantity``."""
    return value if type(value) is int else f.quantity(value, FIELD)
