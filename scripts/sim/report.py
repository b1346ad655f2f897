"""The simulator's report: ``report.json``, ``report.png`` and the summary table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.loadgen.stats import quantile
from scripts.sim.driver import FIRING_KINDS, ShowLog
from scripts.sim.scenario import Scenario

LEVEL_COLOURS = {
    "TREND": "#f2a900",
    "THRESHOLD": "#e8590c",
    "EMERGENCY": "#c92a2a",
    "CHANNEL_STALLED": "#6741d9",
}


def stockout_minutes(log: ShowLog) -> dict[str, float | None]:
    """Per SKU, the first step end (show minute) at which nothing was available."""
    return {
        sku: next((minute for minute, available, _, _ in points if available <= 0), None)
        for sku, points in log.series.items()
    }


def first_alerts(alerts: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per SKU, the show minute each level first fired."""
    first: dict[str, dict[str, float]] = {}
    for alert in alerts:
        if alert["kind"] in FIRING_KINDS:
            first.setdefault(alert["sku"], {}).setdefault(alert["level"], alert["minute"])
    return first


def build_report(scenario: Scenario, log: ShowLog, meta: dict[str, Any]) -> dict[str, Any]:
    """Everything a load tester asks of a run, as one JSON-ready mapping."""
    stockouts = stockout_minutes(log)
    firsts = first_alerts(log.alerts)
    lead = {}
    for sku, out in stockouts.items():
        before = [m for m in firsts.get(sku, {}).values() if out is not None and m <= out]
        lead[sku] = None if out is None or not before else round(out - min(before), 2)
    oversold = {sku: facts["oversold"] for sku, facts in log.audit.items() if facts["oversold"]}
    taken = sum(log.taken.values())
    busy = sum(log.step_seconds) or 1e-9
    return {
        **meta,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "duration_minutes": scenario.duration_minutes,
        "allocation": scenario.allocation,
        "platform_lag_ms": scenario.platform_lag_ms,
        "orders": {
            "generated": log.generated,
            "taken_by_platforms": taken,
            "turned_away_by_platforms": dict(log.turned_away),
            # a platform's grant ran out while another platform or the free pool had units
            "turned_away_with_units_elsewhere": dict(log.turned_away_with_units_elsewhere),
            "accepted": sum(log.accepted.values()),
            "accepted_by_channel": dict(log.accepted),
            "rejected_by_reason": dict(log.rejected),
        },
        "notices": dict(log.notices),
        "dead_lettered": [a._asdict() for a in log.dead],
        "oversold": oversold,
        "oversold_total": sum(n for by_channel in oversold.values() for n in by_channel.values()),
        "ledger": log.audit,
        "stockout_minute": stockouts,
        "first_alert_minute": firsts,
        "first_alert_lead_minutes": lead,
        "alerts": log.alerts,
        "operator_actions": log.actions,
        "throughput": {
            "wall_seconds": round(log.wall_seconds, 2),
            "orders_per_s": round(taken / log.wall_seconds, 1) if log.wall_seconds else 0,
            "orders_per_busy_s": round(taken / busy, 1),
            "steps": len(log.step_seconds),
            "step_ms_p50": _ms(quantile(log.step_seconds, 0.5)),
            "step_ms_p99": _ms(quantile(log.step_seconds, 0.99)),
        },
        "decision_latency_ms": {f"p{q}": _round(quantile(log.decision_ms, q / 100)) for q in (50, 95, 99)}
        | {"max": _round(max(log.decision_ms, default=None))},
        "alert_latency_ms": {
            "p50": _ms(quantile(log.alert_seconds, 0.5)),
            "p99": _ms(quantile(log.alert_seconds, 0.99)),
            "max": _ms(max(log.alert_seconds, default=None)),
        },
    }


