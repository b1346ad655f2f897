"""Secrets reach the HTTP replicas from a file, never through Ray.

Ray writes a deployment's ``runtime_env`` into its logs, so the replicas' tokens and
webhook secrets must not travel there. The process that deploys the app writes them to
a secrets file (mode 0600: tokens only as SHA-256 digests, webhook secrets as they are,
since HMAC needs them) and passes only its path, ``FLASHSTOCK_SECRETS_FILE``, which is
not a secret. A replica reads the file named in its own environment; on a cluster each
node provides it (a file at the same path, a mounted Kubernetes secret), or each node's
``ray start`` has the ``FLASHSTOCK_*`` variables in its environment, which the workers it
starts inherit.

File format (JSON)::

    {"tokens": ["role:name:sha256:<hex>", ...], "webhook_secrets": {"DOUYIN": "...", ...}}
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from actors.infra.settings import current_settings

SECRETS_FILE_ENV = "FLASHSTOCK_SECRETS_FILE"
TOKENS_ENV = "FLASHSTOCK_TOKENS"
WEBHOOK_SECRET_PREFIX = "FLASHSTOCK_WEBHOOK_SECRET_"
DIGEST_PREFIX = "sha256:"


def is_secret_variable(name: str) -> bool:
    """Whether the environment variable ``name`` holds a secret (its value must never
    be logged nor put in a ``runtime_env``)."""
    return name == TOKENS_ENV or name.startswith(WEBHOOK_SECRET_PREFIX)


class DigestEntry(NamedTuple):
    role: str
    name: str
    digest: bytes


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def digest_entry(entry: str) -> str:
    """``role:name:token`` as ``role:name:sha256:<hex>`` (an entry already in that form
    is returned unchanged)."""
    parts = entry.strip().split(":", 2)
    if len(parts) != 3 or not parts[2]:
        raise ValueError("token entry must be role:name:token")
    role, name, token = parts
    if token.startswith(DIGEST_PREFIX):
        return entry.strip()
    return f"{role}:{name}:{DIGEST_PREFIX}{token_digest(token).hex()}"


def parse_digest_entry(entry: str) -> DigestEntry | None:
    """``role:name:sha256:<64 hex digits>`` parsed, or None for another entry. Raises
    ``ValueError`` for a ``sha256:`` value that is not 64 hex digits."""
    parts = entry.strip().split(":", 2)
    if len(parts) != 3 or not parts[2].startswith(DIGEST_PREFIX):
        return None
    hex_digest = parts[2][len(DIGEST_PREFIX) :]
    if len(hex_digest) != 64:
        raise ValueError("a token digest must be sha256:<64 hex digits>")
    return DigestEntry(parts[0], parts[1], bytes.fromhex(hex_digest))


@dataclass(frozen=True)
class Secrets:
    """Token entries (as digests) and webhook secrets by upper-case channel name."""

    tokens: tuple[str, ...] = ()
    webhook_secrets: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Secrets:
        """The secrets in ``FLASHSTOCK_TOKENS`` and ``FLASHSTOCK_WEBHOOK_SECRET_*`` of
        ``environ``, tokens digested."""
        tokens = tuple(digest_entry(e) for e in environ.get(TOKENS_ENV, "").split(",") if e.strip())
        webhooks = {
            name[len(WEBHOOK_SECRET_PREFIX) :]: value
            for name, value in environ.items()
            if name.startswith(WEBHOOK_SECRET_PREFIX) and value
        }
        return cls(tokens, webhooks)

    @classmethod
    def read(cls, path: Path) -> Secrets:
        data = json.loads(Path(path).read_text())
        return cls(
            tuple(digest_entry(e) for e in data.get("tokens", [])),
            {str(k).upper(): str(v) for k, v in data.get("webhook_secrets", {}).items()},
        )

    def write(self, path: Path) -> Path:
        """Write to ``path`` (mode 0600, replaced atomically: a reader never sees half
        a file, nor a moment where it is readable by others)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"tokens": list(self.tokens), "webhook_secrets": dict(self.webhook_secrets)})
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secrets-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def __bool__(self) -> bool:
        return bool(self.tokens or self.webhook_secrets)


def file_secrets() -> Secrets:
    """The secrets file named by ``FLASHSTOCK_SECRETS_FILE`` (none when it is unset)."""
    path = current_settings().secrets_file
    return Secrets.read(path) if path else Secrets()


def webhook_secret(channel: str) -> bytes | None:
    """The webhook secret of ``channel``: ``FLASHSTOCK_WEBHOOK_SECRET_<CHANNEL>`` of this
    process, else the secrets file's."""
    key = channel.upper()
    value = os.environ.get(WEBHOOK_SECRET_PREFIX + key) or file_secrets().webhook_secrets.get(key)
    return value.encode() if value else None


def private_secrets_file(secrets: Secrets) -> Path:
    """``secrets`` written to a new file in a new directory only this user can read
    (for a deployer that has no data directory of its own)."""
    directory = Path(tempfile.mkdtemp(prefix="flashstock-secrets-"))  # mode 0700
    return secrets.write(directory / "secrets.json")
