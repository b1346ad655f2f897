"""The front door over real HTTP (uvicorn on loopback): what it refuses from the headers
alone is answered at once, before the body is asked for (no ``100 Continue``), and orders
keep being taken while reads pile up."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from serve_app.auth import TokenBook
from serve_app.guards import FrontDoor, FrontDoorArgs
from tests.support import read_http_answer

MAX_BODY_BYTES = 1000
BODY_TIMEOUT = 30.0  # far beyond ANSWER_WITHIN: an answer in time did not wait for the body
ANSWER_WITHIN = 5.0


class Backend:
    """The routes behind the door: a GET waits until ``release`` is set; a POST reads its
    body and answers its length."""

    def __init__(self) -> None:
        self.release: asyncio.Event | None = None
        self.waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        size = 0
        if scope["method"] == "GET":
            self.release = self.release or asyncio.Event()
            self.waiting += 1
            await self.release.wait()
        else:
            more = True
            while more:
                message = await receive()
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(str(size)))],
            }
        )
        await send({"type": "http.response.body", "body": str(size).encode()})


class Running:
    def __init__(self, server: uvicorn.Server, port: int, backend: Backend) -> None:
        self.server, self.port, self.backend = server, port, backend
        self.loop: asyncio.AbstractEventLoop | None = None

    def release_reads(self) -> None:
        assert self.loop is not None
        assert self.backend.release is not None
        self.loop.call_soon_threadsafe(self.backend.release.set)


@pytest.fixture
def running() -> Iterator[Running]:
    backend = Backend()
    args = FrontDoorArgs(body_timeout_seconds=BODY_TIMEOUT, max_in_flight=3, max_orders_in_flight=3)
    app = FrontDoor(backend, args, MAX_BODY_BYTES, TokenBook)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    handle = Running(server, listener.getsockname()[1], backend)

    def serve() -> None:
        async def main() -> None:
            handle.loop = asyncio.get_running_loop()
            await server.serve(sockets=[listener])

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    poll_until(lambda: server.started, "uvicorn started")
    try:
        yield handle
    finally:
        if backend.release is not None:
            handle.release_reads()
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def poll_until(done: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.01)


def request(port: int, head: str, headers: dict[str, str], body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN)
    lines = [head, f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    sock.sendall("\r\n".join(lines).encode() + body)
    return sock


@pytest.mark.parametrize("expect", [{}, {"Expect": "100-continue"}])
def test_a_content_length_over_the_limit_is_413_at_once_and_never_asked_for(
    running: Running, expect: dict[str, str]
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(MAX_BODY_BYTES + 1), **expect}
    started = time.monotonic()
    with request(running.port, "POST /v1/orders HTTP/1.1", headers) as sock:
        status, _, body = read_http_answer(sock)  # the first answer: not "100 Continue"
    assert time.monotonic() - started < ANSWER_WITHIN
    assert (status, json.loads(body)["code"]) == (413, "payload_too_large")
    assert f"{MAX_BODY_BYTES + 1} bytes (Content-Length)" in json.loads(body)["message"]


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-Type": "text/plain"}, "'text/plain'"),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, "'gzip'"),
    ],
)
def test_a_body_it_cannot_read_is_415_naming_the_type_or_encoding(
    running: Running, headers: dict[str, str], named: str
) -> None:
    with request(running.port, "POST /v1/orders HTTP/1.1", {**headers, "Content-Length": "2"}, b"{}") as sock:
        status, _, body = read_http_answer(sock)
    assert (status, json.loads(body)["code"]) == (415, "unsupported_media_type")
    assert named in json.loads(body)["message"]


def test_orders_are_taken_while_reads_fill_their_budget(running: Running) -> None:
    reads = [request(running.port, "GET /v1/skus HTTP/1.1", {}) for _ in range(3)]
    try:
        poll_until(lambda: running.backend.waiting == 3, "three reads in flight")
        with request(running.port, "GET /v1/skus HTTP/1.1", {}) as one_more:
            status, _, body = read_http_answer(one_more)
        assert (status, json.loads(body)["code"]) == (503, "overloaded")
        order = {"Content-Type": "application/json", "Content-Length": "2"}
        with request(running.port, "POST /v1/orders HTTP/1.1", order, b"{}") as sock:
            assert read_http_answer(sock)[0] == 200
        running.release_reads()
        assert [read_http_answer(sock)[0] for sock in reads] == [200, 200, 200]
    finally:
        for sock in reads:
            sock.close()


def test_a_client_that_sends_its_whole_oversize_body_still_reads_the_413(running: Running) -> None:
    oversize = b"x" * (3 * 1024 * 1024)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(oversize))}
    with request(running.port, "POST /v1/orders HTTP/1.1", headers, oversize) as sock:
        status, _, body = read_http_answer(sock)
    assert (status, json.loads(body)["code"]) == (413, "payload_too_large")


def test_a_read_carrying_a_body_is_400_at_once(running: Running) -> None:
    with request(running.port, "GET /v1/skus HTTP/1.1", {"Content-Length": "1000000"}) as sock:
        status, _, body = read_http_answer(sock)
    assert (status, json.loads(body)["code"]) == (400, "body_not_allowed")
    assert running.backend.waiting == 0
