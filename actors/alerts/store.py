"""Where the alert hub keeps what must survive it: the store interface, Redis and in memory.

``AlertStore`` is all the hub asks of storage: the durable notification stream (appended
to in one transaction with the open alerts it changes, read back after an entry id), the
open alerts, silences, webhook subscriptions and webhook dead letters. ``DeadLetters`` is
the part the webhook sender needs alone.

``RedisAlertStore`` is the system of record (keys from ``actors.infra.keys``, all under
the hash tag ``{ns:alerts}``: the stream ``{ns:alerts}``, ``{ns:alerts}:open``,
``:silences``, ``:subscriptions``, ``:webhook-dead:<id>``); every write goes through
``actors.infra.atomic_write`` (on a Redis Cluster: one slot, on a replica before it
returns). ``MemoryAlertStore`` keeps the same JSON texts in dictionaries,
for fast unit tests; ``tests/contract/test_alert_store_contract.py`` runs one suite
against both so they cannot drift.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from actors.infra import keys
from actors.infra.atomic_write import atomic_write
from actors.infra.codec import (
    decode_alert,
    decode_silence,
    decode_subscription,
    encode_alert,
    encode_notification,
    encode_silence,
    encode_subscription,
    text,
)
from actors.infra.redis_client import RedisClient
from policies.alert_lifecycle import Alert, Notification, Status
from policies.silences import Silence
from policies.subscriptions import Subscription

#: an entry of the notification stream: its id and the notification's JSON record
HistoryEntry = tuple[str, dict[str, Any]]


class DeadLetters(Protocol):
    """Webhook deliveries that failed for good, per subscription, oldest first."""

    def add_dead_letter(self, subscription_id: str, letter: Mapping[str, Any]) -> None: ...

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]: ...


class AlertStore(DeadLetters, Protocol):
    def append(self, notes: Sequence[Notification]) -> list[str]:
        """In one transaction: each notification onto the stream and its alert into the
        open alerts (out of them once resolved); the new entries' ids, in order."""
        ...

    def history(self, after: str = "-", count: int = 1000) -> list[HistoryEntry]:
        """Stream entries after id ``after`` (exclusive; ``-``, ``0`` or empty: from the
        start), oldest first, at most ``count``."""
        ...

    def latest(self, count: int = 1000) -> list[HistoryEntry]:
        """The newest ``count`` stream entries, oldest first (what a restarted hub needs
        to remember recent resolutions)."""
        ...

    def open_alerts(self) -> list[Alert]: ...

    def save_alert(self, alert: Alert) -> None: ...

    def silences(self) -> list[Silence]: ...

    def save_silence(self, silence: Silence) -> None: ...

    def delete_silences(self, silence_ids: Sequence[str]) -> None: ...

    def subscriptions(self) -> list[Subscription]: ...

    def save_subscription(self, subscription: Subscription) -> None: ...

    def delete_subscription(self, subscription_id: str) -> None: ...


# ---- stored formats ----------------------------------------------------------------------


def _start_of(after: str) -> str:
    return "-" if after in ("-", "", "0") else f"({after}"


# ---- Redis ---------------------------------------------------------------------------------


