"""Each receiver's request: its URL, body and headers, signed its platform's way.

The digest a subscription is sent (``digest_payload``) is flashstock's own JSON body and
what a dead letter keeps; ``build_request`` turns it into the request of the
subscription's kind at the time of one attempt (signatures carry that time):

- ``webhook``: the digest as JSON (keys sorted), Standard Webhooks signed
  (``policies.channels.signing.webhook_headers``), plus the deprecated
  ``X-Flashstock-Signature``;
- ``alertmanager``: Alertmanager's webhook payload, version 4 (``alertmanager.py``);
  Standard Webhooks signed when the subscription has a secret;
- ``alertmanager-api``: the alerts as ``postableAlerts`` to ``{url}/api/v2/alerts``;
- ``dingtalk``: ``{"msgtype": "markdown", ...}``; with a secret (加签), ``timestamp``
  (milliseconds) and ``sign`` = url-encoded base64 HMAC-SHA256(secret,
  ``"{timestamp}\\n{secret}"``) added to the URL's query;
- ``wecom``: ``{"msgtype": "markdown", ...}`` to the URL with its ``key``; no signature;
- ``feishu``: ``{"msg_type": "text", ...}``; with a secret, ``timestamp`` (seconds) and
  ``sign`` = base64 HMAC-SHA256 keyed with ``"{timestamp}\\n{secret}"`` over an empty
  message, in the body.

The robots answer HTTP 200 with an error code in the body; ``response_problem`` reads it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote_plus, urlsplit, urlunsplit

from actors.alerts.delivery.alertmanager import api_alerts, webhook_v4
from actors.alerts.delivery.text import digest_markdown, digest_text
from policies.channels.signing import sign_body, webhook_headers
from policies.notification_groups import Digest
from policies.subscriptions import ReceiverKind, Subscription

USER_AGENT = "flashstock-webhooks"
#: body error codes that mean "too many messages, try later" (DingTalk 130101 "send too
#: fast", WeCom 45009 "api freq out of limit", Feishu 11232 "frequency limited")
RATE_LIMIT_CODES = frozenset({130101, 45009, 11232})
#: the most of a robot's answer read to find its error code (bytes)
MAX_ANSWER_BYTES = 65_536


class Outgoing(NamedTuple):
    """One attempt's request: where (the full URL), the body, the headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def digest_payload(subscription_id: str, show: str, digest: Digest) -> dict[str, Any]:
    """flashstock's digest body: the notifications since the last send (``count`` of
    them; none for a reminder), the group's alerts as last heard of, and the show."""
    return {
        "subscription": subscription_id,
        "show": show,
        "count": len(digest.notifications),
        "repeat": digest.repeat,
        "notifications": list(digest.notifications),
        "alerts": list(digest.alerts),
    }


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def _signed_json(subscription: Subscription, event_id: str, body: bytes, now: float) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if subscription.secret:
        headers.update(webhook_headers(subscription.secret, event_id, int(now), body))
    return headers


def with_query(url: str, extra: str) -> str:
    """``url`` with ``extra`` (``a=1&b=2``) appended to its query."""
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def dingtalk_sign(secret: bytes, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64 HMAC-SHA256 keyed with the secret over
    ``"{timestamp}\\n{secret}"``, url-encoded (the ``sign`` query parameter)."""
    digest = hmac.new(secret, f"{timestamp_ms}\n".encode() + secret, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: bytes, timestamp: int) -> str:
    """Feishu's 签名校验: base64 HMAC-SHA256 keyed with ``"{timestamp}\\n{secret}"``
    over an empty message (the body's ``sign``)."""
    return base64.b64encode(
        hmac.new(f"{timestamp}\n".encode() + secret, b"", hashlib.sha256).digest()
    ).decode()


def build_request(
    subscription: Subscription, event_id: str, payload: Mapping[str, Any], now: float
) -> Outgoing:
    """The request of one attempt at wall time ``now`` (unix seconds). For the webhook
    kind ``payload`` may be any JSON object; the other kinds read a ``digest_payload``."""
    kind, url, secret = subscription.kind, subscription.url, subscription.secret
    if kind == ReceiverKind.WEBHOOK:
        body = _json(payload)
        headers = _signed_json(subscription, event_id, body, now)
        return Outgoing(
            url,
            body,
            {**headers, "X-Flashstock-Event": event_id, "X-Flashstock-Signature": sign_body(secret, body)},
        )
    if kind == ReceiverKind.ALERTMANAGER:
        body = _json(webhook_v4(subscription.id, payload))
        return Outgoing(url, body, _signed_json(subscription, event_id, body, now))
    if kind == ReceiverKind.ALERTMANAGER_API:
        body = _json(api_alerts(payload, now, subscription.repeat_interval))
        target = url.rstrip("/")
        if not target.endswith("/api/v2/alerts"):
            target += "/api/v2/alerts"
        return Outgoing(target, body, _signed_json(subscription, event_id, body, now))
    plain = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if kind == ReceiverKind.DINGTALK:
        title, text = digest_markdown(payload)
        body = _json({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
        if secret:
            stamp = int(now * 1000)
            url = with_query(url, f"timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}")
        return Outgoing(url, body, plain)
    if kind == ReceiverKind.WECOM:
        _, text = digest_markdown(payload)
        return Outgoing(url, _json({"msgtype": "markdown", "markdown": {"content": text}}), plain)
    if kind == ReceiverKind.FEISHU:
        message: dict[str, Any] = {"msg_type": "text", "content": {"text": digest_text(payload)}}
        if secret:
            stamp = int(now)
            message = {"timestamp": str(stamp), "sign": feishu_sign(secret, stamp), **message}
        return Outgoing(url, _json(message), plain)
    raise ValueError(f"unknown receiver kind {kind!r}")


def response_problem(kind: str, status: int, answer: bytes) -> tuple[str, bool] | None:
    """Why a robot's answer is not a delivery, as ``(error, retryable)``, or None when it
    is, or when the HTTP status alone decides. A robot answers JSON whose ``errcode``
    (DingTalk, WeCom) or ``code`` / ``StatusCode`` (Feishu) is 0 on success: a 2xx with
    another code is a refusal (retried when the code is a rate limit); a 4xx whose code is
    a rate limit is retried (Feishu answers its limits with 400)."""
    if kind not in (ReceiverKind.DINGTALK, ReceiverKind.WECOM, ReceiverKind.FEISHU):
        return None
    ok_status = 200 <= status < 300
    try:
        reply = json.loads(answer)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return (f"HTTP {status}: the {kind} robot's answer is not a JSON object", True) if ok_status else None
    code = reply.get("errcode", reply.get("code", reply.get("StatusCode", 0)))
    if code in (0, None) or (not ok_status and code not in RATE_LIMIT_CODES):
        return None
    message = reply.get("errmsg", reply.get("msg", reply.get("StatusMessage", "")))
    return f"{kind} robot refused: code {code} {message}".rstrip(), code in RATE_LIMIT_CODES
