"""Per-SKU figures of a replay: what an operator would have been told, and when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from policies.alert_rules import Level
from scripts.replay.engine import Event, Outcome

#: kinds that bring an alert to a level
LEVEL_KINDS = ("firing", "escalated", "deescalated")


class SkuSummary(NamedTuple):
    """Minutes from the start of the replay; ``lead_minutes``: from the first
    notification to the stock-out; ``flaps``: fired again within 15 min of resolving."""

    sku: str
    first_trend: float | None
    first_threshold: float | None
    first_emergency: float | None
    sold_out: float | None
    lead_minutes: float | None
    notifications: int
    flaps: int


def first_at_level(events: Sequence[Event]) -> dict[str, float]:
    """The event time each level was first reached."""
    first: dict[str, float] = {}
    for e in events:
        if e.kind in LEVEL_KINDS:
            first.setdefault(e.level, e.at)
    return first


def count_flaps(events: Sequence[Event], within: float = 900.0) -> int:
    """Times an alert fired again within ``within`` seconds of resolving (one SKU's events)."""
    resolved_at = None
    flaps = 0
    for e in events:
        if e.kind == "resolved":
            resolved_at = e.at
        elif e.kind == "firing" and resolved_at is not None and e.at - resolved_at < within:
            flaps += 1
    return flaps


def summarise_skus(outcome: Outcome, start: float) -> list[SkuSummary]:
    """One row per SKU that was told something or sold out."""
    skus = sorted({e.sku for e in outcome.events if e.sku != "*"} | set(outcome.sold_out_at))
    rows = []
    for sku in skus:
        events = [e for e in outcome.events if e.sku == sku]
        first = first_at_level(events)
        sold = outcome.sold_out_at.get(sku)
        told = [e.at for e in events if e.kind != "resolved"]
        lead = (sold - told[0]) / 60 if sold is not None and told and told[0] <= sold else None
        rows.append(
            SkuSummary(
                sku,
                _minute(first.get(Level.TREND), start),
                _minute(first.get(Level.THRESHOLD), start),
                _minute(first.get(Level.EMERGENCY), start),
                _minute(sold, start),
                None if lead is None else round(lead, 1),
                len(events),
                count_flaps(events),
            )
        )
    return rows


def _minute(at: float | None, start: float) -> float | None:
    return None if at is None else round((at - start) / 60, 1)
