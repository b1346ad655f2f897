"""AlertHub and Forecaster as plain classes on the in-memory alert store (no Ray, no
Redis): durable-before-told notifications, replay from an id, acknowledgements,
silences and their expiry, subscriptions and webhook digests. The only fake is the
webhook sender at the outside edge (real delivery: tests/integration/test_webhooks.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from actors.alerts.forecaster import Forecaster
from actors.alerts.hub import AlertHub
from actors.alerts.store import MemoryAlertStore
from actors.infra.codec import is_quiet
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.ledger import SkuSettings
from policies.silences import Silence
from policies.subscriptions import Subscription

T0 = 1_762_862_400.0
NOW = LifecycleSettings(pending_seconds=0, keep_firing_seconds=60)
SECRET = b"hub-secret-0123456789"


class FakeSender:
    """Records each digest instead of POSTing it; answers ``ok``."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool:
        self.sent.append((subscription.id, event_id, dict(payload)))
        return self.ok


def verdict(sku: str, level: str, active: bool = True) -> Verdict:
    return Verdict(sku, level, active, "why" if active else "", {"available": 3, "eta_minutes": 4.0})


def hub_on(store: MemoryAlertStore, sender: FakeSender | None = None) -> AlertHub:
    return AlertHub(store, settings=NOW, sender=sender or FakeSender(), clock=lambda: T0 + 1)


def test_a_notification_is_stored_before_listeners_hear_it_and_replays_from_its_id() -> None:
    store = MemoryAlertStore()
    hub = hub_on(store)
    heard: list[dict[str, Any]] = []
    hub.listeners.append(lambda record: heard.append({"stored": len(store.history()), **record}))

    (first,) = hub.step([verdict("HOODIE", Level.THRESHOLD)], T0, T0)
    hub.step([verdict("HOODIE", Level.THRESHOLD, active=False)], T0 + 100, T0 + 100)  # clearing
    hub.step([verdict("HOODIE", Level.THRESHOLD, active=False)], T0 + 200, T0 + 200)  # clear for 60 s

    assert first.kind == "firing"
    assert [(h["stored"], h["kind"]) for h in heard] == [(1, "firing"), (2, "resolved")]
    (first_id, record), (_, later) = hub.history()
    assert record["alert"]["id"] == first.alert.id
    assert [r["kind"] for _, r in hub.history(after=first_id)] == ["resolved"]
    assert later["alert"]["status"] == "resolved"
    assert hub.open_alerts() == []


def test_a_restarted_hub_has_the_open_alerts_acknowledgements_and_silences() -> None:
    store = MemoryAlertStore()
    hub = hub_on(store)
    (note,) = hub.step([verdict("HOODIE", Level.EMERGENCY)], T0, T0)
    acked = hub.acknowledge(note.alert.id, "operator-li")
    hub.silence(Silence("s1", "SNACK", "*", T0 + 600, "ops"))

    restarted = hub_on(store)

    (alert,) = restarted.open_alerts()
    assert acked is not None
    assert (alert["id"], alert["acked_by"], alert["acked_wall"]) == (note.alert.id, "operator-li", T0 + 1)
    assert list(restarted.silences) == ["s1"]
    assert restarted.highest_level("HOODIE") == Level.EMERGENCY


def test_acknowledging_an_unknown_alert_changes_nothing() -> None:
    store = MemoryAlertStore()
    hub = hub_on(store)
    hub.step([verdict("HOODIE", Level.THRESHOLD)], T0, T0)

    assert hub.acknowledge("no-such-alert", "ops") is None
    assert [a.acked_by for a in store.open_alerts()] == [""]


