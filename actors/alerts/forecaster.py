"""Forecaster: sale events in, alert verdicts and live-room hints out (plain class).

It keeps each SKU's sales in event-time buckets (``policies.velocity.SalesHistory``) and
the latest stock the owners committed, measures velocity and time to stock-out, asks
``policies.alert_rules`` for verdicts and hands them to a ``Book`` (the alert lifecycle:
the pure ``AlertBook`` by default and in a replay, the durable ``AlertHub`` in the actor).
Only event time is used: the watermark is the newest ``placed_at`` seen, or, on a tick,
``clock() - lateness_seconds`` so that a quiet period still moves time (ETAs shrink,
alerts resolve). A replay passes the watermark explicitly and gets the same alerts at
any speed.

One verdict per SKU (its level, with hysteresis against the level its alert holds) and
one per channel (CHANNEL_STALLED: a channel silent while its SKUs still have stock).
Each SKU's settings (from the owners' feed, and from the durable settings after a
restart) say when it went on sale, the start of its rate's exposure, and when its show
ends (``on_sale_until``), which bounds the lead-time demand and the TREND horizon to the
show's remaining time.

Crash and retry: the windows live in memory; a restarted forecaster is rebuilt from the
durable ledger stream (``rebuild``) and settles the open alerts against the current stock
at once (``settle``), before anything else is evaluated (``actors/alerts/actor.py``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_book import AlertBook
from policies.alert_lifecycle import Alert, Notification
from policies.alert_rules import (
    AlertSettings,
    Level,
    StockView,
    Verdict,
    consequence_horizon,
    depletion_rate,
    evaluate_sku,
    stalled_channels,
)
from policies.ledger import SkuSettings
from policies.live_room import LiveHint, LiveRoomSettings, live_hint
from policies.velocity import (
    ForecastSettings,
    SalesHistory,
    StockoutForecast,
    Velocity,
    forecast_stockout,
    measure_velocity,
)

log = structlog.get_logger(__name__)


class Book(Protocol):
    """What the forecaster asks of the alert lifecycle."""

    @property
    def open(self) -> Mapping[str, Alert]:
        """The open alerts by key."""
        ...

    def step(
        self,
        verdicts: Sequence[Verdict],
        now: float,
        now_wall: float,
        *,
        hints: Mapping[str, str] | None = None,
        channel: str = "",
        settle: bool = False,
    ) -> list[Notification]:
        """Advance the verdicts' alerts to event time ``now``; the notifications."""
        ...

    def firing(self, sku: str | None = None) -> list[Alert]: ...

    def highest_level(self, sku: str) -> str | None: ...

    def current_level(self, sku: str) -> str | None: ...


