"""The simulator's report arithmetic: stock-out minutes and alert lead times."""

from __future__ import annotations

from collections import Counter

from scripts.sim.driver import ShowLog
from scripts.sim.report import build_report, first_alerts, stockout_minutes, summary
from scripts.sim.scenario import parse_scenario
from scripts.sim.target import Answer

SCENARIO = parse_scenario(
    {
        "name": "t",
        "duration_minutes": 10,
        "seed": 1,
        "skus": [
            {"sku": "A", "on_hand": 5, "lead_time_minutes": 30},
            {"sku": "B", "on_hand": 5, "lead_time_minutes": 30},
        ],
        "channels": {"douyin": 1.0},
        "demand": [{"sku": "A", "from_minute": 0, "to_minute": 10, "orders_per_minute": 1}],
    }
)


def a_log() -> ShowLog:
    log = ShowLog(
        generated=9,
        taken=Counter(douyin=8),
        turned_away=Counter(douyin=1),
        accepted=Counter(douyin=7),
        rejected=Counter(insufficient=1),
        decision_ms=[1.0, 2.0, 3.0, 4.0],
        alert_seconds=[0.01],
        wall_seconds=4.0,
        step_seconds=[0.5, 0.5, 0.25],
        step_orders=[6, 2, 0],
    )
    log.series["A"] += [(1.0, 3, 1.0, 3.0), (2.0, 0, 2.0, 0.0), (3.0, 2, 0.0, None)]
    log.series["B"] += [(1.0, 5, 0.0, None)]
    log.alerts += [
        {"minute": 1.5, "kind": "firing", "sku": "A", "level": "TREND"},
        {"minute": 1.8, "kind": "escalated", "sku": "A", "level": "EMERGENCY"},
        {"minute": 2.5, "kind": "firing", "sku": "A", "level": "THRESHOLD"},  # after the stock-out
        {"minute": 1.9, "kind": "worsened", "sku": "A", "level": "TREND"},
    ]
    log.audit = {
        "A": {"on_hand": 5, "reserved": 0, "sold": 5, "available": 0, "oversold": {"douyin": 1}},
        "B": {"on_hand": 5, "reserved": 0, "sold": 0, "available": 5, "oversold": {}},
    }
    log.dead.append(Answer("douyin", "dead", "o9", False, "data.p_id missing", None))
    return log


def test_the_stockout_is_the_first_step_with_nothing_available_even_if_restocked_later() -> None:
    assert stockout_minutes(a_log()) == {"A": 2.0, "B": None}


def test_first_alerts_count_firings_and_escalations_not_updates() -> None:
    assert first_alerts(a_log().alerts) == {"A": {"TREND": 1.5, "EMERGENCY": 1.8, "THRESHOLD": 2.5}}


def test_the_report_counts_orders_oversold_and_lead_time() -> None:
    report = build_report(SCENARIO, a_log(), {"target": "inproc", "speed": 60})
    assert report["orders"]["accepted"] == 7
    assert report["oversold"] == {"A": {"douyin": 1}}
    assert report["oversold_total"] == 1
    assert report["first_alert_lead_minutes"] == {"A": 0.5, "B": None}
    assert report["decision_latency_ms"] == {"p50": 2.0, "p95": 4.0, "p99": 4.0, "max": 4.0}
    assert report["throughput"]["orders_per_s"] == 8.0  # 8 orders in the two busy steps' 1.0 s
    assert report["throughput"]["orders_per_s_over_the_run"] == 2.0
    assert report["dead_lettered"][0]["reason"] == "data.p_id missing"
    lines = summary(report).splitlines()
    assert "oversold: 1" in lines[2]
    row = next(line.split() for line in lines if line.startswith("  A "))
    assert row == ["A", "2.0", "1.5", "2.5", "1.8", "0.5", "0"]  # stock-out, firsts, lead, left


def test_throughput_is_measured_over_the_busy_steps_not_the_quiet_rest() -> None:
    log = a_log()
    log.step_orders = [1000, 900, 5, 3] + [0] * 116  # a ten-second spike in a two-minute show
    log.step_seconds = [0.5, 0.4, 0.01, 0.01] + [0.001] * 116
    log.wall_seconds = 120.0
    throughput = build_report(SCENARIO, log, {"target": "inproc", "speed": 1})["throughput"]
    assert throughput["orders_per_s"] == round(1900 / 0.9, 1)
    assert (throughput["busy_steps"], throughput["busy_seconds"]) == (2, 0.9)


def test_what_could_not_be_measured_is_na_not_zero() -> None:
    log = a_log()
    log.decision_ms, log.alert_seconds, log.step_orders = [], [], []
    report = build_report(SCENARIO, log, {"target": "inproc", "speed": 60})
    assert report["alert_latency_ms"] == {"p50": None, "p99": None, "max": None}
    assert report["throughput"]["orders_per_s"] is None
    text = summary(report)
    assert "throughput: n/a orders/s" in text
    assert "decision latency ms p50/p95/p99: n/a/n/a/n/a" in text
    assert "alert latency ms p50/p99: n/a/n/a" in text
    assert "None" not in text


def test_alert_latency_over_http_is_na_the_service_evaluates_on_its_own_clock() -> None:
    report = build_report(SCENARIO, a_log(), {"target": "http://127.0.0.1:8000", "speed": 0})
    assert report["alert_latency_ms"]["p50"] is None
    assert "alert latency ms p50/p99: n/a/n/a" in summary(report)