def test_a_silence_mutes_until_it_expires_and_then_is_forgotten() -> None:
    store = MemoryAlertStore()
    sender = FakeSender()
    hub = hub_on(store, sender)
    hub.subscribe(Subscription("ops", "https://hooks.example/ops", SECRET, group_wait=0))
    hub.silence(Silence("quiet", "SNACK", Level.THRESHOLD, T0 + 60, "ops"))

    (muted,) = hub.step([verdict("SNACK", Level.THRESHOLD)], T0, T0)
    assert muted.silenced
    assert hub.flush_digests() == 0  # a silenced notification is stored, not sent
    assert [r["silenced"] for _, r in hub.history()] == [True]

    assert hub.expire_silences(T0 + 59) == []
    assert [s.id for s in hub.expire_silences(T0 + 60)] == ["quiet"]
    assert store.silences() == []
    hub.step([verdict("SNACK", Level.THRESHOLD, active=False)], T0 + 100, T0 + 100)
    (resolved,) = hub.step([verdict("SNACK", Level.THRESHOLD, active=False)], T0 + 200, T0 + 200)
    assert not resolved.silenced
    assert hub.flush_digests() == 1


def test_subscriptions_are_stored_refused_when_unusable_and_removed() -> None:
    store = MemoryAlertStore()
    hub = hub_on(store)
    ops = Subscription("ops", "https://hooks.example/ops", SECRET, (Level.EMERGENCY,), group_wait=0)
    hub.subscribe(ops)
    with pytest.raises(ValueError, match="scheme"):
        hub.subscribe(Subscription("bad", "ftp://hooks.example/x", SECRET, group_wait=0))

    assert store.subscriptions() == [ops]
    assert hub_on(store).subscriptions == {"ops": ops}
    assert hub.unsubscribe("ops") is True
    assert hub.unsubscribe("ops") is False
    assert store.subscriptions() == []


def test_each_subscription_gets_one_digest_of_its_levels_per_flush() -> None:
    sender = FakeSender()
    hub = hub_on(MemoryAlertStore(), sender)
    hub.subscribe(Subscription("urgent", "https://hooks.example/u", SECRET, (Level.EMERGENCY,), group_wait=0))
    hub.subscribe(Subscription("all", "https://hooks.example/a", SECRET, group_wait=0))

    hub.step([verdict("HOODIE", Level.EMERGENCY)], T0, T0)
    hub.step([verdict("CAP", Level.EMERGENCY)], T0, T0)
    hub.step([verdict("SOCKS", Level.TREND)], T0, T0)

    assert hub.flush_digests() == 2
    digests = {sub: payload for sub, _, payload in sender.sent}
    assert [n["alert"]["sku"] for n in digests["urgent"]["notifications"]] == ["HOODIE", "CAP"]
    assert [n["alert"]["sku"] for n in digests["all"]["notifications"]] == ["HOODIE", "CAP", "SOCKS"]
    assert digests["all"]["count"] == 3
    event_ids = [event_id for _, event_id, _ in sender.sent]
    assert len(set(event_ids)) == 2
    assert all(event_id.endswith((":2", ":3")) for event_id in event_ids)
    assert hub.flush_digests() == 0  # nothing new, nothing sent
    assert len(sender.sent) == 2


def test_one_alert_per_sku_moves_its_level_and_an_unsubscribed_digest_is_not_sent() -> None:
    sender = FakeSender()
    hub = hub_on(MemoryAlertStore(), sender)
    hub.subscribe(Subscription("all", "https://hooks.example/a", SECRET, group_wait=0))
    hub.subscribe(Subscription("gone", "https://hooks.example/g", SECRET, group_wait=0))

    (first,) = hub.step([verdict("HOODIE", Level.THRESHOLD)], T0, T0)
    (moved,) = hub.step([verdict("HOODIE", Level.EMERGENCY)], T0 + 10, T0 + 10)
    hub.unsubscribe("gone")

    assert (first.kind, moved.kind) == ("firing", "escalated")
    assert moved.alert.id == first.alert.id
    assert [a["level"] for a in hub.open_alerts()] == [Level.EMERGENCY]
    assert hub.flush_digests() == 1
    ((sub, _, payload),) = sender.sent
    assert sub == "all"
    assert [n["alert"]["level"] for n in payload["notifications"]] == [Level.THRESHOLD, Level.EMERGENCY]


def test_a_failed_delivery_is_not_counted() -> None:
    hub = hub_on(MemoryAlertStore(), FakeSender(ok=False))
    hub.subscribe(Subscription("all", "https://hooks.example/a", SECRET, group_wait=0))
    hub.step([verdict("HOODIE", Level.EMERGENCY)], T0, T0)

    assert hub.flush_digests() == 0


