"""The simulator's report: ``report.json`` (drawn by ``report_png`` and ``report_html``) and
the summary table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.loadgen.stats import quantile
from scripts.sim.driver import FIRING_KINDS, ShowLog
from scripts.sim.scenario import Scenario
from scripts.sim.timeline import build_timeline

#: a step is part of the busy part of the show when it carried at least this share of
#: the busiest step's orders
BUSY_STEP_SHARE = 0.1


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
            **busy_throughput(log),
            "orders_per_s_over_the_run": round(taken / log.wall_seconds, 1) if log.wall_seconds else None,
            "steps": len(log.step_seconds),
            "step_ms_p50": _ms(quantile(log.step_seconds, 0.5)),
            "step_ms_p99": _ms(quantile(log.step_seconds, 0.99)),
        },
        "decision_latency_ms": {f"p{q}": _round(quantile(log.decision_ms, q / 100)) for q in (50, 95, 99)}
        | {"max": _round(max(log.decision_ms, default=None))},
        "alert_latency_ms": alert_latency(log, on_show_clock=meta.get("target") == "inproc"),
        "timeline": build_timeline(scenario, log, meta.get("step_seconds") or 10.0, stockouts),
    }


def busy_throughput(log: ShowLog) -> dict[str, Any]:
    """Orders per second over the busy part of the show: the steps that carried at least
    ``BUSY_STEP_SHARE`` of the busiest step's orders, over the time the system took on
    them (the pacing between steps left out). A spike's ten seconds are measured at the
    rate they were answered, not averaged over the quiet minutes after them."""
    busiest = max(log.step_orders, default=0)
    if not busiest:
        return {"orders_per_s": None, "busy_steps": 0, "busy_seconds": 0.0}
    busy = [
        (orders, seconds)
        for orders, seconds in zip(log.step_orders, log.step_seconds, strict=False)
        if orders >= BUSY_STEP_SHARE * busiest
    ]
    orders = sum(o for o, _ in busy)
    seconds = sum(s for _, s in busy)
    return {
        "orders_per_s": round(orders / seconds, 1) if seconds > 0 else None,
        "busy_steps": len(busy),
        "busy_seconds": round(seconds, 3),
    }


def alert_latency(log: ShowLog, *, on_show_clock: bool) -> dict[str, float | None]:
    """From a step's last durable decision to the alert's evaluation, ms; None (n/a) when
    nothing alerted, or when the forecaster is not on the show clock (a running service
    evaluates on its own ticks, so there is no step end to measure from)."""
    seconds = log.alert_seconds if on_show_clock else []
    return {
        "p50": _ms(quantile(seconds, 0.5)),
        "p99": _ms(quantile(seconds, 0.99)),
        "max": _ms(max(seconds, default=None)),
    }


def alert_timeline(report: dict[str, Any]) -> list[tuple[float, str, str, str]]:
    """(minute, sku, level, kind) of every notification: what must not depend on speed."""
    return [(a["minute"], a["sku"], a["level"], a["kind"]) for a in report["alerts"]]


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report.json``, ``report.png`` and ``report.html`` in ``out``."""
    from scripts.sim.report_html import write_html
    from scripts.sim.report_png import write_chart

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    write_chart(report, out / "report.png")
    write_html(report, out / "report.html")


def summary(report: dict[str, Any]) -> str:
    """The short table printed at the end of a run."""
    orders = report["orders"]
    latency = report["decision_latency_ms"]
    alerts = report["alert_latency_ms"]
    throughput = report["throughput"]
    lines = [
        f"{report['scenario']} (seed {report['seed']}, {report['target']}, speed "
        f"{report['speed'] or 'max'}): {report['throughput']['wall_seconds']} s",
        f"  orders: {orders['generated']} generated, {orders['taken_by_platforms']} taken by "
        f"platforms, {orders['accepted']} accepted, rejected {orders['rejected_by_reason'] or 0}, "
        f"turned away by platforms {sum(orders['turned_away_by_platforms'].values())} "
        f"({sum(orders.get('turned_away_with_units_elsewhere', {}).values())} while units were elsewhere)",
        f"  oversold: {report['oversold_total']}   throughput: "
        f"{_figure(throughput['orders_per_s'], ',.0f')} orders/s over the busy part "
        f"({throughput['busy_steps']} steps, {throughput['busy_seconds']:.2f} s)",
        f"  decision latency ms p50/p95/p99: {_figure(latency['p50'])}/{_figure(latency['p95'])}/"
        f"{_figure(latency['p99'])}   alert latency ms p50/p99: {_figure(alerts['p50'])}/"
        f"{_figure(alerts['p99'])}",
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


def _figure(value: float | None, spec: str = ".1f") -> str:
    """A measured figure, or ``n/a`` when there was nothing to measure."""
    return "n/a" if value is None else format(value, spec)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
