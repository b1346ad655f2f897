"""Webhook signatures: HMAC-SHA256 of the exact request body with a per-channel secret.

The header value is the lowercase hex digest, optionally prefixed ``sha256=``.
Verification compares in constant time, so a caller cannot learn the digest byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac


def sign_body(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_problem(secret: bytes, body: bytes, signature: str | None) -> str | None:
    """Why ``signature`` does not authenticate ``body`` (missing, malformed, wrong), or
    None when it does."""
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
