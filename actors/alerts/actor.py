"""The Ray actor that hosts the Forecaster and the AlertHub of a deployment.

SKU owners send it each durable batch's sales and fresh stock, fire-and-forget (a call
they never wait for: reservations are never slowed by forecasting). A tick thread evaluates
SKUs whose evaluation was coalesced (every 0.2 s), moves event time forward so quiet
periods still count (every 5 s) and expires silences; notifications go to the
subscriptions' receivers through ``Delivery``'s own threads, off this one. The
forecaster and the hub share one process so verdicts reach the alert
lifecycle in order and without another hop.

This is the process's composition root: it opens the Redis connection, builds the alert
store on it, the webhook sender and the hub on the store, and the forecaster on the hub.

Restart: the hub reloads open alerts, silences and subscriptions from Redis; the
forecaster reloads SKU settings and stock from the ledger, refills its windows from the
ledger stream's recent entries (``actors/alerts/rebuild.py``) and settles every open
alert against the current stock at once, before the tick thread evaluates anything.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import ray
import structlog

from actors.alerts.delivery.worker import Delivery
from actors.alerts.forecaster import Forecaster
from actors.alerts.hub import AlertHub
from actors.alerts.rebuild import sales_of
from actors.alerts.store import HistoryEntry, RedisAlertStore
from actors.alerts.webhooks import WebhookSender
from actors.infra.codec import notification_record
from actors.infra.directory import actor_options, forecaster_name
from actors.infra.logging import configure_logging
from actors.infra.redis_client import connect
from actors.infra.settings import StoreConfig, tune_gc_for_throughput
from actors.infra.wire import Origin, SaleEvent, stock_of, unpack_commit
from actors.owner.reads import read_log_since, read_skus
from policies.alert_lifecycle import LifecycleSettings
from policies.silences import Silence
from policies.subscriptions import Subscription
from policies.velocity import ForecastSettings

log = structlog.get_logger(__name__)

#: in the live service (not driven by a simulation) a sale stamped more than this after
#: the wall clock is counted now (``Forecaster.max_ahead_seconds``): a platform's clock a
#: little ahead is fine, an order stamped hours or years ahead does not move event time
LIVE_MAX_AHEAD_SECONDS = 300.0


class HeardFrom:
    """Which owners' batches have arrived. Fire-and-forget calls to a threaded actor may
    run out of order, so per owner it keeps the epoch, the highest sequence number below
    which nothing is missing, and the numbers that came early."""

    def __init__(self) -> None:
        self.owners: dict[int, tuple[int, int, set[int]]] = {}

    def add(self, origin: Origin) -> None:
        index, epoch, seq = origin
        known_epoch, upto, early = self.owners.get(index, (epoch, 0, set()))
        if epoch < known_epoch:
            return  # a fenced incarnation's last word
        if epoch > known_epoch:
            upto, early = 0, set()
        early.add(seq)
        while upto + 1 in early:
            upto += 1
            early.discard(upto)
        self.owners[index] = (epoch, upto, early)

    def has_all(self, sent: Sequence[Origin]) -> bool:
        """Whether every batch the owners say they sent (``forecast_sent``) has arrived."""
        for index, epoch, count in sent:
            known_epoch, upto, _ = self.owners.get(index, (epoch, 0, set()))
            if known_epoch < epoch or (known_epoch == epoch and upto < count):
                return False
        return True


class ForecasterService:
    """``driven=True`` (a simulation): event time moves only by ``advance_to`` and SKUs
    are evaluated only there, at the moments of show time the driver chooses, so the
    same show gives the same alerts at any speed. Otherwise the wall clock drives it."""

    def __init__(
        self,
        config: StoreConfig,
        tick_seconds: float = 0.2,
        advance_every_seconds: float = 5.0,
        lifecycle: LifecycleSettings | None = None,
        forecast: ForecastSettings | None = None,
        driven: bool = False,
    ) -> None:
        configure_logging()
        #: when this incarnation started (wall clock), so a restart can be told apart
        self.started_wall = time.time()
        self.driven = driven
        self.redis = connect(config.redis_url, socket_timeout=30.0)
        store = RedisAlertStore(self.redis, config.namespace)
        self.delivery = Delivery(WebhookSender(store), store, show=config.namespace)
        self.delivery.start()
        self.hub = AlertHub(store, settings=lifecycle, delivery=self.delivery)
        self.forecaster = Forecaster(
            book=self.hub,
            forecast=forecast,
            evaluate_every_seconds=math.inf if driven else 0.1,
            max_ahead_seconds=math.inf if driven else LIVE_MAX_AHEAD_SECONDS,
        )
        self._lock = threading.Lock()
        self._heard_changed = threading.Condition(self._lock)
        self.heard = HeardFrom()
        self._load(config)
        self.tick_seconds = tick_seconds
        self.advance_every_seconds = advance_every_seconds
        self._stop = threading.Event()
        tune_gc_for_throughput()  # after loading: the sales windows loaded are frozen
        self._ticker = threading.Thread(target=self._run, name="forecaster-tick", daemon=True)
        self._ticker.start()

    def _load(self, config: StoreConfig) -> None:
        """SKU settings and committed stock of every SKU, from the ledgers; the sales
        windows from the ledger stream; then the open alerts settled against them."""
        committed = read_skus(self.redis, config)
        self.forecaster.update_skus(settings for _, settings in committed.values())
        stock = {sku: stock_of(ledger) for sku, (ledger, _) in committed.items()}
        now = time.time()
        entries = read_log_since(self.redis, config, now - self.forecaster.keep_minutes * 60)
        sales = sales_of(entries)
        if self.driven:
            # a simulation's event time is the show clock: settle at the newest sale
            at = max((sale.at for sale in sales), default=-math.inf)
        else:
            at = now - self.forecaster.lateness_seconds
        if math.isinf(at):
            self.forecaster.record([], stock)
            notes = []
        else:
            notes = self.forecaster.rebuild(sales, stock, at)
        log.info(
            "forecaster_rebuilt",
            skus=len(stock),
            ledger_entries=len(entries),
            sales=len(sales),
            open_alerts=len(self.hub.open),
            settled=len(notes),
        )

    def _run(self) -> None:
        """Every tick: evaluate SKUs with postponed sales. Every ``advance_every_seconds``:
        move event time with the clock and evaluate every SKU (quiet ones too)."""
        next_advance = time.monotonic()
        while not self._stop.wait(self.tick_seconds):
            try:
                with self._lock:
                    if not self.driven:
                        self.forecaster.flush()
                    if time.monotonic() >= next_advance:
                        if not self.driven:
                            self.forecaster.advance()
                        self.hub.expire_silences(time.time())
                        next_advance = time.monotonic() + self.advance_every_seconds
            except Exception:
                log.exception("forecaster_tick_failed")

    # ---- input from the owners ----------------------------------------------------------

    def record(self, payload: bytes) -> int:
        """A durable batch's (sales, stock, settings) from ``pack_commit``; notifications."""
        origin, sales, stock, settings = unpack_commit(payload)
        with self._lock:
            self.forecaster.update_skus(settings)
            notes = self.forecaster.record([SaleEvent(*s) for s in sales], stock)
            self.heard.add(origin)
            self._heard_changed.notify_all()
        return len(notes)

    def advance_to(
        self, watermark: float, sent: Sequence[Origin], skus: Sequence[str] = (), timeout: float = 30.0
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Once every batch in ``sent`` (the owners' ``forecast_sent``) has arrived, move
        event time to ``watermark`` and evaluate (what a simulation's show clock calls);
        returns the notifications and the views of ``skus``. ``TimeoutError`` if the
        batches do not arrive within ``timeout`` seconds (a restarted forecaster has lost
        what it heard)."""
        with self._heard_changed:
            if not self._heard_changed.wait_for(lambda: self.heard.has_all(sent), timeout):
                raise TimeoutError(f"the forecaster has not heard every owner batch of {sent}")
            notes = self.forecaster.advance(watermark)
            return (
                [notification_record(note) for note in notes],
                [self.forecaster.view(sku) for sku in skus],
            )

    def forget_skus(self, skus: Sequence[str]) -> int:
        """SKUs removed from the catalogue: their open alerts resolve now (the resolved
        notifications go out as any other); how many notifications that made."""
        with self._lock:
            return len(self.forecaster.forget(skus))

    # ---- operators ----------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.hub.open_alerts()

    def history(self, after: str = "-", count: int = 1000) -> list[HistoryEntry]:
        return self.hub.history(after, count)

    def acknowledge(self, alert_id: str, who: str) -> dict[str, Any] | None:
        with self._lock:
            alert = self.hub.acknowledge(alert_id, who)
        return None if alert is None else alert._asdict()

    def silence(self, silence: Silence) -> None:
        with self._lock:
            self.hub.silence(silence)

    def unsilence(self, silence_id: str, who: str) -> bool:
        with self._lock:
            return self.hub.unsilence(silence_id, who) is not None

    def subscribe(self, subscription: Subscription) -> None:
        self.hub.subscribe(subscription)

    def unsubscribe(self, subscription_id: str) -> bool:
        return self.hub.unsubscribe(subscription_id)

    def view(self, sku: str) -> dict[str, Any]:
        with self._lock:
            return self.forecaster.view(sku)

    def views(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [self.forecaster.view(sku) for sku in skus]

    def hints(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        with self._lock:
            return [self.forecaster.hint(sku)._asdict() for sku in skus]

    def stats(self) -> dict[str, Any]:
        return {
            "events": self.forecaster.events,
            "skus": len(self.forecaster.histories),
            "started_wall": self.started_wall,
            "open_alerts": len(self.hub.open),
            "watermark": self.forecaster.watermark,
        }

    def stop(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=10)
        self.delivery.stop()


# Ray's stubs type ``ray.remote(**options)`` without the actor option ``max_concurrency``,
# which ray.remote accepts at run time (and the threaded actor needs).
ForecasterActor = ray.remote(max_restarts=-1, max_concurrency=4)(ForecasterService)  # type: ignore[call-overload]


def start_forecaster(config: StoreConfig, *, detached: bool = False, **options: Any) -> Any:
    """Start (or find) the deployment's forecaster; ``options`` go to its constructor."""
    actor = ForecasterActor.options(**actor_options(forecaster_name(config), detached=detached)).remote(
        config, **options
    )
    ray.get(actor.stats.remote())
    return actor
