"""The start guard: a namespace that still holds keys of the previous storage layout
(``actors.infra.legacy_keys``) is refused before any actor starts, because the current
code would not see them and would start on an apparently empty store (stock, open
reservations, idempotency records, inbox backlogs, grants, alerts): it could oversell.
``flashstock migrate`` converts them (``actors.upgrade.migrate``).

The check is one ``SCAN`` with ``MATCH ns:*`` (a walk over the keyspace, ``SCAN_COUNT``
keys a step, so no command holds Redis for long), stopping at the first few old keys
found and after ``MAX_SCAN_STEPS`` steps; the old layout's global keys (``ns:skus``,
``ns:ledger`` and the others without a value in their name) are checked exactly first
with one ``EXISTS``. The old layout never ran on a Redis Cluster, so a cluster is not
scanned.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog

from actors.infra import legacy_keys
from actors.infra.legacy_keys import LegacyKey
from actors.infra.redis_client import RedisUrlError, connect, without_password
from actors.infra.redis_server import RedisServerError

log = structlog.get_logger(__name__)

#: keys one SCAN step looks at
SCAN_COUNT = 1_000
#: steps the guard takes at most (10 million keys); past them it relies on the EXISTS check
MAX_SCAN_STEPS = 10_000
#: old keys named in the refusal
SHOWN = 5


class LegacyLayoutError(RedisServerError):
    """The namespace holds keys of the previous storage layout: run ``flashstock migrate``."""


def scan_legacy_keys(
    client: redis.Redis, namespace: str, *, limit: int | None = None, max_steps: int | None = None
) -> list[LegacyKey]:
    """The old-layout keys of ``namespace``, in SCAN order: all of them, or the first
    ``limit``; at most ``max_steps`` SCAN steps (None: the whole keyspace)."""
    found: list[LegacyKey] = []
    cursor: int = 0
    steps = 0
    pattern = legacy_keys.scan_pattern(namespace)
    while True:
        # redis-py types the reply loosely: (cursor, [key, ...])
        reply: Any = client.scan(cursor, match=pattern, count=SCAN_COUNT)
        cursor, page = reply
        steps += 1
        for raw in page:
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            legacy = legacy_keys.classify(namespace, key)
            if legacy is not None and legacy not in found:
                found.append(legacy)
                if limit is not None and len(found) >= limit:
                    return found
        if cursor == 0:
            return found
        if max_steps is not None and steps >= max_steps:
            log.warning("layout_guard_scan_cut", namespace=namespace, steps=steps, keys_per_step=SCAN_COUNT)
            return found


def find_legacy_layout(client: redis.Redis, namespace: str) -> list[str]:
    """Up to ``SHOWN`` names of old-layout keys in ``namespace`` (empty: none found)."""
    fixed = [legacy_keys.skus(namespace), *legacy_keys.fixed_keys(namespace)]
    pipe = client.pipeline(transaction=False)
    for key in fixed:
        pipe.exists(key)
    present = [key for key, exists in zip(fixed, pipe.execute(), strict=True) if exists]
    if len(present) >= SHOWN:
        return present[:SHOWN]
    scanned = scan_legacy_keys(client, namespace, limit=SHOWN, max_steps=MAX_SCAN_STEPS)
    return (present + [k.key for k in scanned if k.key not in present])[:SHOWN]


def guard_layout(redis_url: str, namespace: str) -> None:
    """Refuse (``LegacyLayoutError``, one line: what was found, what to do) when the
    namespace ``namespace`` of the Redis at ``redis_url`` holds old-layout keys; a Redis
    Cluster is not checked (the old layout never ran on one)."""
    try:
        client = connect(redis_url, socket_timeout=10.0, socket_connect_timeout=5.0)
    except RedisUrlError as error:
        raise RedisServerError(f"the Redis URL cannot be used: {error}") from None
    if not isinstance(client, redis.Redis):
        client.close()
        return
    try:
        found = find_legacy_layout(client, namespace)
    except redis.exceptions.RedisError as error:
        raise RedisServerError(f"cannot reach Redis at {without_password(redis_url)}: {error}") from None
    finally:
        client.close()
    if found:
        log.error("legacy_layout_found", namespace=namespace, keys=found)
        raise LegacyLayoutError(
            f"namespace {namespace!r} holds data in flashstock's previous storage layout "
            f"({', '.join(found)}{', ...' if len(found) >= SHOWN else ''}), which this version "
            "would not see: stop every flashstock process and run `flashstock migrate "
            f"--namespace {namespace}` with the same Redis first (docs/storage.md, Upgrading)"
        )
