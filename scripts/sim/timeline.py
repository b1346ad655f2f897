"""The show's timeline as data: per SKU, stock and sales rates over show time, and the
markers a reader looks for (alerts, restocks and transfers, demand changes, cancel
waves, the stock-out). ``report.png`` and ``report.html`` both draw this, and
``report.json`` keeps it, so a chart can be checked against what it was drawn from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scripts.sim.driver import FIRING_KINDS, ShowLog
from scripts.sim.scenario import Scenario

#: the short-window rate's window, show minutes: a hundred-and-twentieth of the show,
#: at least a step and at most a minute (the forecaster's velocity is over 5 minutes)
MAX_RATE_WINDOW_MINUTES = 1.0
RATE_WINDOWS_PER_SHOW = 120
#: a demand change smaller than this share of the rate before it is not marked
DEMAND_CHANGE_SHARE = 0.25

LEVEL_COLOURS = {
    "TREND": "#f08c00",
    "THRESHOLD": "#e8590c",
    "EMERGENCY": "#c92a2a",
    "CHANNEL_STALLED": "#6741d9",
}
MARKER_COLOURS = {
    "restock": "#5c3d2e",
    "arrival": "#0c8599",
    "demand": "#862e9c",
    "cancel_wave": "#868e96",
    "stockout": "#212529",
}


def rate_window_minutes(duration_minutes: float, step_minutes: float) -> float:
    """The short-window rate's window for a show: ``duration / 120`` show minutes, at least
    one step, at most ``MAX_RATE_WINDOW_MINUTES``, in whole steps."""
    wanted = min(MAX_RATE_WINDOW_MINUTES, duration_minutes / RATE_WINDOWS_PER_SHOW)
    return max(1, round(wanted / step_minutes)) * step_minutes


def short_window_rate(units: Sequence[int], steps_per_window: int, window_minutes: float) -> list[float]:
    """Units per show minute over the last ``steps_per_window`` steps, at each step."""
    rates, total = [], 0
    for k, unit in enumerate(units):
        total += unit
        if k >= steps_per_window:
            total -= units[k - steps_per_window]
        rates.append(round(total / window_minutes, 2))
    return rates


def demand_changes(scenario: Scenario) -> list[dict[str, Any]]:
    """Where a SKU's planned demand (orders per minute) changes by more than
    ``DEMAND_CHANGE_SHARE``: the minute, the rate before and the highest rate until the
    next change of plan (a ramp is marked at its start with the rate it ramps to)."""
    changes = []
    for sku in sorted({d.sku for d in scenario.demand}):
        segments = [d for d in scenario.demand if d.sku == sku]
        bounds = sorted({m for d in segments for m in (d.start, d.end) if 0 < m < scenario.duration_minutes})
        for n, minute in enumerate(bounds):
            until = bounds[n + 1] if n + 1 < len(bounds) else scenario.duration_minutes
            before = sum(d.rate(minute - 1e-9) for d in segments)
            after = max(
                sum(d.rate(m) for d in segments) for m in (minute, until - 1e-9, (minute + until) / 2)
            )
            if abs(after - before) > DEMAND_CHANGE_SHARE * max(before, 1e-9):
                changes.append(
                    {
                        "minute": round(minute, 3),
                        "sku": sku,
                        "before": round(before, 2),
                        "after": round(after, 2),
                    }
                )
    return changes


def _rate_text(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:g}"


def markers(scenario: Scenario, log: ShowLog, stockouts: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Every marker of the show, in show-time order: ``minute``, ``sku``, ``kind``
    (alert, restock, arrival, demand, cancel_wave, stockout), ``label`` and ``colour``
    (and ``level`` for an alert)."""
    found: list[dict[str, Any]] = []

    def add(minute: float, sku: str, kind: str, label: str, colour: str, **more: Any) -> None:
        found.append(
            {"minute": round(minute, 3), "sku": sku, "kind": kind, "label": label, "colour": colour} | more
        )

    for alert in log.alerts:
        if alert["kind"] in FIRING_KINDS:
            level = alert["level"]
            add(
                alert["minute"],
                alert["sku"],
                "alert",
                level,
                LEVEL_COLOURS.get(level, "#495057"),
                level=level,
            )
    for action in log.actions:
        why = str(action["why"])
        response = why.startswith("response to ")
        label = f"+{action['quantity']} " + ("transfer" if response else "restock")
        if response:
            label += f" ({why.removeprefix('response to ').split(' on ')[0]})"
        add(action["minute"], action["sku"], "restock", label, MARKER_COLOURS["restock"])
        if action["arrives_minute"] > action["minute"]:
            add(
                action["arrives_minute"],
                action["sku"],
                "arrival",
                f"+{action['quantity']} arrive",
                MARKER_COLOURS["arrival"],
            )
    for change in demand_changes(scenario):
        label = f"demand {_rate_text(change['before'])}\u2192{_rate_text(change['after'])}/min"
        add(change["minute"], change["sku"], "demand", label, MARKER_COLOURS["demand"])
    for wave in scenario.cancels:
        for each in scenario.skus:
            add(
                wave.minute,
                each.sku,
                "cancel_wave",
                f"{wave.ratio:.0%} cancel",
                MARKER_COLOURS["cancel_wave"],
            )
    for sku, minute in stockouts.items():
        if minute is not None:
            add(minute, sku, "stockout", "sold out", MARKER_COLOURS["stockout"])
    found.sort(key=lambda m: (m["minute"], m["sku"], m["kind"]))
    return found


def sku_order(scenario: Scenario, found: Sequence[dict[str, Any]]) -> list[str]:
    """The SKUs, the interesting ones first (alerted or sold out, by their first such
    moment), then the quiet ones in the scenario's order."""
    first: dict[str, float] = {}
    for marker in found:
        if marker["kind"] in ("alert", "stockout"):
            first.setdefault(marker["sku"], marker["minute"])
    quiet = [s.sku for s in scenario.skus if s.sku not in first]
    return sorted(first, key=lambda sku: (first[sku], sku)) + quiet


def build_timeline(
    scenario: Scenario, log: ShowLog, step_seconds: float, stockouts: Mapping[str, float | None]
) -> dict[str, Any]:
    """The timeline ``report.png`` and ``report.html`` draw: ``skus`` (interesting first),
    each with ``minutes``, ``available`` (units), ``rate`` (units/min over the short
    window) and ``velocity`` (the forecaster's 5-minute units/min), starting at minute 0
    with the opening stock; and ``markers``."""
    step_minutes = step_seconds / 60.0
    window = rate_window_minutes(scenario.duration_minutes, step_minutes)
    steps_per_window = max(1, round(window / step_minutes))
    found = markers(scenario, log, stockouts)
    settings = {s.sku: s for s in scenario.skus}
    skus = []
    for sku in sku_order(scenario, found):
        points = log.series.get(sku, [])
        units = log.step_units.get(sku, [0] * len(points))
        skus.append(
            {
                "sku": sku,
                "name": settings[sku].name,
                "interesting": any(m["sku"] == sku and m["kind"] in ("alert", "stockout") for m in found),
                "minutes": [0.0] + [p[0] for p in points],
                "available": [settings[sku].on_hand] + [p[1] for p in points],
                "rate": [0.0, *short_window_rate(units, steps_per_window, window)],
                "velocity": [0.0] + [round(p[2], 2) for p in points],
            }
        )
    return {
        "scenario": scenario.name,
        "duration_minutes": scenario.duration_minutes,
        "step_seconds": step_seconds,
        "rate_window_minutes": round(window, 4),
        "skus": skus,
        "markers": found,
    }
