"""How a channel sells: before or after flashstock decides.

- ``platform-first``: the platform sells against its own counter, then tells flashstock
  (Douyin, Taobao, Kuaishou). A refusal here means a buyer already paid the platform for a
  unit the pool cannot cover: an oversell, counted (``flashstock_oversold_total``) and
  compensated by a cancellation request to the platform, recorded.
- ``reserve-first``: the platform asks flashstock before it sells (the mini-program, the
  generic API). A refusal is a normal sold-out: no oversell, nothing to cancel.

A deployment declares each channel's mode; a channel it does not name takes the default
of its payload format (``generic`` -> reserve-first, a platform's own format ->
platform-first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

PLATFORM_FIRST: Final = "platform-first"
RESERVE_FIRST: Final = "reserve-first"
MODES = (PLATFORM_FIRST, RESERVE_FIRST)
#: the payload formats whose senders ask before selling
_ASKING_FORMATS = frozenset({"generic"})


def default_mode(fmt: str) -> str:
    """The mode of a channel whose deployment does not declare one, from its payload
    format: ``generic`` senders ask first, platforms' own formats sell first."""
    return RESERVE_FIRST if fmt in _ASKING_FORMATS else PLATFORM_FIRST


def invalid_mode(value: object) -> str | None:
    """Why ``value`` is not a channel mode, or None."""
    if value in MODES:
        return None
    return f"channel mode must be one of {', '.join(MODES)}, got {value!r}"


def channel_modes(formats: Mapping[str, str], declared: Mapping[str, str]) -> dict[str, str]:
    """Every channel's mode: the ``declared`` one (channel -> mode), else the default of
    its format (``formats``: channel -> payload format). A declared channel that is not
    configured, or an unknown mode, raises ``ValueError`` naming it (a deployment error,
    found at start)."""
    unknown = sorted(set(declared) - set(formats))
    if unknown:
        raise ValueError(f"channel modes name channels that are not configured: {', '.join(unknown)}")
    for channel, mode in declared.items():
        problem = invalid_mode(mode)
        if problem:
            raise ValueError(f"{channel}: {problem}")
    return {channel: declared.get(channel, default_mode(fmt)) for channel, fmt in formats.items()}


def asks_first(mode: str) -> bool:
    """True when a channel of ``mode`` asks flashstock before it sells."""
    return mode == RESERVE_FIRST