def alert_timeline(report: dict[str, Any]) -> list[tuple[float, str, str, str]]:
    """(minute, sku, level, kind) of every notification: what must not depend on speed."""
    return [(a["minute"], a["sku"], a["level"], a["kind"]) for a in report["alerts"]]


def write_report(report: dict[str, Any], log: ShowLog, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    write_chart(report, log, out / "report.png")


def write_chart(report: dict[str, Any], log: ShowLog, path: Path) -> None:
    """Per SKU: remaining stock and velocity over show time, alerts as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skus = sorted(log.series)
    figure, axes = plt.subplots(len(skus), 1, figsize=(10, 3.2 * len(skus)), squeeze=False)
    for axis, sku in zip(axes[:, 0], skus, strict=True):
        points = log.series[sku]
        minutes = [p[0] for p in points]
        axis.plot(minutes, [p[1] for p in points], color="#1971c2", label="available (units)")
        axis.set_ylabel("available units")
        axis.set_title(
            f"{sku}  (stock-out: {report['stockout_minute'].get(sku) or 'none'})", loc="left", fontsize=10
        )
        rate = axis.twinx()
        rate.plot(minutes, [p[2] for p in points], color="#2f9e44", alpha=0.7, label="velocity (units/min)")
        rate.set_ylabel("units / minute")
        for alert in log.alerts:
            if alert["sku"] == sku and alert["kind"] in FIRING_KINDS:
                axis.axvline(
                    alert["minute"],
                    color=LEVEL_COLOURS.get(alert["level"], "grey"),
                    linestyle="--",
                    linewidth=1,
                )
                axis.annotate(
                    alert["level"],
                    (alert["minute"], axis.get_ylim()[1]),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=7,
                    color=LEVEL_COLOURS.get(alert["level"], "grey"),
                )
        handles = axis.get_legend_handles_labels()
        more = rate.get_legend_handles_labels()
        axis.legend(handles[0] + more[0], handles[1] + more[1], loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("show minute")
    figure.suptitle(f"{report['scenario']}: stock, velocity and alerts", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def summary(report: dict[str, Any]) -> str:
    """The short table printed at the end of a run."""
    orders = report["orders"]
    latency = report["decision_latency_ms"]
    lines = [
        f"{report['scenario']} (seed {report['seed']}, {report['target']}, speed "
        f"{report['speed'] or 'max'}): {report['throughput']['wall_seconds']} s",
        f"  orders: {orders['generated']} generated, {orders['taken_by_platforms']} taken by "
        f"platforms, {orders['accepted']} accepted, rejected {orders['rejected_by_reason'] or 0}, "
        f"turned away by platforms {sum(orders['turned_away_by_platforms'].values())} "
        f"({sum(orders.get('turned_away_with_units_elsewhere', {}).values())} while units were elsewhere)",
        f"  oversold: {report['oversold_total']}   throughput: {report['throughput']['orders_per_s']}"
        f" orders/s   decision latency ms p50/p95/p99: {latency['p50']}/{latency['p95']}/"
        f"{latency['p99']}   alert latency ms p50/p99: {report['alert_latency_ms']['p50']}/"
        f"{report['alert_latency_ms']['p99']}",
        f"  {'sku':<18}{'stock-out':>10}{'TREND':>8}{'THRESH':>8}{'EMERG':>8}{'lead':>7}{'left':>6}",
    ]
    for sku, out in report["stockout_minute"].items():
        first = report["first_alert_minute"].get(sku, {})
        lead = report["first_alert_lead_minutes"].get(sku)
        left = report["ledger"].get(sku, {}).get("available", "?")
        lines.append(
            f"  {sku:<18}{_cell(out):>10}{_cell(first.get('TREND')):>8}"
            f"{_cell(first.get('THRESHOLD')):>8}{_cell(first.get('EMERGENCY')):>8}"
            f"{_cell(lead):>7}{left:>6}"
        )
    lines.append("  (show minutes; lead = minutes from the first alert to the stock-out)")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
