"""WebhookSender against a real local HTTP receiver and the real test Redis.

The receiver is an ``http.server.ThreadingHTTPServer`` on 127.0.0.1 that answers a
scripted sequence of statuses (the last one repeats) and records every request. The
sender's backoff sleep is injected (it records the delays instead of waiting), so the
retries run at full speed; only the "hang" answer waits, inside the fake receiver, to
outlast the sender's timeout.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from actors.alerts.store import RedisAlertStore
from actors.alerts.webhooks import WebhookSender, redact, url_problem
from actors.infra import keys
from actors.infra.redis_server import free_port
from policies.alert_lifecycle import Subscription
from policies.channels.signing import signature_problem
from tests.support import HANG, Receiver, fresh_namespace

SECRET = b"whsec-test-0123456789"


class Sleeps:
    """The injected backoff sleep: records each delay, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def sender_for(client: redis.Redis, sleeps: Sleeps, **options: Any) -> WebhookSender:
    options.setdefault("timeout", 2.0)
    store = RedisAlertStore(client, fresh_namespace())
    return WebhookSender(store, sleep=sleeps, rng=random.Random(7), **options)


PAYLOAD = {"sku": "SKU-1", "level": "low", "left": 3, "room": "直播间-1"}


def test_a_receiver_that_fails_twice_then_succeeds_gets_one_success(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    receiver.answer(500, 503, 200)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, base_delay=0.5)
    subscription = Subscription("sub-1", receiver.url, SECRET, levels=("low",))

    assert sender.deliver(subscription, "evt-1", PAYLOAD) is True

    assert [r.answer for r in receiver.requests] == [500, 503, 200]
    [success] = [r for r in receiver.requests if r.answer == 200]
    assert json.loads(success.body) == PAYLOAD
    assert success.body == json.dumps(PAYLOAD, ensure_ascii=False, sort_keys=True).encode()
    assert signature_problem(SECRET, success.body, success.headers["X-Flashstock-Signature"]) is None
    assert (
        signature_problem(b"another-secret", success.body, success.headers["X-Flashstock-Signature"])
        is not None
    )
    for request in receiver.requests:
        assert request.headers["X-Flashstock-Event"] == "evt-1"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "flashstock-webhooks"
    assert len(sleeps.delays) == 2
    for n, delay in enumerate(sleeps.delays, start=1):
        assert 0 <= delay <= 0.5 * 2 ** (n - 1)
    assert sender.dead_letters("sub-1") == []


def test_a_receiver_that_always_fails_is_dead_lettered_without_leaking_credentials(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    receiver.answer(500)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, max_attempts=4, base_delay=0.1, max_delay=0.15)
    url = f"http://hookuser:pass@127.0.0.1:{receiver.port}/hooks/alerts"
    subscription = Subscription("sub-2", url, SECRET)

    with capture_logs() as logs:
        delivered = sender.deliver(subscription, "evt-2", PAYLOAD)

    assert delivered is False
    assert len(receiver.requests) == 4
    # the URL's credentials travel as Basic authorization, not in the request line
    assert receiver.requests[0].headers["Authorization"] == "Basic aG9va3VzZXI6cGFzcw=="
    assert len(sleeps.delays) == 3  # none after the last attempt
    assert all(0 <= d <= min(0.15, 0.1 * 2 ** (n - 1)) for n, d in enumerate(sleeps.delays, start=1))
    [letter] = sender.dead_letters("sub-2")
    assert letter["event_id"] == "evt-2"
    assert letter["url"] == f"http://***@127.0.0.1:{receiver.port}/hooks/alerts"
    assert letter["payload"] == PAYLOAD
    assert letter["attempts"] == 4
    assert "500" in letter["error"]
    assert isinstance(letter["failed_at"], float)
    assert isinstance(sender.dead, RedisAlertStore)
    raw_letters = redis_client.lrange(keys.webhook_dead(sender.dead.namespace, "sub-2"), 0, -1)
    assert all("pass" not in raw for raw in raw_letters)

    failures = [e for e in logs if e["event"] == "webhook_attempt_failed"]
    assert [e["attempt"] for e in failures] == [1, 2, 3, 4]
    assert all(e["subscription"] == "sub-2" and e["event_id"] == "evt-2" for e in failures)
    assert [e["event"] for e in logs].count("webhook_dead_lettered") == 1
    logged = repr(logs)
    assert "pass" not in logged
    assert SECRET.decode() not in logged
    assert "***@127.0.0.1" in logged


