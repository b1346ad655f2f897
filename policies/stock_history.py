"""A SKU's show so far, minute by minute: what the operators' chart draws.

The ledger stream records a SKU's counters after every committed batch; this folds those
snapshots into one point per minute of wall-clock time (the counters at the end of the
minute, carried forward through quiet minutes) and the units ordered in each minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

#: the width of one point, in seconds
MINUTE = 60.0


class CounterSnapshot(NamedTuple):
    """A SKU's counters (units) after a batch committed at ``at`` (epoch seconds)."""

    at: float
    on_hand: int
    reserved: int
    sold: int


class MinutePoint(NamedTuple):
    """The counters at the end of the minute starting at ``minute`` (epoch seconds), and
    ``ordered``: units reserved or sold during that minute (net of reservations released,
    never below zero: units per minute)."""

    minute: float
    on_hand: int
    reserved: int
    sold: int
    available: int
    ordered: int


def minute_start(at: float) -> float:
    """The start of the minute holding ``at`` (epoch seconds)."""
    return (at // MINUTE) * MINUTE


def minute_series(
    snapshots: Sequence[CounterSnapshot], start: float, end: float, baseline: CounterSnapshot | None = None
) -> list[MinutePoint]:
    """One point per minute from the first minute with a snapshot (at or after
    ``start``) to the minute holding ``end`` (epoch seconds). ``snapshots`` are in time
    order; ``baseline``, the SKU's last snapshot before ``start`` if known, gives the
    first minute's orders a starting count (without it they count from the first
    snapshot). Empty when no snapshot falls in the window."""
    inside = [s for s in snapshots if start <= s.at <= end]
    if not inside:
        return []
    last_of_minute: dict[float, CounterSnapshot] = {}
    for snapshot in inside:
        last_of_minute[minute_start(snapshot.at)] = snapshot
    previous = baseline or inside[0]
    points: list[MinutePoint] = []
    minute, final = minute_start(inside[0].at), minute_start(end)
    while minute <= final:
        current = last_of_minute.get(minute, previous)
        taken = (current.reserved + current.sold) - (previous.reserved + previous.sold)
        points.append(
            MinutePoint(
                minute,
                current.on_hand,
                current.reserved,
                current.sold,
                current.on_hand - current.reserved - current.sold,
                max(0, taken),
            )
        )
        previous, minute = current, minute + MINUTE
    return points
