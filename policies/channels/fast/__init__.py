"""Typed fast decoders of the platform formats, with the reference parsers as fallback.

``parse_fast(channel, fmt, raw)`` decodes a message given as bytes or text with msgspec
into typed shapes (``shapes``) and builds the same internal message the reference parser
of ``fmt`` would (``platforms``). It returns ``None`` for anything it does not fully
handle: a message that fails decoding or a field check, an odd shape, a format it does
not know. ``policies.channels.parse_message`` then asks the reference parser, so errors
(``Unreadable`` and the field its reason names) are always the reference's own.
"""

from __future__ import annotations

from collections.abc import Callable

from policies.channels.fast import platforms
from policies.channels.model import ChannelMessage

__all__ = ["FAST_FORMATS", "FastParser", "parse_fast"]

FastParser = Callable[[str, bytes | str], ChannelMessage | None]

#: the formats with a fast decoder, by name (as ``policies.channels.FORMATS``)
FAST_FORMATS: dict[str, FastParser] = {
    "douyin": platforms.douyin,
    "taobao": platforms.taobao,
    "kuaishou": platforms.kuaishou,
    "generic": platforms.generic,
}


def parse_fast(channel: str, fmt: str, raw: bytes | str) -> ChannelMessage | None:
    """The parsed message, or ``None`` when the reference parser must decide."""
    parse = FAST_FORMATS.get(fmt)
    if parse is None:
        return None
    try:
        return parse(channel, raw)
    except Exception:  # any failure of the fast path is the reference parser's to judge
        return None
