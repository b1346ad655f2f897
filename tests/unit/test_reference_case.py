"""The reference double-11 show (docs/simulation.md) and its neighbours, through the Forecaster with the real
alert policy (plain classes: no Ray, no Redis). Sales are Poisson arrivals in event
time from a fixed seed, fed in 10-second batches with a tick after each."""

from __future__ import annotations

import random
from collections.abc import Callable

from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_rules import AlertSettings, Level, safety_line
from policies.ledger import SkuSettings

T0 = 1_762_862_400.0  # 2025-11-11 20:00 China time: the show starts


class Show:
    """A simulated show for one or more SKUs; records when each level first fired."""

    def __init__(self, skus: dict[str, tuple[SkuSettings, int]]) -> None:
        self.forecaster = Forecaster(clock=lambda: self.now)
        self.forecaster.update_skus(settings for settings, _ in skus.values())
        self.available = {sku: units for sku, (_, units) in skus.items()}
        self.inbound: dict[str, list[tuple[float, int]]] = {sku: [] for sku in skus}
        self.now = T0
        self.fired: dict[tuple[str, str], float] = {}
        #: every time an alert reached a level (firing, escalated, deescalated)
        self.reached: dict[tuple[str, str], list[float]] = {}
        self.resolved: dict[tuple[str, str], float] = {}
        self.sold_out_at: dict[str, float] = {}

    def snapshot(self, sku: str) -> StockSnapshot:
        return StockSnapshot(self.available[sku], 0, tuple(self.inbound[sku]))

    def transfer(self, sku: str, units: int, arrives_in_minutes: float) -> None:
        self.inbound[sku].append((self.now + arrives_in_minutes * 60, units))
        self.forecaster.record([], {sku: self.snapshot(sku)})

    def run(
        self,
        minutes: float,
        rate_of: Callable[[str, float], float],
        seed: int = 7,
        on_minute: Callable[[Show, float], None] | None = None,
    ) -> None:
        rng = random.Random(seed)
        end = self.now + minutes * 60
        next_sale = {
            sku: self.now + rng.expovariate(max(rate_of(sku, 0), 1e-9) / 60) for sku in self.available
        }
        last_minute = -1
        while self.now < end:
            self.now += 10
            minute = (self.now - T0) / 60
            if on_minute is not None and int(minute) != last_minute:
                last_minute = int(minute)
                on_minute(self, minute)
            sales = []
            for sku in self.available:
                while next_sale[sku] <= self.now:
                    if self.available[sku] > 0:
                        self.available[sku] -= 1
                        sales.append(SaleEvent(sku, next_sale[sku], 1, "douyin"))
                        if self.available[sku] == 0:
                            self.sold_out_at.setdefault(sku, next_sale[sku])
                    rate = max(rate_of(sku, (next_sale[sku] - T0) / 60), 1e-9)
                    next_sale[sku] += rng.expovariate(rate / 60)
                for arrives_at, units in list(self.inbound[sku]):
                    if arrives_at <= self.now:
                        self.available[sku] += units
                        self.inbound[sku].remove((arrives_at, units))
            notes = self.forecaster.record(sales, {s: self.snapshot(s) for s in self.available})
            notes += self.forecaster.advance(self.now)
            for note in notes:
                key = (note.alert.sku, note.alert.level)
                if note.kind in ("firing", "escalated", "deescalated"):
                    self.fired.setdefault(key, self.now)
                    self.reached.setdefault(key, []).append(self.now)
                elif note.kind == "resolved":
                    self.resolved.setdefault(key, self.now)

    def minute(self, sku: str, level: str) -> float | None:
        at = self.fired.get((sku, level))
        return None if at is None else (at - T0) / 60


def reference_rate(_: str, minute: float) -> float:
    """Steady for two hours, then the guest joins and sales jump from 1.2 to 8 a minute."""
    return 1.2 if minute < 120 else 8.0


HOODIE = SkuSettings("HOODIE", "联名卫衣", lead_time_minutes=60, substitutes=("CLASSIC",))


