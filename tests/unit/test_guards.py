"""The front door (serve_app.guards) driven as an ASGI app with scripted receive/send,
and the loopback check."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from serve_app.auth import TokenBook, is_loopback
from serve_app.guards import FrontDoor, FrontDoorArgs
from serve_app.guards.checks import host_allowed, origin_allowed, valid_event_id

BOOK = TokenBook(["viewer:vera:view-tok", "ingest:douyin:ingest-tok"])
HOST = "127.0.0.1:8000"


class Inner:
    """The app behind the door: reads the whole body, answers 200 with its length; or,
    when ``hold`` is set, waits on it (a long request or an open stream)."""

    def __init__(self) -> None:
        self.calls = 0
        self.hold: asyncio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        size, more = 0, scope["method"] != "GET"
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if self.hold is not None:
            await self.hold.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def door(inner: Inner, book: TokenBook = BOOK, max_body_bytes: int = 100, **args: Any) -> FrontDoor:
    return FrontDoor(inner, FrontDoorArgs(**args), max_body_bytes, lambda: book)


def scope(
    method: str = "GET", path: str = "/v1/skus", headers: dict[str, str] | None = None, query: str = ""
) -> Scope:
    sent = {"host": HOST, **(headers or {})}
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
    }


def chunks(parts: Iterable[bytes], then_hang: bool = False) -> tuple[Receive, list[int]]:
    """A client sending ``parts`` as body chunks (the last ends the body unless it then
    hangs); the list counts the receive calls the server made."""
    queue = list(parts)
    count = [0]

    async def receive() -> Message:
        count[0] += 1
        if queue:
            part = queue.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(queue) or then_hang}
        await asyncio.Event().wait()  # nothing more arrives
        raise AssertionError("unreachable")

    return receive, count


class Answer:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            self.body += message.get("body", b"")

    @property
    def code(self) -> str:
        code: str = json.loads(self.body)["code"]
        return code


def call(app: FrontDoor, request: Scope, receive: Receive | None = None) -> Answer:
    answer = Answer()
    asyncio.run(app(request, receive or chunks([b""])[0], answer))
    return answer


VIEWER = {"authorization": "Bearer view-tok"}
INGEST = {"authorization": "Bearer ingest-tok"}


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.com", "", "evil.example:8000"])
def test_refuses_a_host_it_does_not_answer_to(host: str) -> None:
    inner = Inner()
    answer = call(door(inner), scope(path="/healthz", headers={"host": host}))
    assert (answer.status, answer.code, inner.calls) == (400, "bad_host", 0)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:8000"])
def test_answers_to_loopback_names_with_any_port(host: str) -> None:
    assert host_allowed(host, FrontDoorArgs().allowed_hosts)


def test_configured_hosts_and_the_wildcard_are_admitted() -> None:
    assert host_allowed("stock.example:443", ["stock.example"])
    assert host_allowed("anything.example", ["*"])
    assert not host_allowed("stock.example", ["127.0.0.1"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8000", True),  # the same origin
        ("http://localhost:9999", True),  # an allowed host
        ("https://ops.example.com", True),  # configured
        ("https://evil.example", False),
        ("http://127.0.0.1.evil.com", False),
        ("null", False),
        ("file:///tmp/x.html", False),
    ],
)
def test_state_changing_requests_come_only_from_allowed_origins(origin: str, allowed: bool) -> None:
    assert (
        origin_allowed(origin, HOST, FrontDoorArgs().allowed_hosts, ["https://ops.example.com/"]) is allowed
    )


def test_a_cross_site_post_is_refused_before_its_body_is_read() -> None:
    inner = Inner()
    receive, reads = chunks([b"{}"])
    headers = {"origin": "https://evil.example", **INGEST}
    answer = call(door(inner), scope("POST", "/v1/orders", headers), receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (403, "bad_origin", 0, 0)


def test_a_cross_site_referer_counts_when_origin_is_absent() -> None:
    request = scope("POST", "/v1/orders", {"referer": "https://evil.example/page", **INGEST})
    assert call(door(Inner()), request).code == "bad_origin"


def test_same_origin_and_originless_posts_pass() -> None:
    for extra in ({"origin": "http://127.0.0.1:8000"}, {}):
        answer = call(door(Inner()), scope("POST", "/v1/orders", {**extra, **INGEST}))
        assert answer.status == 200


def test_a_cross_site_get_is_not_an_origin_matter() -> None:
    request = scope("GET", "/v1/skus", {"origin": "https://evil.example", **VIEWER})
    assert call(door(Inner()), request).status == 200


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Basic abc"}])
def test_an_unknown_token_is_refused_before_a_byte_of_the_body_is_read(headers: dict[str, str]) -> None:
    inner = Inner()
    receive, reads = chunks([b"x" * 50] * 1000, then_hang=True)
    answer = call(door(inner), scope("POST", "/v1/orders", headers), receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (401, "unauthorized", 0, 0)


def test_access_token_in_the_query_is_taken_only_on_the_alert_stream() -> None:
    query = "access_token=view-tok"
    assert call(door(Inner()), scope(path="/v1/skus", query=query)).status == 401
    assert call(door(Inner()), scope(path="/v1/alerts/stream", query=query)).status == 200


def test_without_tokens_every_caller_passes_and_health_never_needs_one() -> None:
    assert call(door(Inner(), book=TokenBook()), scope(path="/v1/skus")).status == 200
    assert call(door(Inner()), scope(path="/healthz")).status == 200


def test_a_chunked_body_over_the_limit_is_refused_and_no_longer_read() -> None:
    inner = Inner()
    receive, reads = chunks([b"x" * 40] * 1000)
    answer = call(door(inner, max_body_bytes=100), scope("POST", "/v1/orders", INGEST), receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (413, "payload_too_large", 0, 3)


def test_a_body_within_the_limit_reaches_the_route_whole() -> None:
    receive, _ = chunks([b"x" * 40, b"y" * 40, b""])
    answer = call(door(Inner(), max_body_bytes=100), scope("POST", "/v1/orders", INGEST), receive)
    assert (answer.status, answer.body) == (200, b"80")


def test_a_body_that_does_not_arrive_in_time_is_refused() -> None:
    inner = Inner()
    receive, _ = chunks([b"x"], then_hang=True)
    answer = call(door(inner, body_timeout_seconds=0.05), scope("POST", "/v1/orders", INGEST), receive)
    assert (answer.status, answer.code, inner.calls) == (408, "request_timeout", 0)


async def while_held(
    app: FrontDoor, inner: Inner, held: list[Scope], then: Callable[[], Awaitable[None]]
) -> None:
    """Run ``held`` requests that stay open, then ``then()``, then let them finish."""
    release = inner.hold = asyncio.Event()
    tasks = [asyncio.create_task(app(s, chunks([b""])[0], Answer())) for s in held]
    await asyncio.sleep(0)  # a turn of the loop: each starts, takes its budget, waits
    assert inner.calls == len(held)
    try:
        await then()
    finally:
        release.set()
        await asyncio.gather(*tasks)


def test_streams_are_capped_per_client_and_in_all() -> None:
    inner = Inner()
    app = door(inner, book=TokenBook(), max_streams=3, max_streams_per_client=2)
    stream = scope(path="/v1/alerts/stream")
    other = {**stream, "client": ("10.0.0.2", 1)}
    answers: list[Answer] = []

    async def more() -> None:
        for request in (stream, {**stream, "client": ("10.0.0.3", 1)}):
            answers.append(Answer())
            await app(request, chunks([b""])[0], answers[-1])

    asyncio.run(while_held(app, inner, [stream, stream, other], more))
    assert [a.status for a in answers] == [429, 429]  # the client's cap, then the cap in all
    assert {a.code for a in answers} == {"too_many_streams"}
    assert app.streams.by_client.total() == 0


def test_a_full_budget_sheds_requests_with_503_but_never_health() -> None:
    inner = Inner()
    app = door(inner, max_in_flight=2)
    get = scope(path="/v1/skus", headers=VIEWER)
    answers: list[Answer] = []

    async def more() -> None:
        for path in ("/v1/skus", "/healthz", "/readyz"):
            answers.append(Answer())
            request = scope(path=path, headers=VIEWER)
            if path != "/v1/skus":
                inner.hold = None  # health answers at once
            await app(request, chunks([b""])[0], answers[-1])

    asyncio.run(while_held(app, inner, [get, get], more))
    assert [a.status for a in answers] == [503, 200, 200]
    assert (answers[0].code, answers[0].headers["retry-after"]) == ("overloaded", "1")
    assert app.others.requests.held == 0


def test_piled_up_reads_never_shed_an_order_nor_orders_a_read() -> None:
    inner = Inner()
    app = door(inner, max_in_flight=2, max_orders_in_flight=2)
    get = scope(path="/v1/skus", headers=VIEWER)
    answers: dict[str, Answer] = {}

    async def writes_and_a_read() -> None:
        inner.hold = None  # these answer at once
        for path in ("/v1/orders", "/v1/channels/douyin/orders", "/v1/orders/douyin/o-1/confirm"):
            answers[path] = Answer()
            await app(scope("POST", path, INGEST), chunks([b"{}"])[0], answers[path])
        answers["restock"] = Answer()  # another write shares the reads' lane
        await app(scope("POST", "/v1/skus/A/restock", INGEST), chunks([b"{}"])[0], answers["restock"])
        answers["read"] = Answer()
        await app(get, chunks([b""])[0], answers["read"])

    asyncio.run(while_held(app, inner, [get, get], writes_and_a_read))
    assert {path: a.status for path, a in answers.items()} == {
        "/v1/orders": 200,
        "/v1/channels/douyin/orders": 200,
        "/v1/orders/douyin/o-1/confirm": 200,
        "restock": 503,
        "read": 503,
    }

    orders = scope("POST", "/v1/orders", INGEST)
    read = Answer()
    shed = Answer()
    inner.calls = 0

    async def a_read_and_an_order() -> None:
        await app(orders, chunks([b"{}"])[0], shed)
        inner.hold = None
        await app(get, chunks([b""])[0], read)

    asyncio.run(while_held(app, inner, [orders, orders], a_read_and_an_order))
    assert (read.status, shed.status, shed.code) == (200, 503, "overloaded")
    assert "order requests in flight" in json.loads(shed.body)["message"]
    assert (app.orders.requests.held, app.others.requests.held) == (0, 0)


def test_an_order_finding_its_budget_spent_is_refused_before_its_body_is_read() -> None:
    inner = Inner()
    app = door(inner, max_orders_in_flight=1)
    orders = scope("POST", "/v1/orders", INGEST)
    receive, reads = chunks([b"x" * 50] * 1000, then_hang=True)
    answer = Answer()

    async def one_more() -> None:
        await app(orders, receive, answer)

    asyncio.run(while_held(app, inner, [orders], one_more))
    assert (answer.status, answer.code, inner.calls, reads[0]) == (503, "overloaded", 1, 0)


def sized(path: str, length: int) -> Scope:
    return scope("POST", path, {**INGEST, "content-type": "application/json", "content-length": str(length)})


def test_bodies_held_at_once_stay_within_the_body_budget() -> None:
    inner = Inner()
    app = door(inner, max_body_bytes=100, max_order_body_bytes_in_flight=150)
    held_body = sized("/v1/orders", 100)
    answers = [Answer() for _ in range(3)]
    receive, reads = chunks([b"x" * 60])

    async def more() -> None:
        assert app.orders.body_bytes.held == 100  # the held request's body, until it answers
        await app(sized("/v1/orders", 60), receive, answers[0])  # 160 bytes would be held
        inner.hold = None
        await app(sized("/v1/orders", 50), chunks([b"x" * 50])[0], answers[1])  # 150 fits
        chunked = scope("POST", "/v1/orders", {**INGEST, "transfer-encoding": "chunked"})
        await app(chunked, chunks([b"x" * 40, b"x" * 40])[0], answers[2])  # over at the second chunk

    release = inner.hold = asyncio.Event()

    async def run() -> None:
        first = asyncio.create_task(app(held_body, chunks([b"x" * 100])[0], Answer()))
        await wait_until(lambda: inner.calls == 1)
        try:
            await more()
        finally:
            release.set()
            await first

    asyncio.run(run())
    assert [(a.status, a.code if a.status != 200 else "") for a in answers] == [
        (503, "overloaded"),
        (200, ""),
        (503, "overloaded"),
    ]
    assert reads[0] == 0  # refused from its Content-Length: not a byte read
    assert answers[0].headers["retry-after"] == "1"
    assert app.orders.body_bytes.held == 0


async def wait_until(done: Callable[[], bool], seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not done():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"content-type": "text/plain"}, "Content-Type 'text/plain' is not accepted: send application/json"),
        (
            {"content-type": "application/json", "content-encoding": "gzip"},
            "Content-Encoding 'gzip' is not accepted: send the body uncompressed",
        ),
        ({"content-type": "application/x-www-form-urlencoded"}, "'application/x-www-form-urlencoded'"),
    ],
)
def test_a_body_the_service_cannot_read_is_415_naming_why_before_it_is_read(
    headers: dict[str, str], named: str
) -> None:
    inner = Inner()
    receive, reads = chunks([b"{}"])
    request = scope("POST", "/v1/orders", {**INGEST, **headers, "content-length": "2"})
    answer = call(door(inner), request, receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (415, "unsupported_media_type", 0, 0)
    assert named in json.loads(answer.body)["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_bodies_and_bodiless_posts_pass_whatever_their_type(content_type: str) -> None:
    request = scope("POST", "/v1/orders", {**INGEST, "content-type": content_type, "content-length": "2"})
    assert call(door(Inner()), request, chunks([b"{}"])[0]).status == 200
    bodiless = scope("POST", "/v1/alerts/a-1/ack", {**INGEST, "content-type": "text/plain"})
    assert call(door(Inner()), bodiless).status == 200


def test_a_platform_webhook_passes_whatever_content_type_its_platform_labels_it_with() -> None:
    # the signature and the platform's adapter judge a webhook's bytes, not its label
    headers = {**INGEST, "content-type": "text/plain", "content-length": "2"}
    request = scope("POST", "/v1/channels/douyin/orders", headers)
    assert call(door(Inner()), request, chunks([b"[]"])[0]).status == 200
    gzip = scope("POST", "/v1/channels/douyin/orders", {**headers, "content-encoding": "gzip"})
    assert call(door(Inner()), gzip, chunks([b"[]"])[0]).code == "unsupported_media_type"


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read() -> None:
    inner = Inner()
    receive, reads = chunks([b"x" * 40] * 10, then_hang=True)
    answer = call(door(inner, max_body_bytes=100), sized("/v1/skus/A/restock", 101), receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (413, "payload_too_large", 0, 0)
    assert "101 bytes (Content-Length) is over 100 bytes" in json.loads(answer.body)["message"]


@pytest.mark.parametrize("value", ["1700000000000-0", "0-0", "1-2"])
def test_accepts_stream_ids_to_resume_after(value: str) -> None:
    assert valid_event_id(value)


@pytest.mark.parametrize("value", ["-", "$", "12345678901234567890-0", "1-", "abc", "1-2-3", " 1-2"])
def test_refuses_other_resume_ids(value: str) -> None:
    assert not valid_event_id(value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1.evil.com", "0.0.0.0", "10.0.0.1", "::", "localhost.evil", ""])
def test_names_and_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/skus", {"content-length": "5"}), ("/v1/alerts/stream", {"transfer-encoding": "chunked"})],
)
def test_a_read_carrying_a_body_is_400_before_a_byte_is_read(path: str, body: dict[str, str]) -> None:
    inner = Inner()
    receive, reads = chunks([b"x" * 50] * 1000, then_hang=True)
    answer = call(door(inner), scope("GET", path, {**VIEWER, **body}), receive)
    assert (answer.status, answer.code, inner.calls, reads[0]) == (400, "body_not_allowed", 0, 0)
    assert json.loads(answer.body)["message"] == "a GET request takes no body"
    empty = scope("GET", path, {**VIEWER, "content-length": "0"})
    assert call(door(Inner()), empty).status == 200
