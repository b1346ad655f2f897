"""Typed reads of Redis streams and hashes for the load tools. redis-py answers with
unions of bytes, str and None (and Any for some commands); the tools' clients are made
without ``decode_responses``, so every answer is bytes, turned here into typed values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.infra.redis_client import RedisClient

#: one stream entry: its id and its fields
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def entries(client: RedisClient, key: str, start: str = "-", end: str = "+") -> list[StreamEntry]:
    """The entries of stream ``key`` from ``start`` to ``end`` (ids or ``-`` / ``+``), oldest first."""
    raw: Any = client.xrange(key, start, end)
    return _entries(raw)


def last_entry_id(client: RedisClient, key: str) -> bytes | None:
    """The id of the newest entry of stream ``key``; None when it is empty or absent."""
    raw: Any = client.xrevrange(key, count=1)
    newest = _entries(raw)
    return newest[0][0] if newest else None


def read_after(
    client: RedisClient, key: str, cursor: bytes, block_ms: int | None = None
) -> list[StreamEntry]:
    """The entries of stream ``key`` after id ``cursor``, waiting up to ``block_ms`` for one."""
    raw: Any = client.xread({key: cursor}, block=block_ms)
    return [entry for _, stream_entries in raw or [] for entry in _entries(stream_entries)]


def hash_fields(client: RedisClient, key: str) -> list[str]:
    """The field names of hash ``key``."""
    raw: Any = client.hkeys(key)
    return [_bytes(name).decode() for name in raw]


def _entries(raw: Any) -> list[StreamEntry]:
    return [(_bytes(entry_id), _fields(fields)) for entry_id, fields in raw or []]


def _fields(raw: Mapping[Any, Any] | None) -> dict[bytes, bytes]:
    return {_bytes(name): _bytes(value) for name, value in (raw or {}).items()}


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"expected bytes from Redis, got {value!r}")
