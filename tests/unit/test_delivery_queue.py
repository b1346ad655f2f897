"""Delivery's bounded queue per receiver (actors/alerts/delivery/worker.py), with the
sender faked at the outside edge: a receiver that falls behind has its oldest waiting
digest dead-lettered, never silently dropped, and the others go out in order."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from actors.alerts.delivery.worker import Delivery
from actors.alerts.store import MemoryAlertStore
from policies.subscriptions import Subscription
from tests.support import wait_for

T0 = 1_762_862_400.0
SUB = Subscription("ops", "https://hooks.example/ops", b"s" * 16, group_wait=0, group_interval=1)


class BlockingSender:
    """Holds every delivery until ``release`` is set; records what it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sent: list[str] = []

    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool:
        self.entered.set()
        self.release.wait(timeout=10)
        self.sent.append(payload["notifications"][0]["alert"]["sku"])
        return True


def record(sku: str) -> dict[str, Any]:
    return {"kind": "firing", "alert": {"id": f"{sku}-1", "sku": sku, "status": "firing", "updated_wall": T0}}


def test_a_receiver_that_falls_behind_loses_its_oldest_waiting_digest_to_the_dead_letters() -> None:
    store = MemoryAlertStore()
    sender = BlockingSender()
    delivery = Delivery(sender, store, queue_size=1, tick_seconds=3600)  # flushed by hand below
    delivery.subscribe(SUB)
    delivery.start()
    try:
        delivery.notify("ops", [record("HOODIE")], T0)
        assert delivery.flush(T0) == 1
        assert sender.entered.wait(timeout=10)  # the lane's thread is inside the receiver
        delivery.notify("ops", [record("CAP")], T0 + 1)
        delivery.flush(T0 + 1)  # waits in the queue
        delivery.notify("ops", [record("SOCKS")], T0 + 2)
        delivery.flush(T0 + 2)  # the queue is full: CAP's digest makes room

        [letter] = store.dead_letters("ops")
        assert "receiver queue full" in letter["error"]
        assert letter["payload"]["notifications"][0]["alert"]["sku"] == "CAP"
        assert letter["attempts"] == 0

        sender.release.set()
        wait_for(lambda: len(sender.sent) == 2, timeout=10, message="the queued digest")
        assert sender.sent == ["HOODIE", "SOCKS"]
    finally:
        sender.release.set()
        delivery.stop()


def test_an_unsubscribed_receiver_gets_nothing_more() -> None:
    store = MemoryAlertStore()
    sender = BlockingSender()
    sender.release.set()
    delivery = Delivery(sender, store)
    delivery.subscribe(SUB)
    delivery.notify("ops", [record("HOODIE")], T0)
    delivery.unsubscribe("ops")
    delivery.notify("ops", [record("CAP")], T0)

    assert delivery.flush(T0 + 10) == 0
    assert sender.sent == []


class BrokenSender:
    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool:
        raise RuntimeError("a bug in a format")


def test_a_digest_the_sender_fails_on_is_dead_lettered_and_the_lane_goes_on() -> None:
    store = MemoryAlertStore()
    delivery = Delivery(BrokenSender(), store, tick_seconds=3600)
    delivery.subscribe(SUB)
    delivery.start()
    try:
        for n, sku in enumerate(["HOODIE", "CAP"]):
            delivery.notify("ops", [record(sku)], T0 + 10 * n)
            delivery.flush(T0 + 10 * n)
        wait_for(lambda: len(store.dead_letters("ops")) == 2, timeout=10, message="both dead letters")
    finally:
        delivery.stop()
    letters = store.dead_letters("ops")
    assert [letter["payload"]["notifications"][0]["alert"]["sku"] for letter in letters] == ["HOODIE", "CAP"]
    assert all(letter["error"] == "delivery failed: RuntimeError: a bug in a format" for letter in letters)
