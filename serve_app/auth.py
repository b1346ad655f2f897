"""Bearer tokens and roles.

Roles: ``viewer`` (read stock and alerts), ``operator`` (also ack, silence, restock,
adjust, subscriptions), ``admin`` (everything, and SKU settings), ``ingest`` (orders, for
its own channels). Tokens come from ``FLASHSTOCK_TOKENS`` (``role:name:token`` entries
separated by commas; for ``ingest`` the name is the channel, ``*`` for all) or from the
file named by ``FLASHSTOCK_TOKENS_FILE`` (one entry per line). They are kept only as
SHA-256 digests and compared in constant time. With no tokens configured, every caller
is an admin, and the service refuses to bind anything but loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from actors.infra.settings import current_settings

ROLES = ("viewer", "operator", "admin", "ingest")
#: the one route that also takes its token as ``?access_token=`` (the browser's
#: EventSource cannot send headers)
QUERY_TOKEN_PATH = "/v1/alerts/stream"
#: which roles each role includes
GRANTS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset({"viewer"}),
    "operator": frozenset({"viewer", "operator"}),
    "admin": frozenset({"viewer", "operator", "admin", "ingest"}),
    "ingest": frozenset({"ingest"}),
}


class Principal(NamedTuple):
    role: str
    name: str  # who (for audit), or the channel of an ingest token

    def can(self, role: str) -> bool:
        return role in GRANTS[self.role]

    def may_ingest(self, channel: str) -> bool:
        return self.role == "admin" or (self.role == "ingest" and self.name in ("*", channel))


ANONYMOUS_ADMIN = Principal("admin", "anonymous")


class TokenBook:
    """Digest of each token -> who holds it."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        for entry in entries:
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            parts = entry.split(":", 2)
            if len(parts) != 3 or parts[0] not in ROLES or not parts[2]:
                raise ValueError(f"token entry must be role:name:token with role in {ROLES}")
            self._by_digest[_digest(parts[2])] = Principal(parts[0], parts[1])

    @classmethod
    def from_env(cls) -> TokenBook:
        """The tokens of ``FLASHSTOCK_TOKENS``, of the file named by
        ``FLASHSTOCK_TOKENS_FILE`` and of the secrets file (``serve_app.secrets``). An
        entry may give its token as ``sha256:<hex>``, its digest."""
        from serve_app.secrets import file_secrets, parse_digest_entry

        settings = current_settings()
        entries = [e for e in settings.tokens.split(",") if e.strip()]
        if settings.tokens_file:
            entries += settings.tokens_file.read_text().splitlines()
        entries += file_secrets().tokens
        digested = [(e, parse_digest_entry(e)) for e in entries]
        book = cls(e for e, parsed in digested if parsed is None)
        for _, parsed in digested:
            if parsed is not None:
                if parsed.role not in ROLES:
                    raise ValueError(f"token entry must be role:name:token with role in {ROLES}")
                book._by_digest[parsed.digest] = Principal(parsed.role, parsed.name)
        return book

    @property
    def enabled(self) -> bool:
        return bool(self._by_digest)

    def principal(self, token: str | None) -> Principal | None:
        """Who holds ``token`` (None for an unknown or missing token). Every stored
        digest is compared, in constant time, so timing reveals nothing."""
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not token:
            return None
        wanted = _digest(token)
        found = None
        for digest, principal in self._by_digest.items():
            if hmac.compare_digest(digest, wanted):
                found = principal
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class MalformedAuthorization(ValueError):
    """An ``Authorization`` header that is not ``Bearer <token>``."""


def presented_token(
    authorization: str | None, method: str, path: str, access_token: str | None
) -> str | None:
    """The token a request presents: ``Authorization: Bearer <token>``, or ``access_token``
    from the query string on ``GET`` of the SSE route only (None when it presents none).
    Raises ``MalformedAuthorization`` for another scheme or an empty bearer."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise MalformedAuthorization("use Authorization: Bearer <token>")
        return value.strip()
    if method == "GET" and path == QUERY_TOKEN_PATH:
        return access_token or None
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or the name ``localhost``) is this machine only:
    127.0.0.0/8 or ::1. ``127.0.0.1.evil.com`` is a name anyone can point anywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