class RedisAlertStore:
    """The alert store in Redis. ``client`` may decode responses or not."""

    def __init__(self, client: RedisClient, namespace: str, *, stream_maxlen: int = 100_000) -> None:
        self.client = client
        self.namespace = namespace
        self.stream_maxlen = stream_maxlen
        self.stream_key = keys.alert_stream(namespace)
        self.open_key = keys.open_alerts(namespace)
        self.silences_key = keys.silences(namespace)
        self.subscriptions_key = keys.subscriptions(namespace)

    def append(self, notes: Sequence[Notification]) -> list[str]:
        if not notes:
            return []

        def queue(pipe: Any) -> None:
            for note in notes:
                if note.alert.status == Status.RESOLVED:
                    pipe.hdel(self.open_key, note.alert.id)
                else:
                    pipe.hset(self.open_key, note.alert.id, encode_alert(note.alert))
                pipe.xadd(
                    self.stream_key,
                    {"alert": encode_notification(note)},
                    maxlen=self.stream_maxlen,
                    approximate=True,
                )

        # repeatable: a repeat puts a notification on the stream twice, as the hub's own
        # recovery would (a failed append is forgotten and raised again at the next step)
        replies = atomic_write(self.client, self.stream_key, queue, repeatable=True)
        return [text(entry_id) for entry_id in replies[1::2]]

    def _write(self, queue: Callable[[Any], None]) -> None:
        """One write of the hub's keys, acknowledged once safe (``atomic_write``);
        repeatable: whole values set or deleted, or a dead letter kept twice."""
        atomic_write(self.client, self.stream_key, queue, repeatable=True)

    def history(self, after: str = "-", count: int = 1000) -> list[HistoryEntry]:
        # redis-py types stream replies loosely; each is (id, {field: value})
        entries: Any = self.client.xrange(self.stream_key, _start_of(after), "+", count=count)
        result: list[HistoryEntry] = []
        for entry_id, fields in entries:
            record = {text(k): v for k, v in fields.items()}["alert"]
            result.append((text(entry_id), json.loads(record)))
        return result

    def latest(self, count: int = 1000) -> list[HistoryEntry]:
        if count <= 0:
            return []
        # redis-py types stream replies loosely; each is (id, {field: value})
        entries: Any = self.client.xrevrange(self.stream_key, count=count)
        result: list[HistoryEntry] = []
        for entry_id, fields in reversed(entries):
            record = {text(k): v for k, v in fields.items()}["alert"]
            result.append((text(entry_id), json.loads(record)))
        return result

    def _values(self, key: str) -> list[str]:
        values: Any = self.client.hvals(key)  # redis-py: list of bytes or str
        return [text(v) for v in values]

    def open_alerts(self) -> list[Alert]:
        return [decode_alert(raw) for raw in self._values(self.open_key)]

    def save_alert(self, alert: Alert) -> None:
        self._write(lambda pipe: pipe.hset(self.open_key, alert.id, encode_alert(alert)))

    def silences(self) -> list[Silence]:
        return [decode_silence(raw) for raw in self._values(self.silences_key)]

    def save_silence(self, silence: Silence) -> None:
        self._write(lambda pipe: pipe.hset(self.silences_key, silence.id, encode_silence(silence)))

    def delete_silences(self, silence_ids: Sequence[str]) -> None:
        if silence_ids:
            self._write(lambda pipe: pipe.hdel(self.silences_key, *silence_ids))

    def subscriptions(self) -> list[Subscription]:
        return [decode_subscription(raw) for raw in self._values(self.subscriptions_key)]

    def save_subscription(self, subscription: Subscription) -> None:
        self._write(
            lambda pipe: pipe.hset(self.subscriptions_key, subscription.id, encode_subscription(subscription))
        )

    def delete_subscription(self, subscription_id: str) -> None:
        self._write(lambda pipe: pipe.hdel(self.subscriptions_key, subscription_id))

    def add_dead_letter(self, subscription_id: str, letter: Mapping[str, Any]) -> None:
        key = keys.webhook_dead(self.namespace, subscription_id)
        self._write(lambda pipe: pipe.rpush(key, json.dumps(letter, ensure_ascii=False)))

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        raw: Any = self.client.lrange(keys.webhook_dead(self.namespace, subscription_id), 0, -1)
        return [json.loads(text(item)) for item in raw]


# ---- in memory -----------------------------------------------------------------------------


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class MemoryAlertStore:
    """The alert store in dictionaries, holding the same JSON texts as Redis (for unit
    tests). Entry ids look like Redis's: ``<clock ms>-<sequence>``, increasing."""

    def __init__(self, *, stream_maxlen: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.stream_maxlen = stream_maxlen
        self.clock = clock
        self.stream: list[tuple[str, str]] = []
        self.open: dict[str, str] = {}
        self.silence_texts: dict[str, str] = {}
        self.subscription_texts: dict[str, str] = {}
        self.dead: dict[str, list[str]] = {}
        self._last = (0, 0)

    def _next_id(self) -> str:
        ms = int(self.clock() * 1000)
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def append(self, notes: Sequence[Notification]) -> list[str]:
        texts = [(note, encode_alert(note.alert), encode_notification(note)) for note in notes]
        ids: list[str] = []
        for note, alert_text, note_text in texts:  # nothing below can fail: all or nothing
            if note.alert.status == Status.RESOLVED:
                self.open.pop(note.alert.id, None)
            else:
                self.open[note.alert.id] = alert_text
            ids.append(self._next_id())
            self.stream.append((ids[-1], note_text))
        del self.stream[: max(0, len(self.stream) - self.stream_maxlen)]
        return ids

    def history(self, after: str = "-", count: int = 1000) -> list[HistoryEntry]:
        start = _start_of(after)
        entries = self.stream
        if start != "-":
            floor = _entry_key(after)
            entries = [e for e in entries if _entry_key(e[0]) > floor]
        return [(entry_id, json.loads(text)) for entry_id, text in entries[:count]]

    def latest(self, count: int = 1000) -> list[HistoryEntry]:
        return [(entry_id, json.loads(text)) for entry_id, text in self.stream[-count:]] if count > 0 else []

    def open_alerts(self) -> list[Alert]:
        return [decode_alert(raw) for raw in self.open.values()]

    def save_alert(self, alert: Alert) -> None:
        self.open[alert.id] = encode_alert(alert)

    def silences(self) -> list[Silence]:
        return [decode_silence(raw) for raw in self.silence_texts.values()]

    def save_silence(self, silence: Silence) -> None:
        self.silence_texts[silence.id] = encode_silence(silence)

    def delete_silences(self, silence_ids: Sequence[str]) -> None:
        for silence_id in silence_ids:
            self.silence_texts.pop(silence_id, None)

    def subscriptions(self) -> list[Subscription]:
        return [decode_subscription(raw) for raw in self.subscription_texts.values()]

    def save_subscription(self, subscription: Subscription) -> None:
        self.subscription_texts[subscription.id] = encode_subscription(subscription)

    def delete_subscription(self, subscription_id: str) -> None:
        self.subscription_texts.pop(subscription_id, None)

    def add_dead_letter(self, subscription_id: str, letter: Mapping[str, Any]) -> None:
        self.dead.setdefault(subscription_id, []).append(json.dumps(letter, ensure_ascii=False))

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.dead.get(subscription_id, [])]