def test_the_forecaster_on_the_hub_stores_an_emergency_with_its_hint() -> None:
    store = MemoryAlertStore()
    hub = hub_on(store)
    forecaster = Forecaster(book=hub, clock=lambda: T0 + 1)
    forecaster.update_skus([SkuSettings("HOODIE", "联名卫衣", critical_floor=5)])

    notes = forecaster.record(
        [SaleEvent("HOODIE", T0 - 60 + n, 1, "douyin") for n in range(16)],
        {"HOODIE": StockSnapshot(4, 16, version=17)},
    )

    assert Level.EMERGENCY in {n.alert.level for n in notes}
    stored = [r["alert"] for _, r in store.history() if r["alert"]["level"] == Level.EMERGENCY]
    assert [a["sku"] for a in stored] == ["HOODIE"]
    # 4 available and 16 reserved, of which 10% are expected back: the host and the chat
    # both count 5 (one state, never contradicting)
    assert "最后5件" in stored[0]["hint"]
    assert forecaster.hint("HOODIE").host_line == "这款还能卖5单"
    assert Level.EMERGENCY in {a["level"] for a in forecaster.view("HOODIE")["alerts"]}
    assert hub.highest_level("HOODIE") == Level.EMERGENCY


def test_a_restarted_hub_remembers_recent_resolutions_so_nothing_refires_soon() -> None:
    store = MemoryAlertStore()
    hub = AlertHub(
        store, settings=LifecycleSettings(pending_seconds=0, keep_firing_seconds=60), clock=lambda: T0
    )
    hub.step([verdict("HOODIE", Level.THRESHOLD)], T0, T0)
    hub.step([verdict("HOODIE", Level.THRESHOLD, active=False)], T0 + 10, T0 + 10)
    (resolved,) = hub.step([verdict("HOODIE", Level.THRESHOLD, active=False)], T0 + 100, T0 + 100)
    assert resolved.kind == "resolved"

    restarted = AlertHub(store, settings=LifecycleSettings(pending_seconds=0), clock=lambda: T0)

    assert restarted.step([verdict("HOODIE", Level.THRESHOLD)], T0 + 200, T0 + 200) == []  # held back
    (worse,) = restarted.step([verdict("HOODIE", Level.EMERGENCY)], T0 + 210, T0 + 210)
    assert (worse.kind, worse.alert.level) == ("firing", Level.EMERGENCY)


def test_a_record_stored_before_the_quiet_flag_reads_as_not_quiet() -> None:
    assert not is_quiet({"kind": "resolved", "inhibited": False, "silenced": False, "alert": {}})
    assert is_quiet({"kind": "resolved", "quiet": True})


def test_a_quiet_resolution_is_stored_and_streamed_but_not_sent() -> None:
    store = MemoryAlertStore()
    sender = FakeSender()
    hub = hub_on(store, sender)
    hub.subscribe(Subscription("ops", "https://hooks.example/ops", SECRET, group_wait=0))
    heard: list[dict[str, Any]] = []
    hub.listeners.append(heard.append)

    (fired,) = hub.step([verdict("SPIKE", Level.TREND)], T0, T0)
    assert hub.flush_digests() == 1
    hub.step([verdict("SPIKE", Level.TREND, active=False)], T0 + 100, T0 + 100)
    (faded,) = hub.step([verdict("SPIKE", Level.TREND, active=False)], T0 + 200, T0 + 200)

    assert (fired.kind, faded.kind, faded.quiet, faded.told) == ("firing", "resolved", True, False)
    assert hub.flush_digests() == 0  # receivers heard one notification: the firing
    assert [(r["kind"], r["quiet"]) for r in heard] == [("firing", False), ("resolved", True)]
    # the stored record says it was not sent, as the streamed one does
    assert [(r["kind"], is_quiet(r)) for _, r in hub.history()] == [("firing", False), ("resolved", True)]
    assert hub.open_alerts() == []
    assert len(sender.sent) == 1
