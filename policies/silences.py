"""Silences: who is told, never what is true.

A silence mutes the notifications of the alerts its matchers select, until it ends; the
alerts themselves keep their state (pending, firing, resolved) and their acknowledgement,
stay in the open list and in the history, and their notifications are marked
``silenced`` rather than dropped (modelled on Prometheus Alertmanager's silences).

Matchers: ``sku`` is a pattern where ``*`` matches any run of characters and ``?`` one
character (``LIVE-*`` mutes every live-room SKU, ``*`` every SKU; no other character is
special, so a SKU id is its own exact pattern); ``level`` and ``channel`` are a value or
``*`` for any. Alerts without a channel (every level but ``CHANNEL_STALLED``) are matched
by ``channel='*'`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple, Protocol

from policies.alert_lifecycle import Notification

#: the matcher value that matches anything
ANY = "*"


class Labelled(Protocol):
    """What a silence matches on: an alert's labels."""

    @property
    def sku(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def channel(self) -> str: ...


class Silence(NamedTuple):
    """Mute notifications of alerts whose SKU matches the pattern ``sku``, of ``level``
    and of ``channel`` (each ``*`` for any) until ``until_wall`` (epoch seconds); created
    by someone at ``created_wall``, for a reason."""

    id: str
    sku: str
    level: str
    until_wall: float
    created_by: str
    comment: str = ""
    channel: str = ANY
    created_wall: float | None = None

    def is_active(self, now_wall: float) -> bool:
        """Whether the silence still mutes at ``now_wall`` (epoch seconds)."""
        return now_wall < self.until_wall

    def matches(self, alert: Labelled, now_wall: float) -> bool:
        """Whether the silence mutes ``alert`` at ``now_wall``: active, and every matcher
        selects the alert's label."""
        return (
            self.is_active(now_wall)
            and sku_pattern(self.sku).fullmatch(alert.sku) is not None
            and self.level in (ANY, alert.level)
            and self.channel in (ANY, alert.channel)
        )


@lru_cache(maxsize=1024)
def sku_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a SKU pattern: ``*`` any run of characters, ``?`` one
    character, everything else itself.

    Each run between two stars is taken at its first place and never tried again (an
    atomic group, as ``fnmatch`` does): a run of fixed length matched leftmost leaves the
    most room for the rest, so nothing is lost, and matching stays polynomial. Plain
    ``.*`` per star backtracks exponentially: ``*a*a*a*a*a*a*a*a*a*a*b`` against 40 ``a``
    took 34 s, in the forecaster, for every notification."""
    first, *rest = pattern.split("*")
    if not rest:
        return re.compile(_fixed(first), re.DOTALL)
    *middle, last = rest
    runs = "".join(f"(?>.*?{_fixed(run)})" for run in middle)
    return re.compile(f"{_fixed(first)}{runs}.*{_fixed(last)}", re.DOTALL)


def _fixed(run: str) -> str:
    """The regular expression of a pattern run without stars: ``?`` one character."""
    return "".join("." if c == "?" else re.escape(c) for c in run)


def active_silences(silences: Iterable[Silence], now_wall: float) -> list[Silence]:
    """The silences still muting at ``now_wall``, ending soonest first."""
    return sorted((s for s in silences if s.is_active(now_wall)), key=lambda s: (s.until_wall, s.id))


def apply_silences(
    notes: Iterable[Notification], silences: Iterable[Silence], now_wall: float
) -> list[Notification]:
    """The notifications, each marked ``silenced`` when an active silence matches its
    alert (a notification is never dropped here: the caller decides who hears it)."""
    active = active_silences(silences, now_wall)
    return [n._replace(silenced=any(s.matches(n.alert, now_wall) for s in active)) for n in notes]
