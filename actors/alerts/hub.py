"""AlertHub: the alert book made durable, and told to whoever listens.

Every notification (firing, escalated, worsened, resolved) is appended to the Redis
Stream ``ns:alerts`` (the durable history, replayable from any id: the SSE route resumes
from it with ``Last-Event-ID``), and the open alerts and silences are kept in the hashes
``ns:alerts:open`` and ``ns:alerts:silences``, all in one transaction per evaluation. A
restarted hub reloads them, so open alerts, acknowledgements and silences survive.

Fan-out: in-process listeners (the HTTP app's SSE streams) get every notification;
webhook subscriptions get the ones of their levels that are neither silenced nor
inhibited, grouped into one digest per subscription every ``group_interval`` seconds (so
200 SKUs crossing a line at once are one request, not 200), delivered by
``WebhookSender`` with retries, an HMAC signature and a dead-letter list.

Crash and retry: the stream write and the state write are one MULTI/EXEC; a crash before
it loses only notifications that no one has seen yet (the next evaluation raises them
again while the condition holds). Webhook digests waiting for their interval are lost
with the process; the stream keeps them, so a receiver can catch up from it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
import structlog

from actors.alerts.webhooks import Subscription, WebhookSender, url_problem
from actors.infra import keys
from actors.infra.codec import notification_record
from actors.infra.settings import StoreConfig
from policies.alert_book import AlertBook
from policies.alert_lifecycle import Alert, LifecycleSettings, Notification, Silence, Status
from policies.alert_rules import Verdict

log = structlog.get_logger(__name__)

Listener = Callable[[dict[str, Any]], None]


class AlertHub(AlertBook):
    def __init__(
        self,
        config: StoreConfig,
        *,
        settings: LifecycleSettings | None = None,
        sender: WebhookSender | None = None,
        group_interval: float = 5.0,
        stream_maxlen: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings)
        ns = config.namespace
        self.stream_key = keys.alert_stream(ns)
        self.open_key = keys.open_alerts(ns)
        self.silences_key = keys.silences(ns)
        self.subscriptions_key = keys.subscriptions(ns)
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=30.0)
        self.sender = sender or WebhookSender(self.redis, ns)
        self.group_interval = group_interval
        self.stream_maxlen = stream_maxlen
        self.clock = clock
        self.listeners: list[Listener] = []
        self._digests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._digest_lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}
        self._restore()

    # ---- state ------------------------------------------------------------------------

    def _restore(self) -> None:
        alerts = [Alert(**json.loads(raw)) for raw in self.redis.hvals(self.open_key)]
        silences = [Silence(**json.loads(raw)) for raw in self.redis.hvals(self.silences_key)]
        self.restore(alerts, silences)
        for raw in self.redis.hvals(self.subscriptions_key):
            data = json.loads(raw)
            data["secret"] = data["secret"].encode()
            data["levels"] = tuple(data.get("levels", ()))
            sub = Subscription(**data)
            self.subscriptions[sub.id] = sub
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
    ) -> list[Notification]:
        before = self.open  # ``step_alerts`` builds a new mapping; this one stays as it is
        notes = super().step(verdicts, now, now_wall, hints=hints, channel=channel)
        if notes:
            try:
                self._persist(notes)
            except Exception:
                # Not durable, so not told: forget the step, and the next evaluation
                # raises the same notifications again while the condition holds.
                self.open = before
                raise
            self._fan_out(notes)
        return notes

    def _persist(self, notes: Sequence[Notification]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        for note in notes:
            record = notification_record(note)
            if note.alert.status == Status.RESOLVED:
                pipe.hdel(self.open_key, note.alert.id)
            else:
                pipe.hset(self.open_key, note.alert.id, json.dumps(note.alert._asdict(), ensure_ascii=False))
            pipe.xadd(
                self.stream_key,
                {"alert": json.dumps(record, ensure_ascii=False)},
                maxlen=self.stream_maxlen,
                approximate=True,
            )
        ids = pipe.execute()[1::2]
        for note, entry_id in zip(notes, ids, strict=True):
            log.info(
                "alert_notified",
                sku=note.alert.sku,
                level=note.alert.level,
                kind=note.kind,
                alert=note.alert.id,
                entry=entry_id.decode(),
                inhibited=note.inhibited,
                silenced=note.silenced,
            )

    def acknowledge(self, alert_id: str, who: str, now_wall: float | None = None) -> Alert | None:
        alert = super().acknowledge(alert_id, who, self.clock() if now_wall is None else now_wall)
        if alert is not None:
            self.redis.hset(self.open_key, alert.id, json.dumps(alert._asdict(), ensure_ascii=False))
            log.info("alert_acknowledged", alert=alert_id, sku=alert.sku, by=who)
        return alert

    def silence(self, silence: Silence) -> None:
        super().silence(silence)
        self.redis.hset(self.silences_key, silence.id, json.dumps(silence._asdict()))
        log.info(
            "alert_silenced",
            silence=silence.id,
            sku=silence.sku,
            level=silence.level,
            until=silence.until_wall,
            by=silence.created_by,
        )

    def expire_silences(self, now_wall: float) -> list[Silence]:
        expired = super().expire_silences(now_wall)
        if expired:
            self.redis.hdel(self.silences_key, *[s.id for s in expired])
        return expired

    def history(self, after: str = "-", count: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        """Notifications from the stream after entry id ``after`` (exclusive), oldest
        first: what an SSE client resuming with Last-Event-ID missed."""
        start = "-" if after in ("-", "", "0") else f"({after}"
        return [
            (entry_id.decode(), json.loads(fields[b"alert"]))
            for entry_id, fields in self.redis.xrange(self.stream_key, start, "+", count=count)
        ]

    # ---- fan-out ----------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        problem = url_problem(subscription.url)
        if problem:
            raise ValueError(problem)
        self.subscriptions[subscription.id] = subscription
        stored = {**subscription._asdict(), "secret": subscription.secret.decode()}
        self.redis.hset(self.subscriptions_key, subscription.id, json.dumps(stored))

    def unsubscribe(self, subscription_id: str) -> bool:
        removed = self.subscriptions.pop(subscription_id, None) is not None
        self.redis.hdel(self.subscriptions_key, subscription_id)
        return removed

    def _fan_out(self, notes: Sequence[Notification]) -> None:
        records = [notification_record(n) for n in notes]
        for listener in list(self.listeners):
            for record in records:
                try:
                    listener(record)
                except Exception:
                    log.exception("alert_listener_failed")
        with self._digest_lock:
            for note, record in zip(notes, records, strict=True):
                if note.silenced or note.inhibited:
                    continue
                for sub in self.subscriptions.values():
                    if not sub.levels or note.alert.level in sub.levels:
                        self._digests[sub.id].append(record)

    def flush_digests(self) -> int:
        """Send each subscription its waiting notifications as one digest (blocking, with
        the sender's retries); the number of digests delivered."""
        with self._digest_lock:
            waiting, self._digests = self._digests, defaultdict(list)
        delivered = 0
        for sub_id, records in waiting.items():
            sub = self.subscriptions.get(sub_id)
            if sub is None or not records:
                continue
            first = records[0]["alert"]
            event_id = f"{sub_id}:{first['id']}:{first['updated_wall']}:{len(records)}"
            payload = {"subscription": sub_id, "count": len(records), "notifications": records}
            delivered += self.sender.deliver(sub, event_id, payload)
        return delivered

    def open_alerts(self) -> list[dict[str, Any]]:
        return [
            a._asdict()
            for a in sorted(self.open.values(), key=lambda a: a.since)
            if a.status == Status.FIRING
        ]
