"""Webhook signatures, HMAC-SHA256 with a per-channel secret, compared in constant time
(a caller cannot learn a digest byte by byte).

Incoming platform webhooks are signed Standard Webhooks style (standardwebhooks.com):
three headers, ``webhook-id`` (the message's id), ``webhook-timestamp`` (unix seconds)
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (one or
more space-separated ``v1,`` signatures, so a secret can be rotated). The timestamp is
signed, so a captured request cannot be re-sent outside the tolerance window. A secret
written ``whsec_<base64>`` (as Standard Webhooks libraries hand them out) is the base64
key; any other secret is its own UTF-8 bytes.

``sign_body`` / ``signature_problem`` are the older scheme (``sha256=<hex HMAC of the
body>``, no timestamp), still used to sign flashstock's outgoing alert webhooks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import NamedTuple

#: how far (seconds) a webhook's signed timestamp may be from the receiver's clock
DEFAULT_TOLERANCE_SECONDS = 300.0
#: the longest ``webhook-id`` accepted (characters)
MAX_WEBHOOK_ID_LENGTH = 128
#: the longest ``webhook-timestamp`` accepted (digits; unix seconds have 10 until 2286)
MAX_TIMESTAMP_DIGITS = 12
#: the prefix of a Standard Webhooks secret whose key is base64
SECRET_PREFIX = "whsec_"


class WebhookHeaders(NamedTuple):
    """The signature headers of an incoming webhook, as received (None when absent)."""

    id: str | None
    timestamp: str | None
    signature: str | None


class SignatureProblem(NamedTuple):
    """Why a webhook is not accepted: ``code`` is ``bad_signature`` (not authentic) or
    ``stale_signature`` (authentic, but its timestamp is outside the window: a replay,
    or a clock far off)."""

    code: str
    message: str


def signing_key(secret: bytes) -> bytes:
    """The HMAC key of a secret: the base64 part of ``whsec_<base64>``, else the bytes."""
    if secret.startswith(SECRET_PREFIX.encode()):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            return secret
    return secret


def sign_webhook(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of ``body`` sent as message
    ``webhook_id`` at ``timestamp`` (unix seconds)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers that sign ``body`` as message ``webhook_id`` at ``timestamp``."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(secret, webhook_id, timestamp, body),
    }


def webhook_problem(
    secret: bytes,
    body: bytes,
    headers: WebhookHeaders,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> SignatureProblem | None:
    """Why ``headers`` do not authenticate ``body`` received at ``now`` (unix seconds),
    or None when they do: a signature must match and its timestamp must be at most
    ``tolerance_seconds`` from ``now``, either way. The signature is checked first, so
    ``stale_signature`` is only ever said of an authentic request."""
    if not secret:
        return _bad("no webhook secret is configured for this channel")
    missing = [name for name, value in zip(HEADER_NAMES, headers, strict=True) if not value]
    if missing:
        return _bad(
            f"missing {', '.join(missing)} header (signed Standard Webhooks style; see docs/http-api.md)"
        )
    webhook_id, timestamp, signature = (value or "" for value in headers)
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH or not webhook_id.isascii() or not webhook_id.isprintable():
        return _bad(f"webhook-id must be 1..{MAX_WEBHOOK_ID_LENGTH} printable ASCII characters")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        return _bad("webhook-timestamp must be unix seconds (digits only)")
    offered = [part[3:] for part in signature.split() if part.startswith("v1,")]
    if not offered:
        return _bad("malformed webhook-signature: expected v1,<base64 HMAC-SHA256>")
    expected = sign_webhook(secret, webhook_id, int(timestamp), body)[3:].encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
        return _bad("signature does not match the id, timestamp and body")
    age = now - int(timestamp)
    if age > tolerance_seconds:
        return SignatureProblem(
            "stale_signature", f"webhook-timestamp is {age:.0f} s old (more than {tolerance_seconds:g} s)"
        )
    if -age > tolerance_seconds:
        return SignatureProblem(
            "stale_signature",
            f"webhook-timestamp is {-age:.0f} s in the future (more than {tolerance_seconds:g} s)",
        )
    return None


HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


def _bad(message: str) -> SignatureProblem:
    return SignatureProblem("bad_signature", message)


def sign_body(secret: bytes, body: bytes) -> str:
    """The older scheme's signature header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_problem(secret: bytes, body: bytes, signature: str | None) -> str | None:
    """Why ``signature`` (older scheme: ``sha256=<hex>`` or the bare lowercase hex
    digest) does not authenticate ``body`` (missing, malformed, wrong), or None when it
    does."""
    if not secret:
        return "no webhook secret is configured for this channel"
    if not signature:
        return "missing signature"
    digest = signature.strip()
    if digest.startswith("sha256="):
        digest = digest[len("sha256=") :]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
        return "malformed signature: expected sha256=<64 hex digits>"
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        return "signature does not match the body"
    return None
