"""A request's body at the front door: what its headers alone earn (400
``body_not_allowed`` for any body on a request that is not state-changing, 413
``payload_too_large`` for a declared length over the limit, 415
``unsupported_media_type`` for a compressed or non-JSON body), then a state-changing
request's body read whole within its limits (413 as it grows past the limit, 408
``request_timeout`` past the deadline, 503 ``overloaded`` when its bytes would go past
the budget of bodies held at once) and handed to the route as if never read."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import Message, Receive

from serve_app.guards.budget import Holding
from serve_app.guards.checks import STATE_CHANGING, Refusal, is_json

UNSUPPORTED = "unsupported_media_type"
#: a body on a request whose route takes none (a malformed request, whatever its size)
BODY_NOT_ALLOWED = "body_not_allowed"
RETRY = ((b"retry-after", b"1"),)
ACCEPTED_ENCODING = "identity"


def declared_length(headers: Headers) -> int | None:
    """The body's length from Content-Length (None: not given, or chunked)."""
    value = headers.get("content-length")
    if value is None or "transfer-encoding" in headers:
        return None
    try:
        return int(value)
    except ValueError:  # the HTTP server refuses a malformed length before the app sees it
        return None


def header_refusal(
    method: str, headers: Headers, max_body_bytes: int, *, any_media_type: bool = False
) -> Refusal | None:
    """The refusal a request's headers alone earn (None: go on). A request that is not
    state-changing takes no body: its route would never read one, yet Ray Serve's HTTP
    server reads whatever comes for as long as the route runs (an SSE stream: hours).
    ``any_media_type``: the body is a platform's own bytes (a channel webhook, checked by
    its signature and read by the platform's adapter), whatever Content-Type it says."""
    length = declared_length(headers)
    has_body = "transfer-encoding" in headers or (length is not None and length > 0)
    if method not in STATE_CHANGING:
        if has_body:
            return Refusal(400, BODY_NOT_ALLOWED, f"a {method} request takes no body")
        return None
    encoding = headers.get("content-encoding")
    if encoding is not None and encoding.strip().lower() != ACCEPTED_ENCODING:
        message = f"Content-Encoding {encoding!r} is not accepted: send the body uncompressed"
        return Refusal(415, UNSUPPORTED, message)
    content_type = headers.get("content-type")
    if has_body and content_type is not None and not any_media_type and not is_json(content_type):
        message = f"Content-Type {content_type!r} is not accepted: send application/json"
        return Refusal(415, UNSUPPORTED, message)
    if length is not None and length > max_body_bytes:
        message = f"request body of {length} bytes (Content-Length) is over {max_body_bytes} bytes"
        return Refusal(413, "payload_too_large", message)
    return None


async def read_body(
    receive: Receive, held: Holding, length: int | None, max_body_bytes: int, timeout_seconds: float
) -> bytes | Refusal | None:
    """The whole body, counted as it arrives against ``max_body_bytes`` and held in
    ``held`` (all of a declared ``length`` before the first byte, else chunk by chunk); a
    Refusal when it is too large, too slow or finds the budget spent; None when the client
    disconnected."""
    busy = Refusal(503, "overloaded", "too many request bodies held at once; retry shortly", RETRY)
    if length is not None and not held.grow_to(length):
        return busy
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            late = f"the request body did not arrive within {timeout_seconds:g} s"
            return Refusal(408, "request_timeout", late)
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_body_bytes:
            return Refusal(413, "payload_too_large", f"request body over {max_body_bytes} bytes")
        if not held.grow_to(size):
            return busy
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that answers the body already read, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
