"""Scenario files (the load testers' public format) and the seeded order generator."""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.sim.scenario import Response, ScenarioError, parse_scenario
from scripts.sim.show_events import BuyerCancel, BuyerOrder, BuyerPayment, generate

SCENARIOS = Path(__file__).parents[2] / "scenarios"

BASE: dict[str, Any] = {
    "name": "test",
    "duration_minutes": 120,
    "seed": 5,
    "skus": [{"sku": "A", "on_hand": 100, "lead_time_minutes": 30}],
    "channels": {"douyin": 0.6, "taobao": 0.4},
    "demand": [{"sku": "A", "from_minute": 0, "to_minute": 120, "orders_per_minute": 5}],
    "quantity": {1: 0.7, 2: 0.3},
    "payment": {"pay_ratio": 0.8, "pay_delay_minutes": [0.5, 2]},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_parse_and_generate(path: Path) -> None:
    scenario = parse_scenario(yaml.safe_load(path.read_text()))
    events = generate(scenario)
    assert any(isinstance(e, BuyerOrder) for e in events)
    assert [e.minute for e in events] == sorted(e.minute for e in events)


def test_reference_scenario_is_the_briefs_case() -> None:
    scenario = parse_scenario(yaml.safe_load((SCENARIOS / "reference-double11.yaml").read_text()))
    hoodie = next(s for s in scenario.skus if s.sku == "HOODIE-COLLAB")
    assert (scenario.duration_minutes, hoodie.on_hand) == (360, 500)
    assert scenario.responses == (Response("TREND", 200, 20.0, "HOODIE-COLLAB"),)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("name", "", "name must be a non-empty string"),
        ("duration_minutes", 0, "duration_minutes must be > 0"),
        ("skus.0.on_hand", -1, "skus[0].on_hand must be a whole number >= 0"),
        ("skus.0.on_hand", 1.5, "skus[0].on_hand must be a whole number >= 0"),
        ("skus.0.lead_time_minutes", "soon", "skus[0].lead_time_minutes must be a number"),
        ("skus.0.colour", "red", "skus[0]: unknown field(s) colour"),
        ("channels", {"douyin": 0.6, "taobao": 0.6}, "channels must sum to 1"),
        ("demand.0.sku", "B", "demand[0].sku 'B' is not in skus"),
        ("demand.0.to_minute", 500, "demand[0]: need from_minute < to_minute <= duration_minutes"),
        ("demand.0.orders_per_minute", [1, 2, 3], "demand[0].orders_per_minute ramp"),
        ("quantity", {0: 1.0}, "quantity: 0 is not a whole number of units"),
        ("payment.pay_ratio", 1.5, "payment.pay_ratio must be <= 1"),
        ("payment.pay_delay_minutes", [3, 1], "min <= max"),
        ("seed", "x", "seed must be an integer"),
        ("allocation", "magic", "allocation must be grants or quota or shared"),
        ("surprise", 1, "unknown field(s): surprise"),
        ("skus", [], "skus must be a non-empty list"),
    ],
)
def test_a_bad_scenario_names_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(with_change(path, value))
    assert message in str(error.value)


def test_bad_events_name_the_field() -> None:
    for event, message in [
        ({"at_minute": 10}, "events[0] must have restock or cancel_ratio"),
        ({"at_minute": 999, "cancel_ratio": 0.1}, "events[0].at_minute must be <= 120"),
        ({"at_minute": 5, "restock": {"sku": "Z", "quantity": 3}}, "events[0].restock.sku"),
        ({"at_minute": 5, "restock": {"sku": "A", "quantity": 0}}, "events[0].restock.quantity"),
        ({"at_minute": 5, "cancel_ratio": 2}, "events[0].cancel_ratio must be <= 1"),
    ]:
        with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_scenario({**BASE, "events": [event]})


def test_the_same_seed_gives_the_same_show_and_another_seed_does_not() -> None:
    first = generate(parse_scenario(BASE))
    assert generate(parse_scenario(BASE)) == first
    assert generate(parse_scenario({**BASE, "seed": 6})) != first


def test_generated_orders_follow_rates_shares_quantities_and_payments() -> None:
    events = generate(
        parse_scenario(
            {
                **BASE,
                "duration_minutes": 600,
                "demand": [{"sku": "A", "from_minute": 0, "to_minute": 600, "orders_per_minute": 5}],
            }
        )
    )
    orders = [e for e in events if isinstance(e, BuyerOrder)]
    expected = 5 * 600
    assert abs(len(orders) - expected) < 4 * math.sqrt(expected)  # Poisson: within 4 sigma
    channels = Counter(o.channel for o in orders)
    assert abs(channels["douyin"] / len(orders) - 0.6) < 0.03
    units = Counter(o.quantity for o in orders)
    assert abs(units[2] / len(orders) - 0.3) < 0.03
    payments = [e for e in events if isinstance(e, BuyerPayment)]
    assert abs(len(payments) / len(orders) - 0.8) < 0.03
    placed = {o.order_id: o.minute for o in orders}
    assert all(0.5 <= p.minute - placed[p.order_id] <= 2 for p in payments)


def test_a_ramp_sells_more_at_its_end_and_segments_add_up() -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "demand": [
                {"sku": "A", "from_minute": 0, "to_minute": 120, "orders_per_minute": [0, 10]},
                {"sku": "A", "from_minute": 60, "to_minute": 120, "orders_per_minute": 5},
            ],
        }
    )
    minutes = [e.minute for e in generate(scenario) if isinstance(e, BuyerOrder)]
    first_half = sum(1 for m in minutes if m < 60)
    second_half = len(minutes) - first_half
    assert abs(first_half - 150) < 4 * math.sqrt(150)  # ramp 0 -> 5 over an hour
    assert abs(second_half - 750) < 4 * math.sqrt(750)  # ramp 5 -> 10, plus 5 a minute


def test_a_cancel_wave_cancels_a_share_of_the_unpaid_orders_only() -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "payment": {"pay_ratio": 0.5, "pay_delay_minutes": [1, 60]},
            "events": [{"at_minute": 60, "cancel_ratio": 0.5}],
        }
    )
    events = generate(scenario)
    paid = {e.order_id: e.minute for e in events if isinstance(e, BuyerPayment)}
    cancelled = [e for e in events if isinstance(e, BuyerCancel) and e.reason == "cancelled"]
    assert cancelled
    assert all(e.minute == 60 for e in cancelled)
    assert all(paid.get(e.order_id, math.inf) > 60 for e in cancelled)


def test_unpaid_orders_expire_when_their_reservation_ttl_passes() -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "skus": [{**BASE["skus"][0], "reservation_ttl_minutes": 3}],
            "payment": {"pay_ratio": 0.5, "pay_delay_minutes": [1, 5]},
        }
    )
    events = generate(scenario)
    orders = {e.order_id: e for e in events if isinstance(e, BuyerOrder)}
    paid = [e for e in events if isinstance(e, BuyerPayment)]
    expired = [e for e in events if isinstance(e, BuyerCancel)]
    assert {e.reason for e in expired} == {"expired"}
    assert all(e.minute == pytest.approx(orders[e.order_id].minute + 3) for e in expired)
    assert all(p.minute < orders[p.order_id].minute + 3 for p in paid)  # later payers expired
    closed = [e.order_id for e in paid] + [e.order_id for e in expired]
    assert len(closed) == len(set(closed))  # an order is paid or expires, never both
    ends_in_show = sum(1 for o in orders.values() if o.minute + 3 < 120)
    assert len(closed) >= ends_in_show


def test_a_cancelled_order_does_not_also_expire() -> None:
    scenario = parse_scenario(
        {**BASE, "payment": {"pay_ratio": 0.0}, "events": [{"at_minute": 60, "cancel_ratio": 1.0}]}
    )
    events = generate(scenario)
    closes = Counter(e.order_id for e in events if isinstance(e, BuyerCancel))
    assert closes
    assert max(closes.values()) == 1
    at_wave = [e for e in events if isinstance(e, BuyerCancel) and e.reason == "cancelled"]
    assert at_wave
    assert all(e.minute == 60 for e in at_wave)


def test_responses_are_parsed_per_level() -> None:
    scenario = parse_scenario(
        {
            **BASE,
            "responses": {
                "trend": [{"restock": {"quantity": 200, "arrives_after_minutes": 20}}],
                "emergency": [{"restock": {"quantity": 50, "sku": "A"}}],
            },
        }
    )
    assert scenario.responses == (Response("TREND", 200, 20.0, ""), Response("EMERGENCY", 50, 0.0, "A"))


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({"panic": []}, "responses: unknown level(s) panic"),
        ({"trend": [{"call": "boss"}]}, "responses.trend[0] must be {restock:"),
        ({"trend": [{"restock": {"quantity": 0}}]}, "responses.trend[0].restock.quantity"),
        ({"trend": [{"restock": {"quantity": 5, "sku": "Z"}}]}, "responses.trend[0].restock.sku 'Z'"),
        ({"trend": [{"restock": {"quantity": 5, "when": 1}}]}, "unknown field(s) when"),
        ({"trend": {"restock": {"quantity": 5}}}, "responses.trend must be a list"),
    ],
)
def test_bad_responses_name_the_field(responses: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario({**BASE, "responses": responses})
    assert message in str(error.value)