def test_trend_fires_within_three_minutes_of_acceleration_and_well_before_a_static_line() -> None:
    show = Show({"HOODIE": (HOODIE, 500), "CLASSIC": (SkuSettings("CLASSIC"), 10_000)})
    show.run(240, lambda sku, m: reference_rate(sku, m) if sku == "HOODIE" else 0.0)

    # the guest's surge is told within three minutes (a burst of 8 orders in 80 s at
    # minute 93 of this seed is told too, and resolved: the change test's false-alarm
    # rate is measured in docs/alerts.md)
    trend = next(m for m in ((at - T0) / 60 for at in show.reached[("HOODIE", Level.TREND)]) if m >= 120)
    assert 120 <= trend <= 123
    static_50_left = next(m for m in _remaining_curve(show) if m[1] <= 50)[0]
    assert static_50_left - trend >= 10
    threshold = show.minute("HOODIE", Level.THRESHOLD)
    emergency = show.minute("HOODIE", Level.EMERGENCY)
    assert threshold is not None
    assert emergency is not None
    assert trend <= threshold < emergency
    assert "HOODIE" in show.sold_out_at


def test_a_transfer_in_time_delays_the_emergency() -> None:
    without = Show({"HOODIE": (HOODIE, 500)})
    without.run(240, reference_rate)

    def order_transfer(show: Show, minute: float) -> None:
        if int(minute) == 123 and not show.inbound["HOODIE"]:  # right after the TREND alert
            show.transfer("HOODIE", 200, arrives_in_minutes=20)

    with_transfer = Show({"HOODIE": (HOODIE, 500)})
    with_transfer.run(240, reference_rate, on_minute=order_transfer)
    first = without.minute("HOODIE", Level.EMERGENCY)
    later = with_transfer.minute("HOODIE", Level.EMERGENCY)
    assert first is not None
    assert later is not None
    assert later >= first + 10  # the 200 units bought the host at least ten minutes


def test_steady_noisy_sales_for_six_hours_raise_no_trend() -> None:
    show = Show({"STEADY": (SkuSettings("STEADY"), 5_000)})
    show.run(360, lambda _, __: 2.0, seed=3)
    assert show.minute("STEADY", Level.TREND) is None
    assert show.forecaster.events > 600


def test_long_lead_time_raises_the_safety_line_and_alerts_earlier() -> None:
    short = SkuSettings("SHORT", lead_time_minutes=20)
    long = SkuSettings("LONG", lead_time_minutes=100)
    midway = Show({"SHORT": (short, 600), "LONG": (long, 600)})
    midway.run(30, lambda _, __: 4.0, seed=5)  # both still selling, at the same rate
    lines = {}
    for sku in ("SHORT", "LONG"):
        velocity, _, stock = midway.forecaster.measure(sku)
        lines[sku] = safety_line(velocity.projected_rate, stock.lead_time_minutes, AlertSettings())
    assert lines["LONG"] > lines["SHORT"] > 0
    show = Show({"SHORT": (short, 600), "LONG": (long, 600)})
    show.run(240, lambda _, __: 4.0, seed=5)
    early = show.minute("LONG", Level.THRESHOLD)
    late = show.minute("SHORT", Level.THRESHOLD)
    assert early is not None
    assert late is not None
    assert early < late


def test_live_room_hint_counts_sellable_orders_and_offers_the_substitute() -> None:
    show = Show({"HOODIE": (HOODIE, 500), "CLASSIC": (SkuSettings("CLASSIC", "经典款"), 300)})
    show.run(240, lambda sku, m: reference_rate(sku, m) if sku == "HOODIE" else 0.0)
    hint = show.forecaster.hint("HOODIE")
    assert show.available["HOODIE"] == 0
    assert hint.sellable_orders == 0
    assert hint.substitute == "CLASSIC"
    assert "经典款" in hint.chat_hint


def _remaining_curve(show: Show) -> list[tuple[float, int]]:
    """(minute, units left) of HOODIE reconstructed by replaying the same seed."""
    replay = Show({"HOODIE": (HOODIE, 500)})
    curve: list[tuple[float, int]] = []
    replay.run(240, reference_rate, on_minute=lambda s, m: curve.append((m, s.available["HOODIE"])))
    return curve
