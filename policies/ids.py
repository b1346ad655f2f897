"""Which characters an id may hold: SKUs, order ids, channels, buyers, transfers,
adjustments. One rule for the platform adapters, the ledger's operations and the HTTP
API (which adds its own stricter edges: no surrounding space, not only dots)."""

from __future__ import annotations

import re

#: characters no id may hold: controls (C0, DEL, C1), the no-break and other spaces but
#: the ASCII one, format characters (soft hyphen, zero-width and direction marks, BOM,
#: ...), private use, and U+FFFD (what a broken decoding leaves behind). A regex class
#: that Python and JSON Schema (ECMA-262) read alike, so a published schema can state it.
NOT_IN_IDS = (
    r"\x00-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ue000-\uf8ff\ufeff"
    r"\ufff9-\ufffb\ufffd"
)
#: lone surrogates (a JSON ``"\ud800"`` escape) are refused too; UTF-8 cannot carry them,
#: so a published pattern may leave them out
_SURROGATES = r"\ud800-\udfff"
_BAD_CHARACTER = re.compile(f"[{NOT_IN_IDS}{_SURROGATES}]")


def bad_id_character(value: str) -> str | None:
    """The first character of ``value`` that no id may hold, or None."""
    if value.isascii() and value.isprintable():  # the common id: no control, no space but " "
        return None
    found = _BAD_CHARACTER.search(value)
    return None if found is None else found.group()
