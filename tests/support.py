"""Helpers for tests (import as ``tests.support``)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import pytest

from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from policies.channels.signing import WebhookHeaders, webhook_headers
from policies.ledger import Decision, Ledger
from policies.operations import Operation


class FakeClock:
    """Time (seconds) the test moves by hand, for code whose clock is injectable."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float = 20.0,
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """Poll ``condition`` until it is true, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def one_shard_config(request: pytest.FixtureRequest, redis_url: str) -> StoreConfig:
    """A one-shard store in a fresh namespace: on ``redis_url`` (the test's redis-server),
    or on the session's Redis Cluster when the fixture's parameter is ``"cluster"``."""
    if request.param == "cluster":
        redis_url = request.getfixturevalue("redis_cluster").url
    return StoreConfig(redis_url, namespace=fresh_namespace(), shard_count=1)


def fresh_namespace() -> str:
    """A key namespace no other test uses, so tests can share one Redis server."""
    return f"t{uuid.uuid4().hex[:12]}"


class IngestOptions(TypedDict, total=False):
    """The keyword options of ``actors.ingest.core.ChannelIngest``."""

    secret: bytes | None
    consumer: str | None
    batch_size: int
    claim_idle_ms: int
    mode: str | None


HANG = "hang"  # a scripted answer: read the request, then say nothing until teardown


class Received(NamedTuple):
    headers: dict[str, str]
    body: bytes
    answer: int | str


class Receiver:
    """The fake subscriber endpoint: a scripted answer per request, every request recorded."""

    def __init__(self) -> None:
        self.script: list[int | str] = [200]
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown: hanging handlers return
        self.server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def answer(self, *script: int | str) -> None:
        self.script = list(script)

    def record(self, headers: dict[str, str], body: bytes) -> int | str:
        with self.lock:
            index = min(len(self.requests), len(self.script) - 1)
            answer = self.script[index]
            self.requests.append(Received(headers, body, answer))
            return answer


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a hung handler writing to a socket the sender gave up on: expected here


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answer = receiver.record(dict(self.headers.items()), body)
            if answer == HANG:
                receiver.release.wait(timeout=10)
                return
            assert isinstance(answer, int)
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    return Handler


def stop_client(client: Any) -> None:
    """Close a ``StockClient`` and remove its owner actors (tests share one Ray)."""
    import ray

    client.close()
    for owner in client.owners:
        ray.kill(owner, no_restart=True)


def signed_headers(secret: bytes, body: bytes, now: float) -> WebhookHeaders:
    """The Standard Webhooks headers a platform sends with ``body``, signed at ``now``."""
    sent = webhook_headers(secret, "msg-1", int(now), body)
    return WebhookHeaders(sent["webhook-id"], sent["webhook-timestamp"], sent["webhook-signature"])


class OwnerDesk:
    """The grant sync's ``HoldDesk`` over one ``SkuOwner`` in this process (a deployment
    of one shard): what a ``StockClient`` is to the owner actors."""

    def __init__(self, owner: SkuOwner) -> None:
        self.owner = owner

    def submit(self, ops: Sequence[Operation]) -> list[Decision]:
        return self.owner.apply(ops)

    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        found = {sku: self.owner.ledger(sku) for sku in skus}
        return {sku: ledger for sku, ledger in found.items() if ledger is not None}


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def read_http_answer(sock: socket.socket, timeout: float | None = None) -> tuple[int, dict[str, str], bytes]:
    """The first HTTP answer on a raw ``sock`` (waiting at most ``timeout`` seconds a
    read, when given): its status, headers and body (by Content-Length)."""
    if timeout is not None:
        sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"closed before an answer: {data!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        assert part, "closed inside the body"
        body += part
    return int(status_line.split()[1]), headers, body[:length]
