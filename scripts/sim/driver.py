"""The show loop of ``flashstock simulate``: the scenario's buyers, platforms and
operators, stepped through show time against a ``Target``.

Show time advances in steps (``step_seconds`` of event time, 10 s by default: the
forecaster's bucket). Each step:

1. operator actions that are due: planned restocks, transfers arriving (a confirmed
   receipt), and the restocks of ``responses`` to alerts of earlier steps;
2. the step's buyer events in show-time order: an order reaches flashstock only if its
   platform's own counter covers it (``scripts.sim.platforms``); a payment or cancellation
   only for an order flashstock accepted (one whose decision is not known yet waits
   for the next step);
3. every message through the real ingest path, waiting for every durable decision;
4. the end of the step: the forecaster evaluates at the step's end in event time (on a
   show-clock target), the alerts and the stock come back, and the platforms' visible
   stock is published from the pool for the next step.

Steps are paced at ``speed`` (60: a show minute per wall second; 0: as fast as the
system answers). The same scenario and seed give the same messages, decisions and
alert show-times at any speed, as long as nothing is oversold (who wins the last unit
between two platforms is a race).
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.infra.codec import is_quiet
from policies.ledger import SkuSettings
from scripts.loadgen.messages import cancel_message, format_of, order_message, payment_message
from scripts.sim.grant_platforms import GrantedShelves, NetworkFaults
from scripts.sim.platforms import GRANTS, PlatformShelves
from scripts.sim.scenario import RESPONSE_LEVELS, RestockAt, Scenario
from scripts.sim.show_events import BuyerCancel, BuyerOrder, BuyerPayment, generate
from scripts.sim.target import Answer, Outbound, Target

#: the owner's own expiry of an unpaid hold comes this long after the show's (a safety
#: net if the simulator stops; in a running show the simulator's expiry comes first)
OWNER_TTL_GRACE_SECONDS = 60.0
FIRING_KINDS = ("firing", "escalated")


@dataclass
class ShowLog:
    """Everything the report is made of, as the show went."""

    generated: int = 0
    taken: Counter[str] = field(default_factory=Counter)  # channel -> orders sent
    turned_away: Counter[str] = field(default_factory=Counter)  # channel -> platform sold out
    #: channel -> buyers it turned away while another platform (or the free pool) had units
    turned_away_with_units_elsewhere: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)  # channel -> accepted orders
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> orders
    notices: Counter[str] = field(default_factory=Counter)  # "payment accepted", ...
    dead: list[Answer] = field(default_factory=list)
    decision_ms: list[float] = field(default_factory=list)
    alert_seconds: list[float] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, list[tuple[float, int, float, float | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # sku -> (minute, available, velocity, eta)
    actions: list[dict[str, Any]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    #: per step (aligned with ``step_seconds``): orders sent to flashstock in that step
    step_orders: list[int] = field(default_factory=list)
    #: sku -> units flashstock accepted in each step (aligned with ``series``)
    step_units: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    wall_seconds: float = 0.0
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Clock:
    epoch: float
    speed: float
    started: float = field(default_factory=time.monotonic)

    def event_time(self, minute: float) -> float:
        return self.epoch + minute * 60.0

    def wait_for(self, minute: float) -> None:
        if self.speed > 0:
            delay = self.started + minute * 60.0 / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the show, not synchronising with anything


def catalogue_of(scenario: Scenario, epoch: float, prefix: str = "") -> list[tuple[SkuSettings, int]]:
    """The scenario's SKUs as flashstock settings (ids with ``prefix``) and stock: each on
    sale from the show's minute 0 (event time ``epoch``) to its end, as an operator's
    catalogue says it (``on_sale_since`` / ``on_sale_until``)."""
    ends = epoch + scenario.duration_minutes * 60.0
    return [
        (
            SkuSettings(
                prefix + s.sku,
                s.name,
                s.lead_time_minutes,
                s.purchase_limit,
                s.reservation_ttl_minutes * 60.0 + OWNER_TTL_GRACE_SECONDS,
                tuple(prefix + sub for sub in s.substitutes),
                s.safety_floor,
                s.critical_floor,
                on_sale_since=epoch,
                on_sale_until=ends,
            ),
            s.on_hand,
        )
        for s in scenario.skus
    ]


def show_epoch(now: float | None = None) -> float:
    """Event time of minute 0: the next whole minute, so the forecaster's buckets fall
    on the same show seconds in every run (and event time is never behind the clock)."""
    return (int(time.time() if now is None else now) // 60 + 1) * 60.0


def shelves_for(scenario: Scenario) -> PlatformShelves | GrantedShelves:
    """The scenario's platforms: the grant protocol (the default), or absolute counts
    published by a visible-count policy (``quota``, ``shared``: kept for comparison)."""
    lag = scenario.platform_lag_ms / 1000.0
    if scenario.allocation == GRANTS:
        drop, duplicate, reorder = scenario.platform_network
        return GrantedShelves(
            scenario.channels,
            lag,
            faults=NetworkFaults(drop, duplicate, reorder),
            silent={c: minute * 60.0 for c, minute in scenario.silent_platforms.items()},
            seed=scenario.seed,
        )
    return PlatformShelves(scenario.allocation, scenario.channels, lag)


class ShowRun:
    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        *,
        speed: float,
        step_seconds: float = 10.0,
        prefix: str = "",
        epoch: float | None = None,
        on_step: Callable[[float, ShowLog, int], None] | None = None,
    ) -> None:
        if step_seconds <= 0:
            raise ValueError(f"step_seconds must be > 0, got {step_seconds}")
        self.scenario = scenario
        self.target = target
        self.step_minutes = step_seconds / 60.0
        self.prefix = prefix
        self.clock = _Clock(show_epoch() if epoch is None else epoch, speed)
        self.on_step = on_step
        self.log = ShowLog()
        self.skus = [prefix + s.sku for s in scenario.skus]
        self.shelves = shelves_for(scenario)
        self._orders: dict[str, tuple[str, str, int, float]] = {}  # id -> channel, sku, units, second
        self.state: dict[str, str] = {}  # order id -> sent / accepted / rejected / away
        self.open_alerts: set[str] = set()
        self._responded: set[tuple[str, str]] = set()
        self._actions: list[tuple[float, int, str, str, int, float | None]] = []
        self._units: Counter[str] = Counter()  # sku -> units accepted in this step

    def run(self) -> ShowLog:
        started = time.monotonic()
        self.target.define(catalogue_of(self.scenario, self.clock.epoch, self.prefix))
        self.shelves.publish(0.0, {self.prefix + s.sku: s.on_hand for s in self.scenario.skus})
        events = generate(self.scenario)
        self.log.generated = sum(1 for e in events if isinstance(e, BuyerOrder))
        for n, restock in enumerate(self.scenario.restocks):
            self._plan_restock(
                restock.minute,
                self.prefix + restock.sku,
                restock.quantity,
                restock.arrives_after_minutes,
                f"plan-{n}",
            )
        buyers = [e for e in events if not isinstance(e, RestockAt)]
        steps = math.ceil(self.scenario.duration_minutes / self.step_minutes)
        waiting: list[BuyerPayment | BuyerCancel] = []
        position = 0
        for k in range(steps):
            start = k * self.step_minutes
            end = min((k + 1) * self.step_minutes, self.scenario.duration_minutes)
            self.clock.wait_for(start)
            step_started = time.monotonic()
            self._do_actions(start)
            messages: list[Outbound] = []
            earlier, waiting = waiting, []
            for notice in earlier:  # their orders' decisions are known now
                self._buyer(notice, messages, waiting)
            while position < len(buyers) and buyers[position].minute < end:
                event = buyers[position]
                position += 1
                self._buyer(event, messages, waiting)
            self._record(self.target.send(messages) if messages else [])
            decided_wall = time.time()
            self._end_step(end, decided_wall)
            self.log.step_seconds.append(time.monotonic() - step_started)
            self.log.step_orders.append(sum(1 for m in messages if m.kind == "order"))
            if self.on_step is not None:
                self.on_step(end, self.log, len(self.open_alerts))
        self.log.wall_seconds = time.monotonic() - started
        self.log.audit = {
            sku.removeprefix(self.prefix): facts for sku, facts in self.target.audit(self.skus).items()
        }
        return self.log

    # ---- buyers and platforms ---------------------------------------------------------

    def _buyer(
        self,
        event: BuyerOrder | BuyerPayment | BuyerCancel,
        messages: list[Outbound],
        waiting: list[BuyerPayment | BuyerCancel],
    ) -> None:
        """An order goes if its platform takes it; a payment or cancellation goes if its
        order was accepted, and waits for the next step if the decision is not known."""
        fmt = format_of(event.channel)
        at = self.clock.event_time(event.minute)
        if isinstance(event, BuyerOrder):
            sku = self.prefix + event.sku
            second = event.minute * 60.0
            if not self.shelves.take(second, event.channel, sku, event.quantity):
                self.state[event.order_id] = "away"
                self.log.turned_away[event.channel] += 1
                if self.shelves.units_elsewhere(second, event.channel, sku):
                    self.log.turned_away_with_units_elsewhere[event.channel] += 1
                return
            self.state[event.order_id] = "sent"
            self._orders[event.order_id] = (event.channel, sku, event.quantity, second)
            self.log.taken[event.channel] += 1
            body = order_message(
                fmt, self.prefix + event.order_id, sku, event.quantity, at, f"buyer-{event.order_id}"
            )
            messages.append(Outbound(event.channel, "order", event.order_id, body))
            return
        state = self.state.get(event.order_id)
        if state == "sent":
            waiting.append(event)
            return
        if state != "accepted":
            return  # the platform never took it, or flashstock refused it: nothing to pay
        order_id = self.prefix + event.order_id
        if isinstance(event, BuyerPayment):
            notice = Outbound(event.channel, "payment", event.order_id, payment_message(fmt, order_id, at))
        else:
            notice = Outbound(
                event.channel, "cancel", event.order_id, cancel_message(fmt, order_id, event.reason)
            )
        messages.append(notice)

    def _record(self, answers: list[Answer]) -> None:
        for answer in answers:
            order_id = answer.order_id.removeprefix(self.prefix)
            if answer.latency_ms is not None:
                self.log.decision_ms.append(answer.latency_ms)
            if answer.kind == "dead":
                self.log.dead.append(answer)
            elif answer.kind == "order":
                self.state[order_id] = "accepted" if answer.accepted else "rejected"
                if answer.accepted:
                    self.log.accepted[answer.channel] += 1
                    channel, sku, units, second = self._orders.pop(order_id, (answer.channel, "", 0, 0.0))
                    if units:
                        self.shelves.record(second, channel, sku, units)
                        self._units[sku.removeprefix(self.prefix)] += units
                else:
                    self.log.rejected[answer.reason] += 1
            else:
                outcome = "accepted" if answer.accepted else f"rejected: {answer.reason}"
                self.log.notices[f"{answer.kind} {outcome}"] += 1

    # ---- operators --------------------------------------------------------------------

    def _plan_restock(self, minute: float, sku: str, quantity: int, after: float, tag: str) -> None:
        arrives = minute + after
        heapq.heappush(
            self._actions,
            (minute, len(self._actions), "restock", sku, quantity, arrives if after > 0 else None),
        )
        if after > 0:
            heapq.heappush(self._actions, (arrives, len(self._actions), "receive", sku, 0, None))
        self.log.actions.append(
            {
                "minute": round(minute, 3),
                "sku": sku.removeprefix(self.prefix),
                "quantity": quantity,
                "arrives_minute": round(arrives, 3),
                "why": tag,
            }
        )

    def _do_actions(self, now: float) -> None:
        while self._actions and self._actions[0][0] <= now:
            minute, seq, kind, sku, quantity, arrives = heapq.heappop(self._actions)
            if kind == "restock":
                self.target.restock(
                    sku,
                    quantity,
                    f"{self.prefix}sim-{seq}",
                    None if arrives is None else self.clock.event_time(arrives),
                )
            else:
                self.target.receive(sku, self.clock.event_time(minute))

    def _respond(self, minute: float, sku: str, level: str) -> None:
        """Play the scenario's responses to the first alert of ``level`` for ``sku``."""
        if (sku, level) in self._responded:
            return
        self._responded.add((sku, level))
        for n, response in enumerate(r for r in self.scenario.responses if r.level == level):
            target = self.prefix + response.sku if response.sku else sku
            self._plan_restock(
                minute,
                target,
                response.quantity,
                response.arrives_after_minutes,
                f"response to {level} on {sku} #{n}",
            )

    # ---- the end of a step ------------------------------------------------------------

    def _end_step(self, minute: float, decided_wall: float) -> None:
        result = self.target.end_step(self.clock.event_time(minute), self.skus)
        for record in result.notifications:
            alert = record["alert"]
            key = alert["id"]
            at = alert["resolved_at"] if record["kind"] == "resolved" else alert["updated_at"]
            self.log.alerts.append(
                {
                    "minute": round((at - self.clock.epoch) / 60.0, 3),
                    "kind": record["kind"],
                    "sku": alert["sku"].removeprefix(self.prefix),
                    "level": alert["level"],
                    "available": alert["evidence"].get("available"),
                    "reason": alert["reason"],
                    "quiet": is_quiet(record),
                }
            )
            if record["kind"] == "resolved":
                self.open_alerts.discard(key)
            else:
                self.open_alerts.add(key)
            if record["kind"] in FIRING_KINDS:
                self.log.alert_seconds.append(max(0.0, (alert["updated_wall"] or 0) - decided_wall))
                if alert["level"] in RESPONSE_LEVELS.values():  # not CHANNEL_STALLED
                    self._respond(minute, alert["sku"], alert["level"])
        available = {}
        for sku in self.skus:
            view = result.views.get(sku, {})
            available[sku] = int(view.get("available", 0))
            bare = sku.removeprefix(self.prefix)
            self.log.series[bare].append(
                (
                    round(minute, 3),
                    available[sku],
                    float(view.get("velocity_per_min") or 0.0),
                    view.get("eta_minutes"),
                )
            )
            self.log.step_units[bare].append(self._units.pop(bare, 0))
        self.shelves.publish(minute * 60.0, available)
