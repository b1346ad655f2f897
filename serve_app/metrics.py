"""The /metrics page in Prometheus text format: what lives in Redis and the forecaster
(``Backend.metrics``); no owner is asked, so its cost does not grow with the number of
owners (it grows with the catalogue: the oversold counts are one pipelined read per SKU).

The processes' own timings (group commit seconds, decisions by outcome) are recorded with
Ray's metrics API where they happen and exported by each node's Ray metrics agent
(``actors/infra/metrics.py``); ``docs/grafana/flashstock.json`` charts both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

#: the alert levels always present on the page (0 when none is open)
ALERT_LEVELS = ("TREND", "THRESHOLD", "EMERGENCY", "CHANNEL_STALLED")


def _line(name: str, value: float, **labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}" if inner else f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def oversold_by_channel(oversold: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Oversold orders per channel, over every SKU (a label per SKU would make one series
    per SKU: the per-SKU counts are on ``GET /v1/skus/{sku}``)."""
    totals: Counter[str] = Counter()
    for counts in oversold.values():
        totals.update(counts)
    return dict(totals)


def prometheus_text(metrics: Mapping[str, Any]) -> str:
    out = _family(
        "flashstock_ingest_messages_total", "counter", "Platform messages an ingest path took, by outcome."
    )
    for channel, counts in sorted(metrics["ingest"].items()):
        for outcome, value in sorted(counts.items()):
            out.append(
                _line("flashstock_ingest_messages_total", int(value), channel=channel, outcome=outcome)
            )
    out += _family(
        "flashstock_ingest_backlog",
        "gauge",
        "Inbox entries waiting: pending (read, not yet decided) and undelivered (consumer-group lag).",
    )
    for channel, backlog in sorted(metrics["backlog"].items()):
        out.append(_line("flashstock_ingest_backlog", backlog.pending, channel=channel, state="pending"))
        if backlog.undelivered is not None:
            out.append(
                _line("flashstock_ingest_backlog", backlog.undelivered, channel=channel, state="undelivered")
            )
    out += _family(
        "flashstock_oversold_orders",
        "gauge",
        "Orders a platform took that the pool could not cover, over the SKUs in the catalogue "
        "(a gauge: removing a SKU removes its count).",
    )
    for channel, value in sorted(oversold_by_channel(metrics["oversold"]).items()):
        out.append(_line("flashstock_oversold_orders", value, channel=channel))
    headroom = metrics.get("grant_headroom", {})
    out += _family(
        "flashstock_grant_headroom_units",
        "gauge",
        "on_hand - reserved - sold - units granted to platforms and not sold there; negative breaks the "
        "grant invariant.",
    )
    for sku, units in sorted(headroom.items()):
        out.append(_line("flashstock_grant_headroom_units", units, sku=sku))
    out += _family(
        "flashstock_grant_invariant_violations", "gauge", "SKUs whose grants exceed what the pool covers."
    )
    violations = sum(1 for units in headroom.values() if units < 0)
    out.append(_line("flashstock_grant_invariant_violations", violations))
    out += _family("flashstock_alerts_open", "gauge", "Open alerts by level.")
    levels = Counter(alert["level"] for alert in metrics["alerts"])
    for level in sorted({*ALERT_LEVELS, *levels}):
        out.append(_line("flashstock_alerts_open", levels.get(level, 0), level=level))
    out += _family("flashstock_sale_events_total", "counter", "Sale events the forecaster has taken.")
    out.append(_line("flashstock_sale_events_total", metrics["forecaster"]["events"]))
    return "\n".join(out) + "\n"
