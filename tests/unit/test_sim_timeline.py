"""The show's timeline: the rates, markers and SKU order ``report.png`` and ``report.html``
draw."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from scripts.sim.command import load_scenario, step_seconds_for
from scripts.sim.driver import ShowLog
from scripts.sim.scenario import parse_scenario
from scripts.sim.timeline import (
    build_timeline,
    demand_changes,
    rate_window_minutes,
    short_window_rate,
    sku_order,
)

SCENARIOS = Path(__file__).parents[2] / "scenarios"

SHOW = parse_scenario(
    {
        "name": "t",
        "duration_minutes": 3,
        "seed": 1,
        "skus": [
            {"sku": "QUIET", "on_hand": 50, "lead_time_minutes": 30},
            {"sku": "HOT", "on_hand": 10, "lead_time_minutes": 30},
        ],
        "channels": {"douyin": 1.0},
        "demand": [{"sku": "HOT", "from_minute": 1, "to_minute": 3, "orders_per_minute": 6}],
        "events": [
            {"at_minute": 2, "cancel_ratio": 0.1},
            {"at_minute": 0.5, "restock": {"sku": "HOT", "quantity": 5, "arrives_after_minutes": 1}},
        ],
    }
)


def a_show_log() -> ShowLog:
    """Three one-minute steps: HOT sells 4, then 8 units and runs out, alerting at 1.0."""
    log = ShowLog(generated=12, taken=Counter(douyin=12))
    log.series["QUIET"] += [(1.0, 50, 0.0, None), (2.0, 50, 0.0, None), (3.0, 50, 0.0, None)]
    log.series["HOT"] += [(1.0, 6, 4.0, 1.5), (2.0, 0, 6.0, 0.0), (3.0, 0, 2.0, 0.0)]
    log.step_units["QUIET"] += [0, 0, 0]
    log.step_units["HOT"] += [4, 8, 0]
    log.alerts += [
        {"minute": 1.0, "kind": "firing", "sku": "HOT", "level": "TREND"},
        {"minute": 1.5, "kind": "worsened", "sku": "HOT", "level": "TREND"},
        {"minute": 2.0, "kind": "escalated", "sku": "HOT", "level": "EMERGENCY"},
    ]
    log.actions += [
        {"minute": 0.5, "sku": "HOT", "quantity": 5, "arrives_minute": 1.5, "why": "plan-0"},
        {
            "minute": 1.0,
            "sku": "HOT",
            "quantity": 20,
            "arrives_minute": 1.0,
            "why": "response to TREND on HOT #0",
        },
    ]
    return log


def test_the_step_is_chosen_from_the_shows_length() -> None:
    assert step_seconds_for(2) == 1.0  # the two-minute spike: 120 steps, not 12
    assert step_seconds_for(16) == 8.0
    assert step_seconds_for(360) == 10.0  # the forecaster's bucket at most


def test_the_short_window_is_a_hundred_and_twentieth_of_the_show_at_most_a_minute() -> None:
    assert rate_window_minutes(360, 10 / 60) == pytest.approx(1.0)
    assert rate_window_minutes(2, 1 / 60) == pytest.approx(1 / 60)
    assert rate_window_minutes(90, 10 / 60) == pytest.approx(4 / 6)  # 45 s in whole 10 s steps


def test_the_short_window_rate_shows_a_burst_the_moment_it_happens() -> None:
    assert short_window_rate([0, 6, 0, 0], steps_per_window=2, window_minutes=0.5) == [0, 12, 12, 0]


def test_the_guests_arrival_is_a_demand_change_and_the_end_of_its_ramp_is_not() -> None:
    changes = demand_changes(load_scenario(SCENARIOS / "reference-double11.yaml"))
    assert changes == [{"minute": 180, "sku": "HOODIE-COLLAB", "before": 0.8, "after": 5.0}]


def test_the_end_of_the_spike_is_a_demand_change() -> None:
    (change,) = demand_changes(load_scenario(SCENARIOS / "link-is-up-spike.yaml"))
    assert (change["before"], change["after"]) == (12000, 30)


def test_the_timeline_starts_with_the_opening_stock_and_puts_the_alerting_sku_first() -> None:
    timeline = build_timeline(SHOW, a_show_log(), 60.0, {"HOT": 2.0, "QUIET": None})
    hot, quiet = timeline["skus"]
    assert (hot["sku"], hot["interesting"], quiet["sku"], quiet["interesting"]) == (
        "HOT",
        True,
        "QUIET",
        False,
    )
    assert hot["minutes"] == [0.0, 1.0, 2.0, 3.0]
    assert hot["available"] == [10, 6, 0, 0]
    assert hot["rate"] == [0.0, 4.0, 8.0, 0.0]  # per one-minute window
    assert hot["velocity"] == [0.0, 4.0, 6.0, 2.0]


def test_the_timeline_marks_alerts_restocks_transfers_demand_cancels_and_the_stockout() -> None:
    timeline = build_timeline(SHOW, a_show_log(), 60.0, {"HOT": 2.0, "QUIET": None})
    found = [(m["minute"], m["sku"], m["kind"], m["label"]) for m in timeline["markers"]]
    assert found == [
        (0.5, "HOT", "restock", "+5 restock"),
        (1.0, "HOT", "alert", "TREND"),
        (1.0, "HOT", "demand", "demand 0\u21926/min"),
        (1.0, "HOT", "restock", "+20 transfer (TREND)"),
        (1.5, "HOT", "arrival", "+5 arrive"),
        (2.0, "HOT", "alert", "EMERGENCY"),
        (2.0, "HOT", "cancel_wave", "10% cancel"),
        (2.0, "HOT", "stockout", "sold out"),
        (2.0, "QUIET", "cancel_wave", "10% cancel"),
    ]  # the worsened TREND is not a marker: only firings and escalations


def test_skus_that_alerted_or_sold_out_come_first_in_the_order_they_did() -> None:
    markers = [
        {"minute": 5.0, "sku": "B", "kind": "stockout"},
        {"minute": 3.0, "sku": "C", "kind": "alert"},
        {"minute": 1.0, "sku": "A", "kind": "restock"},
    ]
    scenario = load_scenario(SCENARIOS / "multi-sku-substitutes.yaml")
    skus = [s.sku for s in scenario.skus]
    assert sku_order(scenario, [m | {"sku": skus[i]} for i, m in enumerate(markers)]) == [
        skus[1],
        skus[0],
        skus[2],
    ]
