"""Waiting for a Redis Cluster replica before a write is acknowledged: one rule, and one
way to apply it (``send_replica_wait`` after the writes, ``read_replica_wait`` after their
replies), for every store (``actors.infra.atomic_write`` for transactions,
``actors.owner.store`` for the owners' commit scripts).

Cluster replication is asynchronous, so a primary that dies right after answering can take
its last writes with it. A write is acknowledged only after ``WAIT 1 WAIT_TIMEOUT_MS`` on
the connection that wrote it (``WAIT`` counts that connection's own writes) confirms a
replica has it, when the slot's primary has a replica. When the replica does not confirm
in time (it is down or far behind) the write stands on the primary alone, is logged
(``redis_write_not_replicated``) and returned: refusing would stop the caller while its
replica is away. A ``WAIT`` that failed (an error reply, the connection lost after the
writes' replies were read) is not a confirmation either: the writes were applied on the
primary, and are treated alike. The slot map is then reloaded: Redis lists only live replicas in it, so a
replica gone for good stops costing the wait. Clients learn replicas from the slot map,
which is reloaded every ``SLOT_MAP_MAX_AGE`` seconds (``refresh_slot_map``) so a replica
that joined is waited for.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any, NamedTuple

import redis
import structlog
from redis.cluster import ClusterNode, RedisCluster

log = structlog.get_logger(__name__)

#: how long a cluster write waits for its replica's confirmation
WAIT_TIMEOUT_MS = 1000
#: the arguments of the wait that follows a write on its connection
WAIT_COMMAND = ("WAIT", 1, WAIT_TIMEOUT_MS)
#: seconds after which a write reloads the slot map first (replicas come and go)
SLOT_MAP_MAX_AGE = 30.0
#: when each cluster client's slot map was last reloaded here (monotonic seconds)
_slot_map_loaded: weakref.WeakKeyDictionary[RedisCluster, float] = weakref.WeakKeyDictionary()


class Primary(NamedTuple):
    """The node serving a slot now, and whether it has a replica to wait for."""

    node: ClusterNode
    replicated: bool


def slot_of(client: RedisCluster, key: str) -> int:
    """The hash slot of ``key`` (of its hash tag, when it has one)."""
    return int(client.keyslot(key))  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def primary_of(client: RedisCluster, slot: int) -> Primary:
    """The primary serving ``slot`` in ``client``'s slot map; a connection error when no
    node serves it (the slot map is out of date: reload it and retry)."""
    serving = client.nodes_manager.slots_cache.get(slot) or []
    if not serving:
        raise redis.exceptions.ConnectionError(f"no node serves slot {slot} now")
    return Primary(serving[0], len(serving) > 1)


def reload_slot_map(client: RedisCluster) -> None:
    """Ask the cluster for its slot map again (errors aside: the next call retries)."""
    _slot_map_loaded[client] = time.monotonic()
    with contextlib.suppress(redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
        client.nodes_manager.initialize()


def refresh_slot_map(client: RedisCluster) -> bool:
    """Reload the client's slot map once it is ``SLOT_MAP_MAX_AGE`` old (redis-py reloads
    it only after an error); whether it was reloaded."""
    now = time.monotonic()
    loaded = _slot_map_loaded.get(client)
    if loaded is None:
        _slot_map_loaded[client] = now  # loaded as the client was made
        return False
    if now - loaded <= SLOT_MAP_MAX_AGE:
        return False
    reload_slot_map(client)
    return True


def send_replica_wait(connection: redis.Connection) -> None:
    """Send ``WAIT_COMMAND`` on ``connection`` after the writes it must confirm (``WAIT``
    counts the writes of its own connection); its reply follows theirs, read with
    ``read_replica_wait`` once theirs are read."""
    connection.send_command(*WAIT_COMMAND)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def read_replica_wait(
    client: RedisCluster, connection: redis.Connection, key: str, primary: ClusterNode
) -> bool:
    """Read the reply of ``send_replica_wait`` on ``connection`` after writes of ``key`` on
    ``primary`` (their replies read: they were applied): whether a replica confirmed them.
    When none did in time, or the wait failed, it is logged and the slot map reloaded
    (module docstring); a lost connection is left disconnected (the next use reconnects)."""
    try:
        reply: Any = connection.read_response()
    except (
        redis.exceptions.ResponseError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    ) as error:
        reply = error
    failed = isinstance(reply, Exception)
    if not failed and int(reply) >= 1:
        return True
    log.warning(
        "redis_write_not_replicated",
        key=key,
        primary=primary.name,
        wait_ms=WAIT_TIMEOUT_MS,
        error=str(reply) if failed else None,
    )
    reload_slot_map(client)
    return False


class Route(NamedTuple):
    """Where a key's writes go: the held connection to its slot's primary."""

    node: ClusterNode
    connection: redis.Connection
    replicated: bool


class HeldPrimaries:
    """One held connection per primary of a Redis Cluster, reused for every write to the
    slots it serves, so a caller can pipeline writes and read their replies later, and
    ``WAIT`` on the connection that wrote. Routes are kept per slot (at most 16384), not
    per key. ``drop`` forgets them all and reloads the slot
    map (after ``MOVED``/``ASK`` or a lost connection: the slot moved or its primary died)."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._held: dict[str, tuple[redis.ConnectionPool, redis.Connection]] = {}
        self._routes: dict[int, Route] = {}  # slot -> route

    def refresh(self) -> None:
        """Reload an old slot map (``refresh_slot_map``); call it with no reply pending."""
        if refresh_slot_map(self.client):
            self._routes.clear()

    def forget_routes(self) -> None:
        """Route again from the slot map as it is now (it was reloaded: a replica left);
        call it with no reply pending."""
        self._routes.clear()

    def route(self, key: str) -> Route:
        """The held connection to the primary serving ``key``'s slot now."""
        slot = slot_of(self.client, key)
        found = self._routes.get(slot)
        if found is None:
            node, replicated = primary_of(self.client, slot)
            held = self._held.get(node.name)
            if held is None:
                pool = self.client.get_redis_connection(node).connection_pool
                held = self._held[node.name] = (pool, pool.get_connection())
            found = self._routes[slot] = Route(node, held[1], replicated)
        return found

    def drop(self) -> None:
        """Disconnect and forget every held connection, then reload the slot map."""
        self._release(disconnect=True)
        reload_slot_map(self.client)

    def close(self) -> None:
        self._release(disconnect=False)

    def _release(self, *, disconnect: bool) -> None:
        for pool, connection in self._held.values():
            if disconnect:
                connection.disconnect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pool.release(connection)
        self._held.clear()
        self._routes.clear()
