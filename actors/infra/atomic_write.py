"""One all-or-nothing write of keys that share a hash tag, acknowledged only once it is
safe: on a single server, a MULTI/EXEC (on its append-only file before the reply, with
``appendfsync always``); on a Redis Cluster, the same MULTI/EXEC on the primary serving
the tag's slot, followed on the same connection by ``WAIT 1`` when that primary has a
replica, so the write is also on a replica before the caller hears of it and a failover
(the replica promoted after the primary died) does not lose it.

Why by hand on a cluster: ``WAIT`` counts the writes of its own connection, and
redis-py's cluster transaction hands its connection back to the pool before a ``WAIT``
could follow on it. So the commands go, as the ``queue`` callback adds them to a
redis-py pipeline, between ``MULTI`` and ``EXEC`` on one held connection to the primary.

On a cluster: a ``MOVED``/``ASK`` reply (the slot moved) aborts the transaction
(``EXECABORT``, nothing applied), the slot map is reloaded and the write sent again; a
connection error (the primary died) is retried against the slot's new primary until
``CLUSTER_RETRIES`` attempts are spent. A connection lost after the commands were sent
leaves the outcome unknown, as on a single server (redis-py retries there too): the
callers' writes are safe to repeat (``HSETNX``, ``XACK``, whole hashes) or tolerate a
repeated entry (a decision batch, a notification, a counter increment).
The wait for the replica follows ``actors.infra.replication`` (the owners' commit waits
the same way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
import structlog
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.exceptions import CrossSlotTransactionError

from actors.infra.redis_client import CLUSTER_BACKOFF, CLUSTER_RETRIES, RedisClient
from actors.infra.replication import (
    WAIT_COMMAND,
    check_replicated,
    primary_of,
    refresh_slot_map,
    reload_slot_map,
)

log = structlog.get_logger(__name__)

#: cluster replies that mean the slot is served elsewhere now, or soon (a failover under
#: way): nothing was applied; reload the slot map and send again
_RETRIED = (
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def atomic_write(client: RedisClient, tag_key: str, queue: Callable[[Any], None]) -> list[Any]:
    """Apply the commands ``queue`` adds to the pipeline it is given, all or none, and
    return their replies (raw on a cluster: ``text()`` them). Every key must share
    ``tag_key``'s hash tag: on a cluster, ``CrossSlotTransactionError`` before anything is
    sent if one does not. Raises ``redis.exceptions.ResponseError`` for a command Redis
    refused (nothing applied), a connection error once the retries are spent."""
    if not isinstance(client, RedisCluster):
        pipe = client.pipeline(transaction=True)
        queue(pipe)
        return list(pipe.execute())
    refresh_slot_map(client)
    attempt = 0
    while True:
        try:
            return _write_on_primary(client, tag_key, queue)
        except _RETRIED as error:
            attempt += 1
            if attempt >= CLUSTER_RETRIES:
                raise
            log.info("redis_cluster_write_retried", key=tag_key, attempt=attempt, error=str(error))
            time.sleep(CLUSTER_BACKOFF.compute(attempt))
            reload_slot_map(client)


def _write_on_primary(client: RedisCluster, tag_key: str, queue: Callable[[Any], None]) -> list[Any]:
    slot = client.keyslot(tag_key)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    primary, has_replica = primary_of(client, tag_key)
    node_client = client.get_redis_connection(primary)
    # no response callbacks: the queued commands answer QUEUED, EXEC their raw replies
    pipe: Any = Pipeline(node_client.connection_pool, {}, transaction=False, shard_hint=None)
    pipe.execute_command("MULTI")
    queue(pipe)
    for args, _ in pipe.command_stack[1:]:
        if client.determine_slot(*args) != slot:
            pipe.reset()
            raise CrossSlotTransactionError(
                f"{args[0]} {args[1]!r} is not in the hash slot of {tag_key!r}: keys written "
                "together must share its hash tag"
            )
    pipe.execute_command("EXEC")
    if has_replica:
        pipe.execute_command(*WAIT_COMMAND)
    replies = pipe.execute(raise_on_error=False)
    queued = replies[1 : len(replies) - (2 if has_replica else 1)]
    executed = replies[len(queued) + 1]
    refused = [reply for reply in queued if isinstance(reply, redis.exceptions.ResponseError)]
    if refused:  # EXEC aborted: nothing was applied
        raise refused[0]
    if isinstance(executed, Exception):
        raise executed
    failed = [reply for reply in executed if isinstance(reply, Exception)]
    if failed:  # a command that failed as it ran (the others were applied, as with MULTI)
        raise failed[0]
    if has_replica:
        check_replicated(client, replies[-1], tag_key, primary)
    return list(executed)