class Forecaster:
    def __init__(
        self,
        *,
        forecast: ForecastSettings | None = None,
        live: LiveRoomSettings | None = None,
        alerts: AlertSettings | None = None,
        lateness_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        book: Book | None = None,
        evaluate_every_seconds: float = 0.0,
        max_ahead_seconds: float = math.inf,
    ) -> None:
        self.forecast = forecast or ForecastSettings()
        self.live = live or LiveRoomSettings()
        #: the alert rules; a SKU's own floors replace ``safety_floor``/``critical_floor``
        self.alerts = alerts or AlertSettings()
        self.lateness_seconds = lateness_seconds
        self.clock = clock
        self.book: Book = book or AlertBook()
        self.histories: dict[str, SalesHistory] = {}
        #: (channel, sku) -> orders, for CHANNEL_STALLED
        self.channels: dict[tuple[str, str], SalesHistory] = {}
        self.stock: dict[str, StockSnapshot] = {}
        self.settings: dict[str, SkuSettings] = {}
        self.watermark = -math.inf
        self.events = 0
        #: SKUs with new sales or stock since they were last evaluated
        self.dirty: set[str] = set()
        #: evaluate at most this often on ``record`` (wall seconds; 0: on every batch;
        #: infinite: never, only on ``flush`` / ``advance``, when a simulation drives time).
        #: At 200,000 events/s, evaluating every touched SKU per batch costs more than the
        #: events; coalescing for 0.1 s keeps the verdicts fresh and the cost bounded.
        self.evaluate_every_seconds = evaluate_every_seconds
        self._evaluated_at = -math.inf
        #: a sale stamped more than this after ``clock()`` (or after the end of its SKU's
        #: show, when set) is counted at ``clock()``: in the live service event time
        #: follows the wall clock, and one order with a bad ``placed_at`` (year 2100 is a
        #: valid time) would otherwise move the watermark, so every SKU's window, for
        #: good. Infinite where a simulation or a replay drives event time on purpose.
        self.max_ahead_seconds = max_ahead_seconds

    # ---- input ------------------------------------------------------------------------

    def update_skus(self, settings: Iterable[SkuSettings]) -> None:
        for item in settings:
            self.settings[item.sku] = item

    def record(
        self, sales: Sequence[SaleEvent], stock: Mapping[str, StockSnapshot] | None = None
    ) -> list[Notification]:
        """Take a batch of sale events and fresh stock; evaluate the touched SKUs."""
        keep = self.keep_minutes
        histories, channels = self.histories, self.channels
        bucket = self.forecast.bucket_seconds
        latest = self.watermark
        now = self.clock()
        bound = now + self.max_ahead_seconds  # one comparison per event; infinite: none
        ahead: list[SaleEvent] = []
        for sku, at, units, channel in sales:
            if at > bound and at > self._latest_plausible(sku, now):
                ahead.append(SaleEvent(sku, at, units, channel))
                at = now
            history = histories.get(sku)
            if history is None:
                history = histories[sku] = SalesHistory(bucket, keep)
            orders = 1 if units > 0 else 0
            history.record(at, units, orders)
            per_channel = channels.get((channel, sku))
            if per_channel is None:
                per_channel = channels[(channel, sku)] = SalesHistory(
                    bucket, self.forecast.window_minutes * 2
                )
            per_channel.record(at, units, orders)
            if at > latest:
                latest = at
        if ahead:
            first = ahead[0]
            log.warning(
                "sales_stamped_in_the_future",
                count=len(ahead),
                sku=first.sku,
                channel=first.channel,
                placed_at=first.at,
                counted_at=now,
            )
        self.events += len(sales)
        self.watermark = latest
        if stock:
            current = self.stock
            for sku, snapshot in stock.items():
                known = current.get(sku)
                if known is None or snapshot.version == 0 or snapshot.version >= known.version:
                    current[sku] = snapshot
        self.dirty.update(event.sku for event in sales)
        self.dirty.update(stock or ())
        if math.isinf(self.evaluate_every_seconds) or (
            now - self._evaluated_at < self.evaluate_every_seconds
        ):
            return []
        self._evaluated_at = now
        touched, self.dirty = self.dirty, set()
        return self.evaluate(touched)

    def _latest_plausible(self, sku: str, now: float) -> float:
        """The latest event time a sale of ``sku`` may carry at wall time ``now``:
        ``max_ahead_seconds`` after ``now``, or after the end of the SKU's show
        (``on_sale_until``) when it is later: a simulation defines its SKUs with its own
        show times, which may run ahead of the wall clock. A sale stamped later is counted
        at ``now`` (a platform's clock or payload is off)."""
        known = self.settings.get(sku)
        until = known.on_sale_until if known is not None else None
        return max(now, until or now) + self.max_ahead_seconds

    @property
    def keep_minutes(self) -> float:
        """How much sales history the rate and the change test need (minutes)."""
        f = self.forecast
        return (
            max(f.max_rate_window_minutes, f.surge_scan_minutes + f.baseline_minutes, f.window_minutes * 2)
            + 1
        )

    def rebuild(
        self, sales: Sequence[SaleEvent], stock: Mapping[str, StockSnapshot], now: float
    ) -> list[Notification]:
        """After a restart: refill the windows from the durable sales of the last
        ``keep_minutes`` (the ledger stream), take the current stock, and settle every
        open alert against them at once (a restart never shows an alert the current
        stock contradicts). Returns the notifications of that settling."""
        every, self.evaluate_every_seconds = self.evaluate_every_seconds, math.inf
        try:
            self.record(sales, stock)
        finally:
            self.evaluate_every_seconds = every
        self.watermark = max(self.watermark, now)
        skus = set(self.histories) | {
            a.sku for a in self.book.open.values() if a.level != Level.CHANNEL_STALLED
        }
        self.dirty.clear()
        return self.evaluate(skus, settle=True)

    def flush(self) -> list[Notification]:
        """Evaluate the SKUs whose evaluation ``record`` postponed."""
        self._evaluated_at = self.clock()
        touched, self.dirty = self.dirty, set()
        return self.evaluate(touched)

    def advance(self, watermark: float | None = None) -> list[Notification]:
        """A tick: move event time to ``watermark`` (default: clock - lateness) and
        evaluate every SKU that has sales or open alerts, and the channels."""
        target = self.clock() - self.lateness_seconds if watermark is None else watermark
        self.watermark = max(self.watermark, target)
        skus = set(self.histories) | {
            a.sku for a in self.book.open.values() if a.level != Level.CHANNEL_STALLED
        }
        self.dirty.clear()
        return self.evaluate(skus) + self._evaluate_channels()

    # ---- evaluation -------------------------------------------------------------------

    def measure(self, sku: str) -> tuple[Velocity, StockoutForecast, StockView]:
        history = self.histories.get(sku) or SalesHistory(self.forecast.bucket_seconds)
        snapshot = self.stock.get(sku, StockSnapshot(0, 0))
        settings = self.settings.get(sku, SkuSettings(sku))
        ends = settings.on_sale_until
        remaining = None if ends is None else (ends - self.watermark) / 60.0
        view = StockView(sku, snapshot.available, snapshot.inbound, settings.lead_time_minutes, remaining)
        velocity = measure_velocity(
            history,
            self.watermark,
            self.forecast,
            depletion_rate(view, self.forecast),
            consequence_horizon(view, self.forecast),
            settings.on_sale_since,
        )
        stockout = forecast_stockout(snapshot.available, snapshot.inbound, velocity, self.watermark)
        return velocity, stockout, view

    def forget(self, skus: Iterable[str]) -> list[Notification]:
        """SKUs taken out of the catalogue: their open alerts resolve at once (no hold
        time: there is nothing left to sell), and their sales and stock are dropped."""
        notes: list[Notification] = []
        wall = self.clock()
        now = self.watermark if self.watermark != -math.inf else wall
        for sku in sorted(set(skus)):
            for alert in [a for a in self.book.open.values() if a.sku == sku]:  # pending ones too
                removed = Verdict(sku, alert.level, False, "the SKU was removed from the catalogue", {})
                notes += self.book.step([removed], now, wall, channel=alert.channel, settle=True)
            for table in (self.histories, self.stock, self.settings):
                table.pop(sku, None)
            self.dirty.discard(sku)
            for key in [key for key in self.channels if key[1] == sku]:
                del self.channels[key]
        return notes

    def evaluate(self, skus: Iterable[str], *, settle: bool = False) -> list[Notification]:
        if self.watermark == -math.inf:
            return []
        notes: list[Notification] = []
        wall = self.clock()
        for sku in sorted(skus):
            if sku not in self.stock:
                continue  # no committed stock seen yet: nothing to judge against
            velocity, stockout, view = self.measure(sku)
            settings = self.settings.get(sku, SkuSettings(sku))
            alert_settings = dataclasses.replace(
                self.alerts, safety_floor=settings.safety_floor, critical_floor=settings.critical_floor
            )
            current = self.book.current_level(sku)
            verdict = evaluate_sku(view, velocity, stockout, self.forecast, alert_settings, current)
            hints = {}
            if verdict.active:
                hints[verdict.level] = self._hint(sku, verdict.level, velocity, stockout).chat_hint
            notes += self.book.step([verdict], self.watermark, wall, hints=hints, settle=settle)
        return notes

    def _evaluate_channels(self) -> list[Notification]:
        names = {channel for channel, _ in self.channels}
        if len(names) < 2:
            return []
        minutes = self.forecast.window_minutes
        last: dict[str, dict[str, int]] = {c: {} for c in names}
        previous: dict[str, dict[str, int]] = {c: {} for c in names}
        for (channel, sku), history in self.channels.items():
            last[channel][sku] = history.window(self.watermark, minutes)[1]
            previous[channel][sku] = history.window(self.watermark - minutes * 60, minutes)[1]
        in_stock = {sku for sku, snapshot in self.stock.items() if snapshot.available > 0}
        stalled = set(stalled_channels(last, previous, in_stock))
        notes: list[Notification] = []
        for channel in sorted(names):
            active = channel in stalled
            before, now = sum(previous[channel].values()), sum(last[channel].values())
            reason = (
                (
                    f"{channel} delivered {before} orders in the window before and none in the "
                    f"last {minutes:.0f} min while its SKUs still have stock and sell elsewhere"
                )
                if active
                else ""
            )
            verdict = Verdict(
                "*",
                Level.CHANNEL_STALLED,
                active,
                reason,
                {"channel": channel, "last_orders": now, "previous_orders": before},
            )
            notes += self.book.step([verdict], self.watermark, self.clock(), channel=channel)
        return notes

    # ---- views ------------------------------------------------------------------------

    def _hint(self, sku: str, level: str | None, velocity: Velocity, stockout: StockoutForecast) -> LiveHint:
        snapshot = self.stock.get(sku, StockSnapshot(0, 0))
        settings = self.settings.get(sku, SkuSettings(sku))
        available_of = {s: self.stock[s].available for s in settings.substitutes if s in self.stock}
        names = {s: self.settings[s].name or s for s in settings.substitutes if s in self.settings}
        return live_hint(
            sku,
            snapshot.available,
            snapshot.reserved,
            level,
            settings.substitutes,
            available_of,
            self.live,
            names,
            rate=velocity.projected_rate,
            eta_minutes=None if math.isinf(stockout.minutes) else stockout.minutes,
        )

    def hint(self, sku: str) -> LiveHint:
        """The live room's view of ``sku`` at its open alert's level."""
        velocity, stockout, _ = self.measure(sku)
        return self._hint(sku, self.book.highest_level(sku), velocity, stockout)

    def view(self, sku: str) -> dict[str, Any]:
        """Velocity, acceleration, ETA and sellable count of ``sku`` (for operators)."""
        velocity, stockout, stock = self.measure(sku)
        hint = self._hint(sku, self.book.highest_level(sku), velocity, stockout)
        return {
            "sku": sku,
            "at": self.watermark,
            "velocity_per_min": round(velocity.projected_rate, 3),
            "last_rate": round(velocity.last_rate, 3),
            "previous_rate": round(velocity.previous_rate, 3),
            "acceleration": None if velocity.ratio is None else round(velocity.ratio, 3),
            "eta_minutes": None if math.isinf(stockout.minutes) else round(stockout.minutes, 2),
            "available": stock.available,
            "sellable_orders": hint.sellable_orders,
            "host_line": hint.host_line,
            "chat_hint": hint.chat_hint,
            "alerts": [a._asdict() for a in self.book.firing(sku)],
        }
