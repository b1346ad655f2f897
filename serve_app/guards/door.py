"""``FrontDoor``: a pure ASGI middleware every request passes before routing.

In order: the Host must name this service (400 ``bad_host``); a state-changing request
from a browser must come from an allowed origin (403 ``bad_origin``); with tokens
configured, a ``/v1`` request must present a known one, checked from the headers before a
byte of the body is read (401 ``unauthorized``); the body is read here, counting the bytes
that actually arrive (413 ``payload_too_large``) within a deadline (408
``request_timeout``); then a budget: SSE streams their own, per client and in all (429
``too_many_streams``), other requests a number in flight (503 ``overloaded``, shed at
once, never queued). ``/healthz`` and ``/readyz`` are never shed. Role checks stay in
``serve_app.deps.require``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import NamedTuple

import structlog
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.auth import QUERY_TOKEN_PATH, MalformedAuthorization, TokenBook, presented_token
from serve_app.errors import error_body
from serve_app.guards.budget import Budget, StreamBudget
from serve_app.guards.checks import STATE_CHANGING, FrontDoorArgs, host_allowed, origin_allowed

log = structlog.get_logger(__name__)

NEVER_SHED = frozenset({"/healthz", "/readyz"})


class Refusal(NamedTuple):
    status: int
    code: str
    message: str
    headers: Sequence[tuple[bytes, bytes]] = ()


class FrontDoor:
    def __init__(
        self, app: ASGIApp, args: FrontDoorArgs, max_body_bytes: int, tokens: Callable[[], TokenBook]
    ) -> None:
        self.app, self.args, self.max_body_bytes, self.tokens = app, args, max_body_bytes, tokens
        self.in_flight = Budget(args.max_in_flight)
        self.streams = StreamBudget(args.max_streams, args.max_streams_per_client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path = route_path(scope)
        headers = Headers(scope=scope)
        refusal, client = self.admit(method, path, headers, scope)
        if refusal is not None:
            await refuse(send, refusal, path)
            return
        if path in NEVER_SHED:
            await self.app(scope, receive, send)
        elif method == "GET" and path == QUERY_TOKEN_PATH:
            await self.stream(client, scope, receive, send)
        else:
            await self.ordinary(method, scope, receive, send)

    def admit(self, method: str, path: str, headers: Headers, scope: Scope) -> tuple[Refusal | None, str]:
        """The refusal the headers alone earn (None: go on), and who the client is."""
        host = headers.get("host")
        if not host_allowed(host, self.args.allowed_hosts):
            return Refusal(400, "bad_host", f"this service does not answer to host {host!r}"), ""
        if method in STATE_CHANGING:
            origin = headers.get("origin") or headers.get("referer")
            allowed = self.args.allowed_hosts, self.args.allowed_origins
            if origin is not None and not origin_allowed(origin, host, *allowed):
                return Refusal(403, "bad_origin", f"requests from {origin!r} may not change state"), ""
        address = scope.get("client")
        client = str(address[0]) if address else "unknown"
        book = self.tokens()
        if not book.enabled or not (path == "/v1" or path.startswith("/v1/")):
            return None, client
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        try:
            token = presented_token(headers.get("authorization"), method, path, query.get("access_token"))
        except MalformedAuthorization as error:
            return Refusal(401, "unauthorized", str(error)), client
        principal = book.principal(token)
        if principal is None:
            return Refusal(401, "unauthorized", "missing or unknown token"), client
        return None, f"{principal.role}:{principal.name}"

    async def stream(self, client: str, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.streams.try_take(client):
            busy = f"at most {self.args.max_streams_per_client} streams per client"
            await refuse(send, Refusal(429, "too_many_streams", busy, RETRY), route_path(scope))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.streams.give_back(client)

    async def ordinary(self, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        if method in STATE_CHANGING:
            body = await self.read_body(receive)
            if body is None:
                return  # the client left
            if isinstance(body, Refusal):
                await refuse(send, body, route_path(scope))
                return
            receive = replay(body, receive)
        if not self.in_flight.try_take():
            busy = Refusal(503, "overloaded", "too many requests in flight; retry shortly", RETRY)
            await refuse(send, busy, route_path(scope))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight.give_back()

    async def read_body(self, receive: Receive) -> bytes | Refusal | None:
        """The whole body, counted as it arrives; a Refusal when it is too large or too
        slow; None when the client disconnected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.args.body_timeout_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                late = f"the request body did not arrive within {self.args.body_timeout_seconds:g} s"
                return Refusal(408, "request_timeout", late)
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return Refusal(413, "payload_too_large", f"request body over {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


RETRY = ((b"retry-after", b"1"),)


def route_path(scope: Scope) -> str:
    """The path as the routes see it (without a mount's root path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that answers the body already read, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def refuse(send: Send, refusal: Refusal, path: str) -> None:
    log.debug("request_refused", code=refusal.code, status=refusal.status, path=path)
    body = json.dumps(error_body(refusal.code, refusal.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *refusal.headers,
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