def test_a_400_is_not_retried_but_dead_lettered(redis_client: redis.Redis, receiver: Receiver) -> None:
    receiver.answer(400, 200)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps)
    subscription = Subscription("sub-3", receiver.url, SECRET)

    assert sender.deliver(subscription, "evt-3", PAYLOAD) is False

    assert len(receiver.requests) == 1
    assert sleeps.delays == []
    [letter] = sender.dead_letters("sub-3")
    assert letter["attempts"] == 1
    assert "400" in letter["error"]


@pytest.mark.parametrize("status", [429, 408])
def test_too_many_requests_and_request_timeout_are_retried(
    redis_client: redis.Redis, receiver: Receiver, status: int
) -> None:
    receiver.answer(status, 204)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps)
    subscription = Subscription("sub-4", receiver.url, SECRET)

    assert sender.deliver(subscription, "evt-4", PAYLOAD) is True

    assert [r.answer for r in receiver.requests] == [status, 204]
    assert len(sleeps.delays) == 1
    assert sender.dead_letters("sub-4") == []


def test_a_receiver_that_never_answers_in_time_is_retried(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    receiver.answer(HANG, 200)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, timeout=0.3)
    subscription = Subscription("sub-5", receiver.url, SECRET)

    with capture_logs() as logs:
        assert sender.deliver(subscription, "evt-5", PAYLOAD) is True

    # at least once: the receiver saw the event twice and can dedupe on the event id
    assert [r.answer for r in receiver.requests] == [HANG, 200]
    assert {r.headers["X-Flashstock-Event"] for r in receiver.requests} == {"evt-5"}
    [failure] = [e for e in logs if e["event"] == "webhook_attempt_failed"]
    assert "timed out" in failure["error"]
    assert len(sleeps.delays) == 1


def test_a_receiver_that_never_answers_at_all_is_dead_lettered(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    receiver.answer(HANG)
    sender = sender_for(redis_client, Sleeps(), timeout=0.3, max_attempts=2)
    subscription = Subscription("sub-6", receiver.url, SECRET)

    assert sender.deliver(subscription, "evt-6", PAYLOAD) is False

    assert len(receiver.requests) == 2
    [letter] = sender.dead_letters("sub-6")
    assert letter["attempts"] == 2
    assert "timed out" in letter["error"]


def test_a_refused_connection_is_retried_then_dead_lettered(redis_client: redis.Redis) -> None:
    port = free_port()  # nothing listens on it
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, max_attempts=3)
    subscription = Subscription("sub-7", f"http://127.0.0.1:{port}/", SECRET)

    assert sender.deliver(subscription, "evt-7", PAYLOAD) is False

    assert len(sleeps.delays) == 2
    [letter] = sender.dead_letters("sub-7")
    assert letter["attempts"] == 3
    assert "connection error" in letter["error"]


def test_an_unusable_url_is_dead_lettered_without_an_attempt(redis_client: redis.Redis) -> None:
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps)

    with capture_logs() as logs:
        delivered = sender.deliver(Subscription("sub-8", "ftp://ops:pass@x/", SECRET), "evt-8", PAYLOAD)

    assert delivered is False
    assert sleeps.delays == []
    [letter] = sender.dead_letters("sub-8")
    assert letter["attempts"] == 0
    assert "unusable url" in letter["error"]
    assert letter["url"] == "ftp://***@x/"
    assert "pass" not in repr(logs)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "http://",
        "not a url",
        "https://example.com/" + "a" * 3000,
        "http://example.com/with space",
        "http://example.com:notaport/",
        "mailto:ops@example.com",
        "",
    ],
)
def test_url_problem_rejects(url: str) -> None:
    assert url_problem(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://hooks.example.com/flashstock?team=ops",
        "https://user:secret@hooks.example.com/",
        "http://[::1]:9000/",
    ],
)
def test_url_problem_accepts(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@hooks.example.com/a?b=c", "https://***@hooks.example.com/a?b=c"),
        ("http://token@127.0.0.1:8080/", "http://***@127.0.0.1:8080/"),
        ("https://u:p%40ss@host/x@y", "https://***@host/x@y"),
        ("https://hooks.example.com/users/@me", "https://hooks.example.com/users/@me"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("user:pass@host/x", "***@host/x"),
    ],
)
def test_redact_hides_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown
