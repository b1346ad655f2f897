"""The seeded order generator: a scenario (``scripts.sim.scenario``) becomes every buyer
event of the show, in show minutes, the same for the same seed."""

from __future__ import annotations

import math
import random
from typing import NamedTuple

from scripts.sim.scenario import RestockAt, Scenario


class BuyerOrder(NamedTuple):
    minute: float
    channel: str
    order_id: str
    sku: str
    quantity: int


class BuyerPayment(NamedTuple):
    minute: float
    channel: str
    order_id: str


class BuyerCancel(NamedTuple):
    """The order gives its units back: ``cancelled`` by the buyer (a cancel wave) or
    ``expired`` (not paid within the SKU's reservation TTL)."""

    minute: float
    channel: str
    order_id: str
    reason: str = "cancelled"


ShowEvent = BuyerOrder | BuyerPayment | BuyerCancel | RestockAt


def generate(scenario: Scenario) -> list[ShowEvent]:
    """Every event of the show in show-time order, the same for the same seed: Poisson
    order arrivals at each SKU's demand rate (thinning handles ramps), a channel by the
    shares, units by the quantity distribution, a payment after a uniform delay for
    ``pay_ratio`` of the orders, expiry of the others when the SKU's reservation TTL
    (show minutes) passes (a payment that would come later expires instead), and
    cancellations of a share of the orders still unpaid at each cancel wave."""
    rng = random.Random(scenario.seed)
    orders = _orders(scenario, rng)
    ttl = {s.sku: s.reservation_ttl_minutes for s in scenario.skus}
    events: list[ShowEvent] = list(orders)
    closed_at: dict[str, float] = {}  # order id -> minute it was paid or expired
    low, high = scenario.pay_delay_minutes
    for order in orders:
        pays = rng.random() < scenario.pay_ratio
        pay_at = order.minute + rng.uniform(low, high)
        expires_at = order.minute + ttl[order.sku]
        if pays and pay_at < expires_at:
            closed_at[order.order_id] = pay_at
            events.append(BuyerPayment(pay_at, order.channel, order.order_id))
        else:
            closed_at[order.order_id] = expires_at
            if expires_at < scenario.duration_minutes:
                events.append(BuyerCancel(expires_at, order.channel, order.order_id, "expired"))
    for wave in scenario.cancels:
        for order in orders:
            if (
                order.minute <= wave.minute < closed_at.get(order.order_id, math.inf)
                and rng.random() < wave.ratio
            ):
                events.append(BuyerCancel(wave.minute, order.channel, order.order_id))
                closed_at[order.order_id] = wave.minute
    events = [e for e in events if not _expiry_after_close(e, closed_at)]
    events.extend(scenario.restocks)
    events.sort(key=lambda e: (e.minute, _KIND_ORDER[type(e)]))
    return events


def _orders(scenario: Scenario, rng: random.Random) -> list[BuyerOrder]:
    channels = sorted(scenario.channels)
    channel_weights = [scenario.channels[c] for c in channels]
    units = [u for u, _ in scenario.quantity]
    unit_weights = [p for _, p in scenario.quantity]
    orders: list[BuyerOrder] = []
    for sku in sorted({segment.sku for segment in scenario.demand}):
        segments = [s for s in scenario.demand if s.sku == sku]
        peak = sum(max(s.start_rate, s.end_rate) for s in segments)
        if peak <= 0:
            continue
        minute = 0.0
        while True:
            minute += rng.expovariate(peak)
            if minute >= scenario.duration_minutes:
                break
            if rng.random() * peak <= sum(s.rate(minute) for s in segments):
                orders.append(
                    BuyerOrder(
                        minute,
                        rng.choices(channels, channel_weights)[0],
                        f"{sku}-{len(orders)}",
                        sku,
                        rng.choices(units, unit_weights)[0],
                    )
                )
    orders.sort(key=lambda o: (o.minute, o.order_id))
    return orders


def _expiry_after_close(event: ShowEvent, closed_at: dict[str, float]) -> bool:
    """An expiry of an order a cancel wave closed earlier: it has nothing left to expire."""
    return (
        isinstance(event, BuyerCancel)
        and event.reason == "expired"
        and closed_at[event.order_id] < event.minute
    )


#: within one minute: stock first, then orders, payments, cancellations
_KIND_ORDER: dict[type, int] = {RestockAt: 0, BuyerOrder: 1, BuyerPayment: 2, BuyerCancel: 3}
