"""A receiver that hangs delays only itself: with the hub's delivery started (its own
threads, as in the actor), a hung request to one receiver does not hold up evaluation,
nor the alerts of other SKUs to other receivers (real HTTP servers on loopback, real
Redis; waits are polls with deadlines)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from actors.alerts.delivery.worker import Delivery
from actors.alerts.hub import AlertHub
from actors.alerts.store import RedisAlertStore
from actors.alerts.webhooks import ALLOW_PRIVATE_ENV, WebhookSender
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.subscriptions import Subscription
from policies.webhook_targets import parse_allowance
from tests.support import HANG, Receiver, fresh_namespace, wait_for

SECRET = b"delivery-test-secret-0123"


@pytest.fixture
def healthy() -> Iterator[Receiver]:
    """A second receiver (the ``receiver`` fixture is the one that hangs)."""
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(timeout=5)


def verdict(sku: str, level: str) -> Verdict:
    return Verdict(sku, level, True, "why", {"available": 9, "eta_minutes": 3.0})


def test_a_hanging_receiver_delays_neither_evaluation_nor_other_receivers(
    redis_client: redis.Redis, receiver: Receiver, healthy: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1")  # both receivers are on loopback
    receiver.answer(HANG)  # reads the request, then says nothing until the test ends
    store = RedisAlertStore(redis_client, fresh_namespace())
    sender = WebhookSender(store, allow=parse_allowance("127.0.0.1"), timeout=30.0, max_attempts=1)
    delivery = Delivery(sender, store, show="double11", tick_seconds=0.05)
    hub = AlertHub(store, settings=LifecycleSettings(pending_seconds=0), delivery=delivery)
    hub.subscribe(Subscription("stuck", receiver.url, SECRET, group_wait=0, group_interval=0.05))
    hub.subscribe(Subscription("ops", healthy.url, SECRET, group_wait=0, group_interval=0.05))
    delivery.start()
    try:
        now = time.time()
        hub.step([verdict("HOODIE", Level.EMERGENCY)], now, now)
        wait_for(lambda: len(receiver.requests) == 1, timeout=10, message="the hung request")
        wait_for(lambda: len(healthy.requests) == 1, timeout=10, message="the first digest")

        # the stuck receiver is still holding its request; evaluation goes on
        later = time.time()
        (note,) = hub.step([verdict("CAP", Level.THRESHOLD)], later, later)
        assert note.alert.sku == "CAP"
        wait_for(lambda: len(healthy.requests) == 2, timeout=10, message="the other SKU's digest")

        second = json.loads(healthy.requests[1].body)
        assert [n["alert"]["sku"] for n in second["notifications"]] == ["CAP"]
        assert second["show"] == "double11"
        assert not receiver.release.is_set()  # all this while the hung request was open
        assert len(receiver.requests) == 1
        wait_for(lambda: delivery.lanes["stuck"].jobs.qsize() == 1, timeout=10, message="CAP queued")
    finally:
        receiver.release.set()
        delivery.stop()
