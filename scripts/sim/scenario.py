"""Flash-sale scenarios: the public file format load testers write (the seeded
generator in ``scripts.sim.show_events`` turns one into buyer events in show time).

The format (JSON or YAML) is a public interface; keep it stable:

    name: string
    duration_minutes: number
    speed: number                     # optional default time compression (60 = 1 min/s)
    skus: [{sku, name?, on_hand, lead_time_minutes, purchase_limit?,
            reservation_ttl_minutes?, substitutes?, safety_floor?, critical_floor?}]
    channels: {channel_name: share}   # shares sum to 1
    demand: [{sku, from_minute, to_minute, orders_per_minute: number | [start, end]}]
    quantity: {1: 0.8, 2: 0.15, 3: 0.05}            # optional
    payment: {pay_ratio: 0.9, pay_delay_minutes: [0.5, 5]}   # optional
    events: [{at_minute, restock: {sku, quantity, arrives_after_minutes?}}
             | {at_minute, cancel_ratio: x}]
    responses: {trend: [{restock: {quantity, arrives_after_minutes?, sku?}}],
                threshold: [...], emergency: [...]}   # optional, see ``Response``
    platform_lag_ms: number           # optional: how late a platform hears of a change
    allocation: grants | quota | shared   # optional, default grants (``policies.grants``)
    platform_network: {drop: p, duplicate: p, reorder: p}   # optional (grants), each 0..1
    silent_platforms: {channel_name: from_minute}           # optional (grants)
    seed: integer

A bad file is refused with a ``ScenarioError`` naming the field
(``skus[1].on_hand must be a whole number >= 0``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.operations import invalid_id
from scripts.sim.platforms import ALLOCATIONS

#: shares and distributions must sum to 1 within this
SUM_TOLERANCE = 1e-6


class ScenarioError(ValueError):
    """The scenario cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class ScenarioSku:
    sku: str
    on_hand: int
    lead_time_minutes: float
    name: str = ""
    purchase_limit: int | None = None
    reservation_ttl_minutes: float = 15.0
    substitutes: tuple[str, ...] = ()
    safety_floor: int = 0
    critical_floor: int = 0


@dataclass(frozen=True, slots=True)
class DemandSegment:
    """Orders per minute for ``sku`` from ``start`` to ``end`` (show minutes), ramping
    linearly from ``start_rate`` to ``end_rate``; segments of a SKU add up."""

    sku: str
    start: float
    end: float
    start_rate: float
    end_rate: float

    def rate(self, minute: float) -> float:
        if not self.start <= minute < self.end:
            return 0.0
        share = (minute - self.start) / (self.end - self.start)
        return self.start_rate + (self.end_rate - self.start_rate) * share


@dataclass(frozen=True, slots=True)
class RestockAt:
    minute: float
    sku: str
    quantity: int
    arrives_after_minutes: float = 0.0


@dataclass(frozen=True, slots=True)
class CancelAt:
    minute: float
    ratio: float


@dataclass(frozen=True, slots=True)
class Response:
    """An operator's rehearsed reaction, played automatically by the simulator the first
    time an alert of ``level`` fires for a SKU: restock ``quantity`` units of ``sku``
    (empty: the alerting SKU) arriving ``arrives_after_minutes`` of show time later."""

    level: str
    quantity: int
    arrives_after_minutes: float = 0.0
    sku: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    duration_minutes: float
    skus: tuple[ScenarioSku, ...]
    channels: Mapping[str, float]
    demand: tuple[DemandSegment, ...]
    seed: int
    speed: float = 60.0
    quantity: tuple[tuple[int, float], ...] = ((1, 1.0),)
    pay_ratio: float = 1.0
    pay_delay_minutes: tuple[float, float] = (0.0, 0.0)
    restocks: tuple[RestockAt, ...] = ()
    cancels: tuple[CancelAt, ...] = ()
    responses: tuple[Response, ...] = ()
    platform_lag_ms: float = 0.0
    allocation: str = "grants"
    #: what the network does to grant updates and answers: drop, duplicate, reorder (0..1)
    platform_network: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: channel -> show minute from which the platform stops answering
    silent_platforms: Mapping[str, float] = field(default_factory=dict)


