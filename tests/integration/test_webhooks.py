"""WebhookSender against a real local HTTP receiver and the real test Redis.

The receiver is an ``http.server.ThreadingHTTPServer`` on 127.0.0.1 that answers a
scripted sequence of statuses (the last one repeats) and records every request. The
sender's backoff sleep is injected (it records the delays instead of waiting), so the
retries run at full speed; only the "hang" answer waits, inside the fake receiver, to
outlast the sender's timeout.

The receiver is on loopback, which the sender refuses by default (server-side request
forgery): each sender here is given the allowance for 127.0.0.1 explicitly, as an
operator would set ``FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE``, and one test shows the same
delivery refused without it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from actors.alerts.store import RedisAlertStore
from actors.alerts.webhooks import ALLOW_PRIVATE_ENV, WebhookSender, redact, url_problem
from actors.infra import keys
from actors.infra.redis_server import free_port
from policies.channels.signing import signature_problem
from policies.subscriptions import Subscription
from policies.webhook_targets import Allowance, IPAddress, parse_allowance
from tests.support import HANG, Receiver, fresh_namespace

SECRET = b"whsec-test-0123456789"
#: what the operator allows for these tests' loopback receivers
LOOPBACK = parse_allowance("127.0.0.1")
#: how old a request a receiver accepts (the Standard Webhooks default)
TOLERANCE = 300


class Sleeps:
    """The injected backoff sleep: records each delay, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def sender_for(client: redis.Redis, sleeps: Sleeps, **options: Any) -> WebhookSender:
    options.setdefault("timeout", 2.0)
    options.setdefault("allow", LOOPBACK)
    store = RedisAlertStore(client, fresh_namespace())
    return WebhookSender(store, sleep=sleeps, rng=random.Random(7), **options)


PAYLOAD = {"sku": "SKU-1", "level": "low", "left": 3, "room": "直播间-1"}


def standard_problem(secret: bytes, headers: dict[str, str], body: bytes, now: float) -> str | None:
    """What a Standard Webhooks receiver checks: the timestamp is within the tolerance and
    one of the ``v1`` signatures is the HMAC of ``"{id}.{timestamp}.{body}"``."""
    event_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > TOLERANCE:
        return "timestamp outside the tolerance"
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no signature matches"


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
    assert standard_problem(SECRET, success.headers, success.body, time.time()) is None
    assert standard_problem(b"another-secret", success.headers, success.body, time.time()) is not None
    for request in receiver.requests:
        assert request.headers["webhook-id"] == "evt-1"
        assert request.headers["X-Flashstock-Event"] == "evt-1"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "flashstock-webhooks"
    assert len(sleeps.delays) == 2
    for n, delay in enumerate(sleeps.delays, start=1):
        assert 0 <= delay <= 0.5 * 2 ** (n - 1)
    assert sender.dead_letters("sub-1") == []


def test_a_receiver_that_always_fails_is_dead_lettered(redis_client: redis.Redis, receiver: Receiver) -> None:
    receiver.answer(500)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, max_attempts=4, base_delay=0.1, max_delay=0.15)
    subscription = Subscription("sub-2", receiver.url, SECRET)

    with capture_logs() as logs:
        delivered = sender.deliver(subscription, "evt-2", PAYLOAD)

    assert delivered is False
    assert len(receiver.requests) == 4
    assert len(sleeps.delays) == 3  # none after the last attempt
    assert all(0 <= d <= min(0.15, 0.1 * 2 ** (n - 1)) for n, d in enumerate(sleeps.delays, start=1))
    [letter] = sender.dead_letters("sub-2")
    assert letter["event_id"] == "evt-2"
    assert letter["url"] == receiver.url
    assert letter["payload"] == PAYLOAD
    assert letter["attempts"] == 4
    assert "500" in letter["error"]
    assert isinstance(letter["failed_at"], float)
    assert isinstance(sender.dead, RedisAlertStore)
    assert redis_client.llen(keys.webhook_dead(sender.dead.namespace, "sub-2")) == 1

    failures = [e for e in logs if e["event"] == "webhook_attempt_failed"]
    assert [e["attempt"] for e in failures] == [1, 2, 3, 4]
    assert all(e["subscription"] == "sub-2" and e["event_id"] == "evt-2" for e in failures)
    assert [e["event"] for e in logs].count("webhook_dead_lettered") == 1
    assert SECRET.decode() not in repr(logs)


