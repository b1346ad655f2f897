"""Channel adapters: each platform's order messages into flashstock's internal shapes.

``parse_message(channel, fmt, raw)`` never raises for bad input: it returns the parsed
message or ``Unreadable`` with a reason that names the field. Unknown fields are ignored.
``parse_messages(channel, fmt, raws)`` does the same for a batch, looking the format up once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from policies.channels.douyin import parse_douyin
from policies.channels.fast import FAST_FORMATS, FastParser
from policies.channels.fields import FieldError
from policies.channels.generic import parse_generic
from policies.channels.kuaishou import parse_kuaishou
from policies.channels.model import (
    Cancellation,
    ChannelMessage,
    Ignored,
    OrderLine,
    Payment,
    PlatformOrder,
    Unreadable,
)
from policies.channels.taobao import parse_taobao

__all__ = [
    "FORMATS",
    "Cancellation",
    "ChannelMessage",
    "Ignored",
    "OrderLine",
    "Payment",
    "PlatformOrder",
    "Unreadable",
    "message_text",
    "parse_message",
    "parse_messages",
]

Parser = Callable[[str, Mapping[str, Any]], ChannelMessage]

#: payload formats by name; a channel is configured with one of them
FORMATS: dict[str, Parser] = {
    "douyin": parse_douyin,
    "taobao": parse_taobao,
    "kuaishou": parse_kuaishou,
    "generic": parse_generic,
}
#: the most bytes one platform message may have
MAX_MESSAGE_BYTES = 256 * 1024


def parse_message(
    channel: str, fmt: str, raw: bytes | str | Mapping[str, Any]
) -> ChannelMessage | Unreadable:
    """Parse one platform message of format ``fmt`` received on ``channel``: the typed
    fast decoder (``policies.channels.fast``) when it fully handles the message, else
    ``reference_parse_message``, which it always equals (tests/unit/test_fast_decoders.py)."""
    return _parsed(channel, fmt, FAST_FORMATS.get(fmt), raw)


def parse_messages(
    channel: str, fmt: str, raws: Iterable[bytes | str | Mapping[str, Any]]
) -> list[ChannelMessage | Unreadable]:
    """``parse_message`` of each of ``raws`` (a batch of one channel), in their order."""
    fast = FAST_FORMATS.get(fmt)
    return [_parsed(channel, fmt, fast, raw) for raw in raws]


def _parsed(
    channel: str, fmt: str, fast: FastParser | None, raw: bytes | str | Mapping[str, Any]
) -> ChannelMessage | Unreadable:
    """``raw`` parsed by ``fast`` (the format's fast decoder) when it fully handles it,
    else by the reference parser (``policies.channels.fast.parse_fast``)."""
    if fast is not None and isinstance(raw, bytes | str) and _utf8_length(raw) <= MAX_MESSAGE_BYTES:
        try:
            parsed = fast(channel, raw)
        except Exception:  # any failure of the fast path is the reference parser's to judge
            parsed = None
        if parsed is not None:
            return parsed
    return reference_parse_message(channel, fmt, raw)


def reference_parse_message(
    channel: str, fmt: str, raw: bytes | str | Mapping[str, Any]
) -> ChannelMessage | Unreadable:
    """Parse one platform message of format ``fmt`` received on ``channel`` with the
    reference parsers (``FORMATS``): the definition of every format's result."""
    text = _decoded(raw)
    if text is not None and _utf8_length(raw) > MAX_MESSAGE_BYTES:
        return Unreadable(channel, f"message longer than {MAX_MESSAGE_BYTES} bytes", text[:1000])
    parser = FORMATS.get(fmt)
    if parser is None:
        return Unreadable(channel, f"unknown format {fmt!r}", message_text(raw))
    try:
        message = raw if isinstance(raw, Mapping) else json.loads(text or "")
    except ValueError as error:
        return Unreadable(channel, f"not valid JSON: {error}", message_text(raw))
    except RecursionError:
        return Unreadable(channel, "JSON nested too deeply", message_text(raw))
    if not isinstance(message, Mapping):
        return Unreadable(channel, "message must be a JSON object", message_text(raw))
    try:
        return parser(channel, message)
    except FieldError as error:
        return Unreadable(channel, str(error), message_text(raw), _guess_order_id(message))


def _utf8_length(raw: bytes | str | Mapping[str, Any]) -> int:
    if isinstance(raw, bytes):
        return len(raw)
    if isinstance(raw, str):  # a character takes 1 to 4 bytes: encode only when it matters
        return len(raw) if len(raw) * 4 <= MAX_MESSAGE_BYTES else len(raw.encode("utf-8"))
    return 0


def _decoded(raw: bytes | str | Mapping[str, Any]) -> str | None:
    """The text of a message that came as text (bad UTF-8 replaced), None for an object."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else None


def message_text(raw: bytes | str | Mapping[str, Any]) -> str:
    """A message as the text its dead letter keeps: as it came, or a decoded object as
    JSON (its ``repr`` when it has no JSON form)."""
    text = _decoded(raw)
    if text is not None:
        return text
    try:
        return json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(raw)


def _guess_order_id(message: Mapping[str, Any]) -> str:
    """The order id, when it can be seen, so a dead letter can be traced to an order."""
    for key in ("order_id", "p_id", "tid", "oid"):
        if isinstance(message.get(key), str | int):
            return str(message[key])
    for nested in ("data", "content", "info"):
        inner = message.get(nested)
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except (ValueError, RecursionError):
                continue
        if isinstance(inner, Mapping):
            found = _guess_order_id(inner)
            if found:
                return found
    return ""