def parse_scenario(data: object) -> Scenario:
    """A validated ``Scenario`` from the parsed file, or ``ScenarioError``."""
    top = _mapping(data, "scenario")
    allowed = {
        "name",
        "duration_minutes",
        "speed",
        "skus",
        "channels",
        "demand",
        "quantity",
        "payment",
        "events",
        "responses",
        "platform_lag_ms",
        "allocation",
        "platform_network",
        "silent_platforms",
        "seed",
    }
    unknown = sorted(set(top) - allowed)
    if unknown:
        raise ScenarioError(f"unknown field(s): {', '.join(unknown)}")
    name = _text(top.get("name"), "name")
    duration = _number(top.get("duration_minutes"), "duration_minutes", low=0, strict_low=True)
    skus = tuple(_sku(item, f"skus[{i}]") for i, item in enumerate(_list(top.get("skus"), "skus")))
    known = {s.sku for s in skus}
    if len(known) != len(skus):
        raise ScenarioError("skus: a sku appears twice")
    for s in skus:
        for sub in s.substitutes:
            if sub not in known:
                raise ScenarioError(f"skus: substitute {sub!r} of {s.sku} is not in skus")
    channels = _distribution(top.get("channels"), "channels", key=str)
    demand = tuple(
        _segment(item, f"demand[{i}]", known, duration)
        for i, item in enumerate(_list(top.get("demand"), "demand"))
    )
    quantity = _distribution(top.get("quantity", {1: 1.0}), "quantity", key=_units)
    payment = _mapping(top.get("payment", {}), "payment")
    pay_ratio = _number(payment.get("pay_ratio", 1.0), "payment.pay_ratio", low=0, high=1)
    delays = payment.get("pay_delay_minutes", [0.0, 0.0])
    if not (isinstance(delays, list) and len(delays) == 2):
        raise ScenarioError("payment.pay_delay_minutes must be [min, max]")
    delay = (
        _number(delays[0], "payment.pay_delay_minutes[0]", low=0),
        _number(delays[1], "payment.pay_delay_minutes[1]", low=0),
    )
    if delay[1] < delay[0]:
        raise ScenarioError("payment.pay_delay_minutes must be [min, max] with min <= max")
    restocks: list[RestockAt] = []
    cancels: list[CancelAt] = []
    for i, item in enumerate(_list(top.get("events", []), "events", empty_ok=True)):
        _event(item, f"events[{i}]", known, duration, restocks, cancels)
    seed = top.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed must be an integer")
    allocation = top.get("allocation", "grants")
    if allocation not in ALLOCATIONS:
        raise ScenarioError(f"allocation must be {' or '.join(ALLOCATIONS)}")
    network = _mapping(top.get("platform_network", {}), "platform_network")
    unknown_faults = sorted(set(network) - {"drop", "duplicate", "reorder"})
    if unknown_faults:
        raise ScenarioError(f"platform_network: unknown field(s): {', '.join(map(str, unknown_faults))}")
    faults = tuple(
        _number(network.get(name, 0.0), f"platform_network.{name}", low=0, high=1)
        for name in ("drop", "duplicate", "reorder")
    )
    silent_raw = _mapping(top.get("silent_platforms", {}), "silent_platforms")
    silent = {}
    for channel, minute in silent_raw.items():
        if channel not in channels:
            raise ScenarioError(f"silent_platforms: {channel!r} is not one of the channels")
        silent[str(channel)] = _number(minute, f"silent_platforms.{channel}", low=0)
    responses = _responses(top.get("responses", {}), known)
    return Scenario(
        name,
        duration,
        skus,
        channels,
        demand,
        seed,
        speed=_number(top.get("speed", 60.0), "speed", low=0, strict_low=True),
        quantity=tuple(sorted(quantity.items())),
        pay_ratio=pay_ratio,
        pay_delay_minutes=delay,
        restocks=tuple(restocks),
        cancels=tuple(cancels),
        responses=responses,
        platform_lag_ms=_number(top.get("platform_lag_ms", 0.0), "platform_lag_ms", low=0),
        allocation=allocation,
        platform_network=(faults[0], faults[1], faults[2]),
        silent_platforms=silent,
    )


# ---- field readers ---------------------------------------------------------------------


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{name} must be a mapping")
    return value


def _list(value: object, name: str, empty_ok: bool = False) -> Sequence[Any]:
    if not isinstance(value, list) or (not value and not empty_ok):
        raise ScenarioError(f"{name} must be a non-empty list" if not empty_ok else f"{name} must be a list")
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{name} must be a non-empty string")
    return value


