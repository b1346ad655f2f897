"""AlertHub: the alert book made durable, and told to whoever listens.

The lifecycle itself is the pure ``AlertBook``; the hub wraps it with its store
(``actors.alerts.store.AlertStore``, Redis in the actor). Every notification (firing,
escalated, deescalated, eta, surge, resolved: ``policies.alert_lifecycle.Kind``) is
appended to the durable stream (``{ns:alerts}`` in Redis: replayable from any id, the SSE
route resumes from it with ``Last-Event-ID``) together with the open alerts it changes,
in one transaction per evaluation; silences, acknowledgements and subscriptions are
stored as they are made. A restarted hub reloads them, so open alerts, acknowledgements
and silences survive. The hub is the ``Book`` the ``Forecaster`` steps.

Fan-out: in-process listeners (the HTTP app's SSE streams) get every notification;
subscriptions get the ones of their levels that are told (not silenced, inhibited or
quiet: ``Notification.told``),
handed to ``actors.alerts.delivery.worker.Delivery``: grouped per subscription and show
(group_wait, group_interval, repeat_interval; so 200 SKUs crossing a line at once are one
message, not 200) and sent by each receiver's own thread in its format, with retries, a
signature where its platform has one and a dead-letter list (``WebhookSender``). Handing
over is a dictionary update: a slow or dead receiver never holds up evaluation.

Crash and retry: the stream write and the state write are one transaction; a crash before
it loses only notifications that no one has seen yet (the next evaluation raises them
again while the condition holds). Webhook digests waiting for their interval are lost
with the process; the stream keeps them, so a receiver can catch up from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from actors.alerts.delivery.worker import Delivery, Sender
from actors.alerts.store import AlertStore, HistoryEntry
from actors.alerts.webhooks import WebhookSender, url_problem
from actors.infra.codec import alert_of, notification_record
from policies.alert_book import AlertBook
from policies.alert_lifecycle import Alert, Kind, LifecycleSettings, Notification, Status
from policies.alert_rules import Verdict
from policies.silences import Silence
from policies.subscriptions import Subscription, subscription_problem

log = structlog.get_logger(__name__)

Listener = Callable[[dict[str, Any]], None]

#: stream entries a restarted hub reads back for recent resolutions (the re-fire hold)
RECENT_ENTRIES = 2000


class AlertHub:
    def __init__(
        self,
        store: AlertStore,
        *,
        settings: LifecycleSettings | None = None,
        sender: Sender | None = None,
        delivery: Delivery | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``delivery`` defaults to an unstarted ``Delivery`` over ``sender`` (default: a
        ``WebhookSender`` on the store); the actor passes a started one."""
        self.book = AlertBook(settings)
        self.store = store
        self.delivery = delivery or Delivery(sender or WebhookSender(store), store, clock=clock)
        self.clock = clock
        self.listeners: list[Listener] = []
        self.subscriptions: dict[str, Subscription] = {}
        self._restore()

    # ---- state ------------------------------------------------------------------------

    @property
    def open(self) -> dict[str, Alert]:
        """The open alerts by key (``Alert.key``)."""
        return self.book.open

    @property
    def silences(self) -> dict[str, Silence]:
        return self.book.silences

    def _restore(self) -> None:
        recent = [
            alert_of(record["alert"])
            for _, record in self.store.latest(RECENT_ENTRIES)
            if record.get("kind") == Kind.RESOLVED
        ]
        self.book.restore(self.store.open_alerts(), self.store.silences(), recent)
        self.subscriptions = {sub.id: sub for sub in self.store.subscriptions()}
        for sub in self.subscriptions.values():
            self.delivery.subscribe(sub)
        log.info(
            "alert_hub_restored",
            open=len(self.open),
            silences=len(self.silences),
            subscriptions=len(self.subscriptions),
        )

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
        """``AlertBook.step``, made durable before anyone is told."""
        # ``step_alerts`` builds new mappings; these stay as they are
        before, resolved_before = self.book.open, self.book.resolved
        notes = self.book.step(verdicts, now, now_wall, hints=hints, channel=channel, settle=settle)
        if notes:
            try:
                self._persist(notes)
            except Exception:
                # Not durable, so not told: forget the step, and the next evaluation
                # raises the same notifications again while the condition holds.
                self.book.open, self.book.resolved = before, resolved_before
                raise
            self._fan_out(notes)
        return notes

    def _persist(self, notes: Sequence[Notification]) -> None:
        ids = self.store.append(notes)
        for note, entry_id in zip(notes, ids, strict=True):
            log.info(
                "alert_notified",
                sku=note.alert.sku,
                level=note.alert.level,
                kind=note.kind,
                alert=note.alert.id,
                entry=entry_id,
                inhibited=note.inhibited,
                silenced=note.silenced,
                quiet=note.quiet,
            )

    def firing(self, sku: str | None = None) -> list[Alert]:
        return self.book.firing(sku)

    def highest_level(self, sku: str) -> str | None:
        return self.book.highest_level(sku)

    def current_level(self, sku: str) -> str | None:
        return self.book.current_level(sku)

    def acknowledge(self, alert_id: str, who: str, now_wall: float | None = None) -> Alert | None:
        alert = self.book.acknowledge(alert_id, who, self.clock() if now_wall is None else now_wall)
        if alert is not None:
            self.store.save_alert(alert)
            log.info("alert_acknowledged", alert=alert_id, sku=alert.sku, by=who)
        return alert

    def silence(self, silence: Silence) -> None:
        self.book.silence(silence)
        self.store.save_silence(silence)
        log.info(
            "alert_silenced",
            silence=silence.id,
            sku=silence.sku,
            level=silence.level,
            until=silence.until_wall,
            by=silence.created_by,
        )

    def unsilence(self, silence_id: str, who: str) -> Silence | None:
        """Lift a silence early (an operator's ``DELETE /v1/silences/{id}``)."""
        lifted = self.book.unsilence(silence_id)
        if lifted is not None:
            self.store.delete_silences([silence_id])
            log.info("alert_silence_lifted", silence=silence_id, sku=lifted.sku, by=who)
        return lifted

    def expire_silences(self, now_wall: float) -> list[Silence]:
        expired = self.book.expire_silences(now_wall)
        if expired:
            self.store.delete_silences([s.id for s in expired])
        return expired

    def history(self, after: str = "-", count: int = 1000) -> list[HistoryEntry]:
        """Notifications from the stream after entry id ``after`` (exclusive), oldest
        first: what an SSE client resuming with Last-Event-ID missed."""
        return self.store.history(after, count)

    # ---- fan-out ----------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        """Store a subscription; ValueError when its receiver cannot take it
        (``subscription_problem``) or its URL is unusable. No DNS lookup here: the HTTP
        route resolved the host, and every delivery resolves and checks again."""
        sub = subscription
        timing = (sub.group_wait, sub.group_interval, sub.repeat_interval)
        refused = subscription_problem(
            sub.kind, sub.url, sub.secret.decode(errors="replace"), sub.levels, timing
        )
        if refused is not None:
            raise ValueError(f"{refused[0]}: {refused[1]}")
        problem = url_problem(subscription.url, resolve=None)
        if problem:
            raise ValueError(problem)
        self.store.save_subscription(subscription)
        self.subscriptions[subscription.id] = subscription
        self.delivery.subscribe(subscription)

    def unsubscribe(self, subscription_id: str) -> bool:
        removed = self.subscriptions.pop(subscription_id, None) is not None
        self.delivery.unsubscribe(subscription_id)
        self.store.delete_subscription(subscription_id)
        return removed

    def _fan_out(self, notes: Sequence[Notification]) -> None:
        records = [notification_record(n) for n in notes]
        for listener in list(self.listeners):
            for record in records:
                try:
                    listener(record)
                except Exception:
                    log.exception("alert_listener_failed")
        told = [(n, r) for n, r in zip(notes, records, strict=True) if n.told]
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            wanted = [r for n, r in told if not sub.levels or n.alert.level in sub.levels]
            if wanted:
                self.delivery.notify(sub.id, wanted, now)

    def flush_digests(self, now: float | None = None) -> int:
        """Hand the subscriptions' due groups to delivery (``Delivery.flush``): with a
        started delivery this returns at once and the receivers' threads send; unstarted,
        the digests are sent here. The number of digests handed over."""
        return self.delivery.flush(now)

    def open_alerts(self) -> list[dict[str, Any]]:
        return [
            a._asdict() for a in sorted(self.open.values(), key=lambda a: a.since) if a.status in Status.OPEN
        ]