def test_a_stored_url_with_credentials_is_dead_lettered_without_an_attempt_or_a_leak(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    # subscriptions made before credentials were refused may still be stored
    sender = sender_for(redis_client, Sleeps())
    url = f"http://hookuser:pass@127.0.0.1:{receiver.port}/hooks/alerts"

    with capture_logs() as logs:
        assert sender.deliver(Subscription("sub-2c", url, SECRET), "evt-2c", PAYLOAD) is False

    assert receiver.requests == []
    [letter] = sender.dead_letters("sub-2c")
    assert letter["attempts"] == 0
    assert "credentials" in letter["error"]
    assert letter["url"] == f"http://***@127.0.0.1:{receiver.port}/hooks/alerts"
    assert isinstance(sender.dead, RedisAlertStore)
    raw_letters = redis_client.lrange(keys.webhook_dead(sender.dead.namespace, "sub-2c"), 0, -1)
    assert all("hookuser" not in raw and ":pass@" not in raw for raw in raw_letters)
    assert "hookuser" not in repr(logs)
    assert ":pass@" not in repr(logs)
    assert "***@127.0.0.1" in repr(logs)


def test_each_attempt_is_signed_with_its_own_timestamp(redis_client: redis.Redis, receiver: Receiver) -> None:
    receiver.answer(503, 200)
    times = iter([1_700_000_000.9, 1_700_000_042.2])
    sender = sender_for(redis_client, Sleeps(), clock=lambda: next(times))

    assert sender.deliver(Subscription("sub-t", receiver.url, SECRET), "evt-t", PAYLOAD) is True

    first, second = receiver.requests
    assert first.headers["webhook-timestamp"] == "1700000000"
    assert second.headers["webhook-timestamp"] == "1700000042"
    assert standard_problem(SECRET, second.headers, second.body, now=1_700_000_050) is None
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    # a captured request replayed later than the tolerance is refused by the receiver
    assert standard_problem(SECRET, first.headers, first.body, now=1_700_000_000 + TOLERANCE + 1) is not None
    # and the timestamp cannot be moved without breaking the signature
    moved = {**first.headers, "webhook-timestamp": "1700000400"}
    assert standard_problem(SECRET, moved, first.body, now=1_700_000_400) is not None


def test_a_loopback_receiver_is_refused_unless_the_operator_allows_it(
    redis_client: redis.Redis, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    store = RedisAlertStore(redis_client, fresh_namespace())
    subscription = Subscription("sub-lo", receiver.url, SECRET)
    assert url_problem(receiver.url) is not None  # what the subscription route answers with 422

    refused = WebhookSender(store, sleep=Sleeps())  # the allowance comes from the environment
    assert refused.deliver(subscription, "evt-lo", PAYLOAD) is False
    assert receiver.requests == []
    [letter] = refused.dead_letters("sub-lo")
    assert "loopback" in letter["error"]

    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1")
    assert url_problem(receiver.url) is None
    assert refused.deliver(subscription, "evt-lo", PAYLOAD) is True  # read at each delivery
    assert len(receiver.requests) == 1


class Resolver:
    """A resolver from a table, standing in for DNS; records each lookup."""

    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append((host, port))
        return list(self.answers)


def test_the_sender_connects_to_the_checked_address_not_to_the_name(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    resolve = Resolver("127.0.0.1")  # hooks.example.com does not exist: only the checked address works
    sender = sender_for(redis_client, Sleeps(), allow=parse_allowance("hooks.example.com"), resolve=resolve)
    url = f"http://hooks.example.com:{receiver.port}/hooks/alerts"

    assert sender.deliver(Subscription("sub-p", url, SECRET), "evt-p", PAYLOAD) is True

    assert resolve.lookups == [("hooks.example.com", receiver.port)]
    [request] = receiver.requests
    assert request.headers["Host"] == f"hooks.example.com:{receiver.port}"


def test_a_name_rebound_to_loopback_after_subscribing_is_refused_at_delivery(
    redis_client: redis.Redis, receiver: Receiver
) -> None:
    url = f"http://hooks.example.com:{receiver.port}/hooks/alerts"
    assert url_problem(url, allow=Allowance(), resolve=Resolver("93.184.216.34")) is None  # subscribed
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps, allow=Allowance(), resolve=Resolver("127.0.0.1"))

    assert sender.deliver(Subscription("sub-r", url, SECRET), "evt-r", PAYLOAD) is False

    assert receiver.requests == []
    assert sleeps.delays == []  # refused for good, not retried
    [letter] = sender.dead_letters("sub-r")
    assert "refused target" in letter["error"]
    assert "resolves to 127.0.0.1" in letter["error"]


class Redirector:
    """An endpoint that answers every POST with ``status`` and ``Location: target``."""

    def __init__(self, status: int, target: str) -> None:
        self.hits = 0
        redirector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                redirector.hits += 1
                self.send_response(status)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def redirector_to(receiver: Receiver) -> Iterator[Any]:
    started: list[tuple[Redirector, threading.Thread]] = []

    def start(status: int) -> Redirector:
        redirector = Redirector(status, receiver.url)
        thread = threading.Thread(target=redirector.server.serve_forever, kwargs={"poll_interval": 0.02})
        thread.start()
        started.append((redirector, thread))
        return redirector

    yield start
    for redirector, thread in started:
        redirector.server.shutdown()
        redirector.server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_nor_retried(
    redis_client: redis.Redis, receiver: Receiver, redirector_to: Any, status: int
) -> None:
    redirector = redirector_to(status)
    sleeps = Sleeps()
    sender = sender_for(redis_client, sleeps)

    assert sender.deliver(Subscription("sub-3xx", redirector.url, SECRET), "evt-3xx", PAYLOAD) is False

    assert redirector.hits == 1
    assert receiver.requests == []  # the signed body never reached the redirect target
    assert sleeps.delays == []
    [letter] = sender.dead_letters("sub-3xx")
    assert letter["attempts"] == 1
    assert str(status) in letter["error"]
    assert "not followed" in letter["error"]


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
        "https://user:secret@hooks.example.com/",
        "http://127.0.0.1:8080/hooks",
        "http://[::1]:9000/",
    ],
)
def test_url_problem_rejects(url: str) -> None:
    assert url_problem(url, allow=Allowance(), resolve=None) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/flashstock?team=ops",
        "http://93.184.216.34:8080/hooks",
    ],
)
def test_url_problem_accepts(url: str) -> None:
    assert url_problem(url, allow=Allowance(), resolve=None) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hooks", "http://[::1]:9000/"])
def test_url_problem_accepts_loopback_the_operator_allows(url: str) -> None:
    assert url_problem(url, allow=parse_allowance("127.0.0.1,::1"), resolve=None) is None


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