def _number(
    value: object, name: str, *, low: float | None = None, high: float | None = None, strict_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{name} must be a number")
    if low is not None and (value < low or (strict_low and value == low)):
        raise ScenarioError(f"{name} must be {'>' if strict_low else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ScenarioError(f"{name} must be <= {high}, got {value}")
    return float(value)


def _whole(value: object, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(f"{name} must be a whole number >= {low}")
    return value


def _units(value: object) -> int:
    units = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise ScenarioError(f"quantity: {value!r} is not a whole number of units >= 1")
    return units


def _distribution(value: object, name: str, key: Any) -> dict[Any, float]:
    shares = _mapping(value, name)
    if not shares:
        raise ScenarioError(f"{name} must not be empty")
    parsed = {key(k): _number(v, f"{name}.{k}", low=0) for k, v in shares.items()}
    total = sum(parsed.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ScenarioError(f"{name} must sum to 1, got {total:g}")
    return parsed


def _sku(value: object, name: str) -> ScenarioSku:
    item = _mapping(value, name)
    allowed = {
        "sku",
        "name",
        "on_hand",
        "lead_time_minutes",
        "purchase_limit",
        "reservation_ttl_minutes",
        "substitutes",
        "safety_floor",
        "critical_floor",
    }
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ScenarioError(f"{name}: unknown field(s) {', '.join(unknown)}")
    sku = item.get("sku")
    problem = invalid_id(sku, f"{name}.sku")
    if problem:
        raise ScenarioError(problem)
    limit = item.get("purchase_limit")
    substitutes = item.get("substitutes", [])
    if not isinstance(substitutes, list):
        raise ScenarioError(f"{name}.substitutes must be a list")
    return ScenarioSku(
        str(sku),
        _whole(item.get("on_hand"), f"{name}.on_hand"),
        _number(item.get("lead_time_minutes"), f"{name}.lead_time_minutes", low=0),
        str(item.get("name", "")),
        None if limit is None else _whole(limit, f"{name}.purchase_limit", low=1),
        _number(
            item.get("reservation_ttl_minutes", 15.0),
            f"{name}.reservation_ttl_minutes",
            low=0,
            strict_low=True,
        ),
        tuple(str(s) for s in substitutes),
        _whole(item.get("safety_floor", 0), f"{name}.safety_floor"),
        _whole(item.get("critical_floor", 0), f"{name}.critical_floor"),
    )


def _segment(value: object, name: str, skus: set[str], duration: float) -> DemandSegment:
    item = _mapping(value, name)
    sku = item.get("sku")
    if sku not in skus:
        raise ScenarioError(f"{name}.sku {sku!r} is not in skus")
    start = _number(item.get("from_minute"), f"{name}.from_minute", low=0)
    end = _number(item.get("to_minute"), f"{name}.to_minute", low=0)
    if not start < end <= duration:
        raise ScenarioError(f"{name}: need from_minute < to_minute <= duration_minutes")
    rate = item.get("orders_per_minute")
    if isinstance(rate, list):
        if len(rate) != 2:
            raise ScenarioError(f"{name}.orders_per_minute ramp must be [start, end]")
        first = _number(rate[0], f"{name}.orders_per_minute[0]", low=0)
        last = _number(rate[1], f"{name}.orders_per_minute[1]", low=0)
    else:
        first = last = _number(rate, f"{name}.orders_per_minute", low=0)
    return DemandSegment(str(sku), start, end, first, last)


#: the alert levels a scenario can respond to, as written in the file
RESPONSE_LEVELS = {"trend": "TREND", "threshold": "THRESHOLD", "emergency": "EMERGENCY"}


def _responses(value: object, skus: set[str]) -> tuple[Response, ...]:
    """``{trend: [{restock: {quantity, arrives_after_minutes?, sku?}}], threshold: ...}``"""
    by_level = _mapping(value, "responses")
    bad = sorted(set(by_level) - set(RESPONSE_LEVELS))
    if bad:
        raise ScenarioError(
            f"responses: unknown level(s) {', '.join(map(str, bad))}; use {', '.join(RESPONSE_LEVELS)}"
        )
    found: list[Response] = []
    for level, actions in by_level.items():
        for i, item in enumerate(_list(actions, f"responses.{level}", empty_ok=True)):
            name = f"responses.{level}[{i}]"
            action = _mapping(item, name)
            if set(action) != {"restock"}:
                raise ScenarioError(f"{name} must be {{restock: {{quantity, arrives_after_minutes?, sku?}}}}")
            restock = _mapping(action["restock"], f"{name}.restock")
            unknown = sorted(set(restock) - {"quantity", "arrives_after_minutes", "sku"})
            if unknown:
                raise ScenarioError(f"{name}.restock: unknown field(s) {', '.join(unknown)}")
            sku = restock.get("sku", "")
            if sku and sku not in skus:
                raise ScenarioError(f"{name}.restock.sku {sku!r} is not in skus")
            found.append(
                Response(
                    RESPONSE_LEVELS[level],
                    _whole(restock.get("quantity"), f"{name}.restock.quantity", 1),
                    _number(
                        restock.get("arrives_after_minutes", 0.0),
                        f"{name}.restock.arrives_after_minutes",
                        low=0,
                    ),
                    str(sku),
                )
            )
    return tuple(found)


def _event(
    value: object,
    name: str,
    skus: set[str],
    duration: float,
    restocks: list[RestockAt],
    cancels: list[CancelAt],
) -> None:
    item = _mapping(value, name)
    minute = _number(item.get("at_minute"), f"{name}.at_minute", low=0, high=duration)
    if "restock" in item:
        restock = _mapping(item["restock"], f"{name}.restock")
        if restock.get("sku") not in skus:
            raise ScenarioError(f"{name}.restock.sku {restock.get('sku')!r} is not in skus")
        restocks.append(
            RestockAt(
                minute,
                str(restock["sku"]),
                _whole(restock.get("quantity"), f"{name}.restock.quantity", 1),
                _number(
                    restock.get("arrives_after_minutes", 0.0), f"{name}.restock.arrives_after_minutes", low=0
                ),
            )
        )
    elif "cancel_ratio" in item:
        cancels.append(CancelAt(minute, _number(item["cancel_ratio"], f"{name}.cancel_ratio", low=0, high=1)))
    else:
        raise ScenarioError(f"{name} must have restock or cancel_ratio")
