"""The /metrics page in Prometheus text format."""

from __future__ import annotations

from collections import Counter
from typing import Any


def _line(name: str, value: float, **labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}" if inner else f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(metrics: dict[str, Any], oversold: dict[str, dict[str, int]]) -> str:
    out = [
        "# HELP flashstock_commits_total Group commits made durable, per SKU owner.",
        "# TYPE flashstock_commits_total counter",
    ]
    for index, stats in enumerate(metrics["owners"]):
        out.append(_line("flashstock_commits_total", stats["commits"], owner=str(index)))
    out += [
        "# HELP flashstock_commit_latency_ms Send-to-durable latency of recent commits.",
        "# TYPE flashstock_commit_latency_ms summary",
    ]
    for index, stats in enumerate(metrics["owners"]):
        out.append(
            _line(
                "flashstock_commit_latency_ms",
                round(stats["commit_ms_p50"], 3),
                owner=str(index),
                quantile="0.5",
            )
        )
        out.append(
            _line(
                "flashstock_commit_latency_ms",
                round(stats["commit_ms_p99"], 3),
                owner=str(index),
                quantile="0.99",
            )
        )
    out += [
        "# HELP flashstock_ingest_total Messages by outcome, per channel.",
        "# TYPE flashstock_ingest_total counter",
    ]
    for channel, counts in metrics["ingest"].items():
        for outcome, value in sorted(counts.items()):
            key = outcome.decode() if isinstance(outcome, bytes) else outcome
            out.append(_line("flashstock_ingest_total", int(value), channel=channel, outcome=key))
    out += [
        "# HELP flashstock_ingest_inbox_length Entries in a channel's inbox stream.",
        "# TYPE flashstock_ingest_inbox_length gauge",
    ]
    for channel, length in metrics["inbox_length"].items():
        out.append(_line("flashstock_ingest_inbox_length", length, channel=channel))
    out += [
        "# HELP flashstock_oversold_total Orders a platform took that the pool could not cover.",
        "# TYPE flashstock_oversold_total counter",
    ]
    for sku, counts in sorted(oversold.items()):
        for channel, value in sorted(counts.items()):
            out.append(_line("flashstock_oversold_total", value, sku=sku, channel=channel))
    headroom = metrics.get("grant_headroom", {})
    out += [
        "# HELP flashstock_grant_headroom_units on_hand - reserved - sold - units granted to "
        "platforms and not sold there; negative breaks the grant invariant.",
        "# TYPE flashstock_grant_headroom_units gauge",
    ]
    for sku, units in sorted(headroom.items()):
        out.append(_line("flashstock_grant_headroom_units", units, sku=sku))
    out += [
        "# HELP flashstock_grant_invariant_violations SKUs whose grants exceed what the pool covers.",
        "# TYPE flashstock_grant_invariant_violations gauge",
        _line("flashstock_grant_invariant_violations", sum(1 for units in headroom.values() if units < 0)),
    ]
    out += ["# HELP flashstock_alerts_open Firing alerts by level.", "# TYPE flashstock_alerts_open gauge"]
    levels = Counter(alert["level"] for alert in metrics["alerts"])
    for level in ("TREND", "THRESHOLD", "EMERGENCY", "CHANNEL_STALLED"):
        out.append(_line("flashstock_alerts_open", levels.get(level, 0), level=level))
    out += [
        "# HELP flashstock_sale_events_total Sale events the forecaster has taken.",
        "# TYPE flashstock_sale_events_total counter",
        _line("flashstock_sale_events_total", metrics["forecaster"]["events"]),
    ]
    return "\n".join(out) + "\n"
