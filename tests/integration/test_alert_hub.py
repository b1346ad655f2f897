"""AlertHub against a real redis-server and a real local HTTP receiver: durable history,
restarts, acknowledgements, silences, grouped webhooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from actors.alerts.hub import AlertHub
from actors.alerts.store import RedisAlertStore
from actors.alerts.webhooks import WebhookSender
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.channels.signing import signature_problem
from policies.silences import Silence
from policies.subscriptions import Subscription
from tests.support import Receiver, fresh_namespace

T0 = 1_762_862_400.0
SECRET = b"alerts-webhook-secret"
FAST = LifecycleSettings(pending_seconds=30, keep_firing_seconds=60)


def verdict(sku: str, level: str, active: bool, eta: float = 40.0) -> Verdict:
    return Verdict(
        sku,
        level,
        active,
        "why: seen and explained" if active else "",
        {"available": 120, "eta_minutes": eta, "safety_line": 150},
    )


def store_for(config: StoreConfig) -> RedisAlertStore:
    """The actor's store: its own connection (bytes replies), the test's namespace."""
    return RedisAlertStore(redis.Redis.from_url(config.redis_url, socket_timeout=30.0), config.namespace)


def hub_for(config: StoreConfig, **options: Any) -> AlertHub:
    return AlertHub(store_for(config), **options)


def fire(hub: AlertHub, sku: str, level: str, at: float) -> None:
    hub.step([verdict(sku, level, True)], at, at)
    hub.step([verdict(sku, level, True)], at + 30, at + 30)


def test_history_open_alerts_acks_and_silences_survive_a_restart(config: StoreConfig) -> None:
    hub = hub_for(config, settings=FAST)
    fire(hub, "HOODIE", Level.THRESHOLD, T0)
    (alert,) = hub.open_alerts()
    assert hub.acknowledge(alert["id"], "operator-li") is not None
    hub.silence(Silence("s1", "SNACK", "*", T0 + 10_000, "operator-li", "restock booked"))

    restarted = hub_for(config, settings=FAST)
    (again,) = restarted.open_alerts()
    assert again["id"] == alert["id"]
    assert again["acked_by"] == "operator-li"
    assert "s1" in restarted.silences
    history = restarted.history()
    assert [(record["kind"], record["alert"]["sku"]) for _, record in history] == [("firing", "HOODIE")]
    # clearing for longer than keep-firing resolves it, durably
    restarted.step([verdict("HOODIE", Level.THRESHOLD, False)], T0 + 100, T0 + 100)
    notes = restarted.step([verdict("HOODIE", Level.THRESHOLD, False)], T0 + 200, T0 + 200)
    assert [n.kind for n in notes] == ["resolved"]
    assert hub_for(config, settings=FAST).open_alerts() == []
    entry_id = history[0][0]
    assert [r["kind"] for _, r in restarted.history(after=entry_id)] == ["resolved"]


def test_a_silence_mutes_notifications_but_keeps_the_alert(config: StoreConfig) -> None:
    hub = hub_for(config, settings=FAST)
    hub.silence(Silence("quiet", "SNACK", Level.TREND, T0 + 3600, "ops"))
    hub.step([verdict("SNACK", Level.TREND, True)], T0, T0)
    (note,) = hub.step([verdict("SNACK", Level.TREND, True)], T0 + 30, T0 + 30)
    assert note.silenced
    assert [a["sku"] for a in hub.open_alerts()] == ["SNACK"]


def test_webhook_that_fails_twice_gets_the_digest_once_signed(
    config: StoreConfig, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE", "127.0.0.1")  # the receiver is on loopback
    delays: list[float] = []
    store = store_for(config)
    hub = AlertHub(store, settings=FAST, sender=WebhookSender(store, sleep=delays.append))
    hub.subscribe(
        Subscription("ops-room", receiver.url, SECRET, (Level.THRESHOLD, Level.EMERGENCY), group_wait=0)
    )
    receiver.answer(500, 502, 200)

    fire(hub, "HOODIE", Level.THRESHOLD, T0)
    fire(hub, "CAP", Level.THRESHOLD, T0)
    fire(hub, "SOCKS", Level.TREND, T0)  # not a level this subscription wants
    assert hub.flush_digests() == 1

    answers = [r.answer for r in receiver.requests]
    assert answers == [500, 502, 200]
    delivered = receiver.requests[-1]
    assert signature_problem(SECRET, delivered.body, delivered.headers["X-Flashstock-Signature"]) is None
    digest = json.loads(delivered.body)
    assert [n["alert"]["sku"] for n in digest["notifications"]] == ["HOODIE", "CAP"]
    assert len(delays) == 2
    assert hub.flush_digests() == 0  # nothing new: nothing sent again
    assert len(receiver.requests) == 3


def test_subscription_with_a_bad_url_is_refused(config: StoreConfig) -> None:
    hub = hub_for(config)
    for url in ("ftp://example.org/hook", "not a url"):
        with pytest.raises(ValueError, match=r"scheme|whitespace"):
            hub.subscribe(Subscription("bad", url, SECRET, group_wait=0))
    assert hub.subscriptions == {}


def test_a_notification_redis_could_not_store_is_raised_again_once_it_is_back(
    own_redis_server: RedisServer,
) -> None:
    config = StoreConfig(own_redis_server.url, namespace=fresh_namespace(), shard_count=1)
    hub = hub_for(config, settings=LifecycleSettings(pending_seconds=0))
    heard: list[dict[str, object]] = []
    hub.listeners.append(heard.append)
    own_redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        hub.step([verdict("HOODIE", Level.EMERGENCY, True)], T0, T0)
    assert heard == []  # nobody was told what is not durable
    own_redis_server.restart()

    notes = hub.step([verdict("HOODIE", Level.EMERGENCY, True)], T0 + 10, T0 + 10)

    assert [(n.kind, n.alert.level) for n in notes] == [("firing", Level.EMERGENCY)]
    assert [r["kind"] for _, r in hub_for(config).history()] == ["firing"]
    assert len(heard) == 1
