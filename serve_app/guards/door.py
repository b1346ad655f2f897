"""``FrontDoor``: a pure ASGI middleware every request passes before routing.

In order, from the headers alone: the Host must name this service (400 ``bad_host``); a
state-changing request from a browser must come from an allowed origin (403
``bad_origin``); with tokens configured, a ``/v1`` request must present a known one (401
``unauthorized``); a request that is not state-changing (``GET``) must carry no body (413
``payload_too_large``: no route reads one, and Ray Serve would read it for as long as
the route runs); a state-changing request's body must be neither compressed nor other
than JSON (415 ``unsupported_media_type``) and its Content-Length, when given, within
``max_body_bytes`` (413 ``payload_too_large``, at once, before a byte is read: the door
never asks for the body, though Ray Serve's HTTP server, reading for the app, may
already have answered ``Expect: 100-continue``; plain uvicorn does not).

Then a budget. SSE streams take their own, per client and in all (429
``too_many_streams``). Every other request takes one place in flight of its lane: orders
(``POST /v1/orders``, the channel webhooks, an order's confirm / cancel:
``max_orders_in_flight``) or the rest (reads and other writes: ``max_in_flight``), so that
piled-up reads never shed an order (503 ``overloaded``, shed at once, never queued).
``/healthz`` and ``/readyz`` are never shed.

Only then is a state-changing request's body read (``serve_app.guards.body``), counted as
it arrives (413), within ``body_timeout_seconds`` (408 ``request_timeout``), its bytes
held in its lane's body budget until the route has answered (503 ``overloaded`` when they
would go past it; a declared length is held whole before the first byte is read). So the
bodies this replica holds at once are at most ``max_order_body_bytes_in_flight`` +
``max_body_bytes_in_flight`` bytes (96 MiB by default), each at most ``max_body_bytes``,
besides the little the HTTP server buffers per connection before the door reads it.

A refused request reaches no route: nothing of it is applied and the rest of its body is
never read, so sending it again is safe. Role checks stay in ``serve_app.deps.require``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

import structlog
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from serve_app.auth import QUERY_TOKEN_PATH, MalformedAuthorization, TokenBook, presented_token
from serve_app.errors import error_body
from serve_app.guards.body import RETRY, declared_length, header_refusal, read_body, replay
from serve_app.guards.budget import Budget, Holding, StreamBudget
from serve_app.guards.checks import (
    STATE_CHANGING,
    FrontDoorArgs,
    Refusal,
    host_allowed,
    origin_allowed,
    platform_webhook,
    takes_orders,
)

log = structlog.get_logger(__name__)

NEVER_SHED = frozenset({"/healthz", "/readyz"})


class Lane(NamedTuple):
    """The budgets a kind of request takes: places in flight and bytes of bodies held."""

    what: str
    requests: Budget
    body_bytes: Budget


class FrontDoor:
    def __init__(
        self, app: ASGIApp, args: FrontDoorArgs, max_body_bytes: int, tokens: Callable[[], TokenBook]
    ) -> None:
        self.app, self.args, self.max_body_bytes, self.tokens = app, args, max_body_bytes, tokens
        self.orders = Lane(
            "order requests", Budget(args.max_orders_in_flight), Budget(args.max_order_body_bytes_in_flight)
        )
        self.others = Lane("requests", Budget(args.max_in_flight), Budget(args.max_body_bytes_in_flight))
        self.streams = StreamBudget(args.max_streams, args.max_streams_per_client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path = route_path(scope)
        headers = Headers(scope=scope)
        refusal, client = self.admit(method, path, headers, scope)
        refusal = refusal or header_refusal(
            method, headers, self.max_body_bytes, any_media_type=platform_webhook(method, path)
        )
        if refusal is not None:
            await refuse(send, refusal, path)
            return
        if path in NEVER_SHED:
            await self.app(scope, receive, send)
        elif method == "GET" and path == QUERY_TOKEN_PATH:
            await self.stream(client, scope, receive, send)
        else:
            await self.ordinary(method, path, headers, scope, receive, send)

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

    async def ordinary(
        self, method: str, path: str, headers: Headers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        lane = self.orders if takes_orders(method, path) else self.others
        if not lane.requests.try_take():
            busy = f"too many {lane.what} in flight; retry shortly"
            await refuse(send, Refusal(503, "overloaded", busy, RETRY), path)
            return
        held = Holding(lane.body_bytes)
        try:
            if method in STATE_CHANGING:
                length, timeout = declared_length(headers), self.args.body_timeout_seconds
                body = await read_body(receive, held, length, self.max_body_bytes, timeout)
                if body is None:
                    return  # the client left
                if isinstance(body, Refusal):
                    await refuse(send, body, path)
                    return
                receive = replay(body, receive)
            await self.app(scope, receive, send)
        finally:
            held.release()
            lane.requests.give_back()


def route_path(scope: Scope) -> str:
    """The path as the routes see it (without a mount's root path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


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
