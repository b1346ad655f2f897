"""One suite, two alert stores: ``MemoryAlertStore`` must behave as ``RedisAlertStore``
does on a real redis-server and on a real Redis Cluster (a fresh namespace per test), so
the hub's unit tests on the in-memory store tell the truth about the actor's Redis one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from actors.alerts.store import AlertStore, MemoryAlertStore, RedisAlertStore
from actors.infra.codec import notification_record
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_client import connect
from actors.infra.redis_server import RedisServer
from policies.alert_book import AlertBook
from policies.alert_lifecycle import Alert, LifecycleSettings, Notification, Status
from policies.alert_rules import Level, Verdict
from policies.silences import Silence
from policies.subscriptions import Subscription
from tests.support import fresh_namespace

T0 = 1_762_862_400.0
NOW = LifecycleSettings(pending_seconds=0, keep_firing_seconds=0)


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def store(request: pytest.FixtureRequest) -> Iterator[AlertStore]:
    if request.param == "memory":
        yield MemoryAlertStore()
        return
    server: RedisServer | LocalCluster = request.getfixturevalue(
        "redis_cluster" if request.param == "cluster" else "redis_server"
    )
    client = connect(server.url, socket_timeout=30.0)
    yield RedisAlertStore(client, fresh_namespace())
    client.close()


def verdict(sku: str, level: str, active: bool) -> Verdict:
    return Verdict(sku, level, active, "why" if active else "", {"available": 3, "eta_minutes": 4.5})


def firing(book: AlertBook, sku: str, level: str = Level.THRESHOLD, at: float = T0) -> Notification:
    (note,) = book.step([verdict(sku, level, True)], at, at, hints={level: "say it"})
    return note


def as_json(value: object) -> object:
    """What a value looks like after a trip through the stored JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def stored(alert: Alert) -> Alert:
    return Alert(**json.loads(json.dumps(alert._asdict())))


def test_appended_notifications_are_read_back_in_order_from_the_start(store: AlertStore) -> None:
    book = AlertBook(NOW)
    notes = [firing(book, "HOODIE"), firing(book, "CAP")]

    ids = store.append(notes)

    assert len(set(ids)) == 2
    for start in ("-", "0", ""):
        history = store.history(start)
        assert [entry_id for entry_id, _ in history] == ids
        assert [record for _, record in history] == [as_json(notification_record(n)) for n in notes]


def test_history_after_an_id_holds_only_later_entries_up_to_count(store: AlertStore) -> None:
    book = AlertBook(NOW)
    (first,) = store.append([firing(book, "A")])
    later = store.append([firing(book, "B"), firing(book, "C"), firing(book, "D")])

    assert [r["alert"]["sku"] for _, r in store.history(first)] == ["B", "C", "D"]
    assert [r["alert"]["sku"] for _, r in store.history(first, count=2)] == ["B", "C"]
    assert store.history(later[-1]) == []


def test_a_firing_notification_opens_its_alert_and_resolution_closes_it(store: AlertStore) -> None:
    book = AlertBook(NOW)
    note = firing(book, "HOODIE")
    store.append([note])
    assert store.open_alerts() == [stored(note.alert)]

    (resolved,) = book.step([verdict("HOODIE", Level.THRESHOLD, False)], T0 + 1, T0 + 1)
    assert resolved.alert.status == Status.RESOLVED
    store.append([resolved])

    assert store.open_alerts() == []
    assert [r["kind"] for _, r in store.history()] == ["firing", "resolved"]


def test_a_saved_alert_replaces_the_stored_one(store: AlertStore) -> None:
    book = AlertBook(NOW)
    note = firing(book, "HOODIE")
    store.append([note])
    acked = book.acknowledge(note.alert.id, "operator-li", T0 + 5)
    assert acked is not None

    store.save_alert(acked)

    (stored,) = store.open_alerts()
    assert (stored.id, stored.acked_by, stored.acked_wall) == (note.alert.id, "operator-li", T0 + 5)


def test_silences_are_saved_listed_and_deleted(store: AlertStore) -> None:
    quiet = Silence("s1", "SNACK", "*", T0 + 600, "ops", "restock booked")
    loud = Silence("s2", "*", Level.TREND, T0 + 60, "ops")
    store.save_silence(quiet)
    store.save_silence(loud)
    assert sorted(store.silences()) == [quiet, loud]

    store.delete_silences(["s2", "never-was"])
    store.delete_silences([])

    assert store.silences() == [quiet]


def test_silences_keep_their_matchers_and_creation_time(store: AlertStore) -> None:
    stalled = Silence("s3", "LIVE-*", Level.CHANNEL_STALLED, T0 + 600, "ops", "platform down", "douyin", T0)
    store.save_silence(stalled)
    assert store.silences() == [stalled]


def test_subscriptions_keep_their_secret_and_levels(store: AlertStore) -> None:
    ops = Subscription("ops", "https://hooks.example/a", b"s3cret", (Level.THRESHOLD, Level.EMERGENCY), "li")
    everyone = Subscription("all", "https://hooks.example/b", b"other")
    store.save_subscription(ops)
    store.save_subscription(everyone)
    assert sorted(store.subscriptions()) == [everyone, ops]

    store.delete_subscription("ops")
    store.delete_subscription("never-was")

    assert store.subscriptions() == [everyone]


def test_dead_letters_are_kept_per_subscription_oldest_first(store: AlertStore) -> None:
    store.add_dead_letter("ops", {"event_id": "e1", "payload": {"room": "直播间"}, "attempts": 5})
    store.add_dead_letter("ops", {"event_id": "e2", "payload": {}, "attempts": 1})
    store.add_dead_letter("other", {"event_id": "e3"})

    assert [letter["event_id"] for letter in store.dead_letters("ops")] == ["e1", "e2"]
    assert store.dead_letters("ops")[0]["payload"] == {"room": "直播间"}
    assert store.dead_letters("nobody") == []


def test_subscriptions_keep_their_receiver_kind_and_timing(store: AlertStore) -> None:
    robot = Subscription(
        "ding",
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        b"SECabc",
        (Level.EMERGENCY,),
        "li",
        "dingtalk",
        group_wait=0.0,
        group_interval=12.5,
        repeat_interval=600.0,
    )
    store.save_subscription(robot)
    assert store.subscriptions() == [robot]


def test_latest_gives_the_newest_entries_oldest_first(store: AlertStore) -> None:
    book = AlertBook(NOW)
    ids = store.append([firing(book, sku) for sku in ("A", "B", "C")])

    latest = store.latest(2)

    assert [entry_id for entry_id, _ in latest] == ids[1:]
    assert [record["alert"]["sku"] for _, record in latest] == ["B", "C"]
    assert store.latest(0) == []
