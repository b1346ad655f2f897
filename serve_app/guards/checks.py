"""The front door's settings and its pure checks: Host allow-list, Origin of
state-changing requests, which requests take orders, JSON media types, stream ids."""

from __future__ import annotations

import email.message
import re
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

#: names a loopback-bound service answers to; anything else in Host is DNS rebinding
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: methods that change state: a browser may send them cross-site (CSRF)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: a Redis stream entry id ``<ms>-<seq>``; 15 digits each stays inside Redis's 64 bits
EVENT_ID = re.compile(r"[0-9]{1,15}-[0-9]{1,15}")
#: a history cursor: ``-`` (from the start), a millisecond time or an entry id
HISTORY_CURSOR = r"^(-|[0-9]{1,15}(-[0-9]{1,15})?)$"
#: the routes that take orders (``POST``): a batch, a platform's webhook batch, an
#: order's paid / cancelled notice
ORDER_ROUTES = re.compile(r"/v1/orders|/v1/channels/[^/]+/orders|/v1/orders/[^/]+/.+/[^/]+")
#: a platform's signed webhook batch (``POST``): its body is the platform's own bytes
WEBHOOK_ROUTE = re.compile(r"/v1/channels/[^/]+/orders")
MIB = 1024 * 1024


class Refusal(NamedTuple):
    """An answer the front door gives instead of the route: the JSON error shape."""

    status: int
    code: str
    message: str
    headers: Sequence[tuple[bytes, bytes]] = ()


class FrontDoorArgs(BaseModel):
    """Limits of the front door (``AppArgs.front_door``)."""

    #: names the Host header may carry (without port); ``*`` admits any. Add the name or
    #: address clients use when the service binds beyond loopback
    allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    #: origins (``https://ops.example.com``) besides the allowed hosts' own that may send
    #: state-changing requests from a browser
    allowed_origins: list[str] = Field(default_factory=list)
    #: seconds the whole request body has to arrive in
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    #: SSE streams open at once, in all and per token (or client address without tokens)
    max_streams: int = Field(default=100, ge=1)
    max_streams_per_client: int = Field(default=5, ge=1)
    #: requests that take orders (``POST /v1/orders``, ``/v1/channels/{channel}/orders``,
    #: ``/v1/orders/{channel}/{order_id}/{action}``) in flight at once, apart from all
    #: others so that piled-up reads never shed an order; beyond it 503
    max_orders_in_flight: int = Field(default=200, ge=1)
    #: other requests (reads, other writes) in flight at once; beyond it 503
    max_in_flight: int = Field(default=200, ge=1)
    #: bytes of order bodies held at once (arriving, or read and in their route); a body
    #: that would go past it is shed with 503 before it is read. At least ``max_body_bytes``
    max_order_body_bytes_in_flight: int = Field(default=64 * MIB, ge=1)
    #: the same for the bodies of other writes
    max_body_bytes_in_flight: int = Field(default=32 * MIB, ge=1)


def host_name(host_header: str) -> str:
    """The name of a Host header or URL authority, lower-case, without port
    (``[::1]:8000`` -> ``[::1]``)."""
    host = host_header.strip().lower().rpartition("@")[2]
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0]


def host_allowed(host_header: str | None, allowed: list[str]) -> bool:
    """Whether a request's Host names this service (DNS rebinding sends a foreign name)."""
    if "*" in allowed:
        return True
    if not host_header:
        return False
    return host_name(host_header) in {name.lower() for name in allowed}


def origin_allowed(
    origin: str, host_header: str | None, allowed_hosts: list[str], allowed_origins: list[str]
) -> bool:
    """Whether a browser request from ``origin`` (an Origin or Referer value) may change
    state: the same origin as the request's Host, an allowed host over http(s), or a
    configured origin."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    own = f"{parts.scheme}://{parts.netloc}".lower()
    if own in {o.strip().rstrip("/").lower() for o in allowed_origins}:
        return True
    if host_header and parts.netloc.lower() == host_header.strip().lower():
        return True
    return "*" not in allowed_hosts and host_name(parts.netloc) in {h.lower() for h in allowed_hosts}


def platform_webhook(method: str, path: str) -> bool:
    """Whether a request is a platform's webhook batch: a platform labels its body as it
    likes, so the front door does not judge its Content-Type (the adapter reads it)."""
    return method == "POST" and WEBHOOK_ROUTE.fullmatch(path) is not None


def takes_orders(method: str, path: str) -> bool:
    """Whether a request takes orders: it has the orders' own in-flight budget."""
    return method == "POST" and ORDER_ROUTES.fullmatch(path) is not None


def is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON as FastAPI reads it: ``application/json`` or
    ``application/*+json``, any parameters (``; charset=utf-8``)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def valid_event_id(value: str) -> bool:
    """Whether ``value`` is a stream entry id a client may resume after."""
    return EVENT_ID.fullmatch(value) is not None
