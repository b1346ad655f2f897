"""One all-or-nothing write of keys that share a hash tag, acknowledged only once it is
safe: a ``MULTI``/``EXEC`` on the server (on its append-only file before the reply, with
``appendfsync always``) or, on a Redis Cluster, on the primary serving the tag's slot,
followed on the same connection by ``WAIT 1`` when that primary has a replica, so the
write is also on a replica before the caller hears of it and a failover (the replica
promoted after the primary died) does not lose it (``actors.infra.replication``, the
rule the owners' commit follows too).

One path for both: the commands the ``queue`` callback adds to a redis-py pipeline are
sent by hand, between ``MULTI`` and ``EXEC`` on one connection (``WAIT`` counts the
writes of its own connection, and redis-py's cluster transaction hands its connection
back before a ``WAIT`` could follow). So a write returns the same replies everywhere: raw,
as Redis sends them (no redis-py response callbacks: an ``INCR`` gives an int, an
``XADD`` its id as bytes, or str on a client that decodes responses). Every key must be
in the tag's hash slot, on a single server too, so a caller's cross-slot bug fails every
test, not only those on a cluster: ``CrossSlotTransactionError`` before anything is sent.
A command's keys are found in the server's command table (redis-py's ``CommandsParser``:
a cluster client holds one; for a single server's client one is read, once, with
``COMMAND``), a script's from its ``numkeys``.

Crash and retry. A write that could not be sent (no connection, no node serving the
slot yet, a ``MOVED``/``ASK`` reply that aborted it: nothing applied) is sent again on a
cluster, after reloading the slot map, until ``CLUSTER_RETRIES`` attempts are spent (a
failover takes that long); on a single server the error is raised at once (a client
``connect`` makes from a URL does not retry either). A connection lost or timed out after
the transaction was sent leaves the outcome unknown: applied whole, or not at all.
Sending it again may apply it twice, so the caller says whether that is harmless
(``repeatable``): a repeatable write is sent again (on a single server too), with backoff,
until it gets through or the attempts are spent; any other raises
``WriteOutcomeUnknownError`` and the caller decides (the ingest publication: its inbox
entries stay pending, and are delivered again, only when it was not applied, because the
acknowledgement was part of it). Lost after ``EXEC``'s reply was read, only the replica's
confirmation is missing: the write stands, logged as not replicated
(``actors.infra.replication``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import redis
import structlog
from redis._parsers.commands import CommandsParser
from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.connection import HiredisRespSerializer
from redis.crc import key_slot
from redis.exceptions import CrossSlotTransactionError

from actors.infra.redis_client import CLUSTER_BACKOFF, CLUSTER_RETRIES, RedisClient
from actors.infra.replication import (
    primary_of,
    read_replica_wait,
    refresh_slot_map,
    reload_slot_map,
    send_replica_wait,
)

log = structlog.get_logger(__name__)

#: cluster replies that mean the slot is served elsewhere now, or soon (a failover under
#: way): the transaction was aborted as it was queued, nothing applied
_REDIRECTED = (
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ReadOnlyError,
)
#: a connection that failed or timed out
_LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: commands whose keys are their third argument's count of arguments after it
_NUMKEYS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
#: the key table of each single server's client (a cluster client keeps its own)
_parsers: weakref.WeakKeyDictionary[redis.Redis, CommandsParser] = weakref.WeakKeyDictionary()

#: one command as the pipeline queued it
Command = tuple[Any, ...]


class WriteOutcomeUnknownError(redis.exceptions.ConnectionError):
    """The connection was lost, or timed out, after a transaction was sent: it was applied
    whole or not at all, no one can say which. Raised for a write that is not
    ``repeatable``; the error it follows is its ``__cause__``."""


def atomic_write(
    client: RedisClient, tag_key: str, queue: Callable[[Any], None], *, repeatable: bool
) -> list[Any]:
    """Apply the commands ``queue`` adds to the pipeline it is given, all or none, and
    return their raw replies (module docstring). ``repeatable``: applying the write twice
    is harmless, so it is sent again after an unknown outcome; otherwise
    ``WriteOutcomeUnknownError``. ``CrossSlotTransactionError`` before anything is sent
    when a key is not in ``tag_key``'s hash slot; ``redis.exceptions.ResponseError`` for a
    command Redis refused (nothing applied) or that failed as it ran (the others were
    applied, as with ``MULTI``); a connection error once the retries are spent."""
    commands = _queued(queue)
    slot = _check_one_slot(client, tag_key, commands)
    cluster = isinstance(client, RedisCluster)
    if isinstance(client, RedisCluster):
        refresh_slot_map(client)
    attempt = 0
    while True:
        try:
            return _write(client, slot, tag_key, commands)
        except WriteOutcomeUnknownError as error:
            if not repeatable:
                raise
            retried: Exception = error
        except _REDIRECTED as error:
            if not cluster:
                raise
            retried = error
        except _LOST as error:  # before anything was sent
            if not cluster and attempt == 0:
                raise
            retried = error
        attempt += 1
        if attempt >= CLUSTER_RETRIES:
            raise retried
        log.info("redis_write_retried", key=tag_key, attempt=attempt, error=str(retried))
        time.sleep(CLUSTER_BACKOFF.compute(attempt))
        if isinstance(client, RedisCluster):
            reload_slot_map(client)


def _queued(queue: Callable[[Any], None]) -> list[Command]:
    """The commands ``queue`` adds to a pipeline (a recording one: it never executes)."""
    pipe: Any = Pipeline(None, {}, transaction=False, shard_hint=None)  # type: ignore[arg-type]  # never connects
    queue(pipe)
    return [args for args, _ in pipe.command_stack]


def _check_one_slot(client: RedisClient, tag_key: str, commands: Sequence[Command]) -> int:
    """``tag_key``'s hash slot, once every key of ``commands`` is found in it."""
    slot = key_slot(_encoded(tag_key))
    for args in commands:
        for key in _keys_of(client, args):
            if key_slot(_encoded(key)) != slot:
                raise CrossSlotTransactionError(
                    f"{args[0]} {key!r} is not in the hash slot of {tag_key!r}: keys written "
                    "together must share its hash tag"
                )
    return slot


def _keys_of(client: RedisClient, args: Command) -> Sequence[Any]:
    name = str(args[0]).upper()
    if name in _NUMKEYS:
        return args[3 : 3 + int(args[2])]
    parser: CommandsParser | None
    asked: Any
    if isinstance(client, RedisCluster):
        parser, asked = client.commands_parser, client.get_default_node().redis_connection  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    else:
        parser, asked = _parsers.get(client), client
        if parser is None:
            parser = _parsers[client] = CommandsParser(client)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    return parser.get_keys(asked, *args) or ()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _encoded(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


def _write(client: RedisClient, slot: int, tag_key: str, commands: Sequence[Command]) -> list[Any]:
    """One attempt: the transaction on the server, or on the slot's primary then its wait."""
    if isinstance(client, RedisCluster):
        primary = primary_of(client, slot)
        pool = client.get_redis_connection(primary.node).connection_pool
    else:
        primary, pool = None, client.connection_pool
    connection = pool.get_connection()
    try:
        connection.check_health()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        packed = packed_transaction(connection, commands)
        try:
            connection.send_packed_command(packed, check_health=False)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            if primary is not None and primary.replicated:
                send_replica_wait(connection)
            replies = _read_transaction(connection, len(commands))
        except _LOST as error:
            raise WriteOutcomeUnknownError(
                f"connection lost after the write of {tag_key!r} was sent; it may or may not "
                f"have been applied: {error}"
            ) from error
        if isinstance(replies, Exception):
            connection.disconnect()  # type: ignore[no-untyped-call]  # a WAIT's reply may be unread
            raise replies
        if isinstance(client, RedisCluster) and primary is not None and primary.replicated:
            read_replica_wait(client, connection, tag_key, primary.node)
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call]  # its replies are out of step
        raise
    finally:
        pool.release(connection)
    return replies


def packed_transaction(connection: redis.Connection, commands: Sequence[Command]) -> list[bytes]:
    """``MULTI``, ``commands`` and ``EXEC`` in Redis' protocol, as the connection would
    pack them. Where redis-py packs with hiredis, each command goes to hiredis whole:
    redis-py first looks at every argument in Python, which for the ingest's publication
    (3,000 arguments a batch) took 1.1 us per order against 0.5 for hiredis alone. A
    command hiredis does not take as it is (a name of two words, a ``bytearray``) and any
    other packer: redis-py's packing."""
    transaction = [("MULTI",), *commands, ("EXEC",)]
    if isinstance(connection._command_packer, HiredisRespSerializer):
        try:
            return [hiredis_packed(args) for args in transaction]
        except TypeError:
            pass
    packed: list[bytes] = connection.pack_commands(transaction)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    return packed


def hiredis_packed(args: Command) -> bytes:
    """One command in Redis' protocol, packed by hiredis whole (a dependency:
    ``redis[hiredis]``): the bytes redis-py's hiredis packer sends, without its pass over
    every argument first. ``TypeError`` for a command name redis-py would split first."""
    if not isinstance(args[0], str) or " " in args[0]:
        raise TypeError("a command name redis-py splits first")
    packed: bytes = hiredis.pack_command(args)
    return packed


def _read_transaction(connection: redis.Connection, count: int) -> list[Any] | Exception:
    """The replies of ``EXEC`` after ``MULTI`` and ``count`` queued commands, or the error
    to raise: a command refused as it was queued (nothing applied) or that failed as it
    ran (the others were applied, as with ``MULTI``). Reads every reply, so the connection
    stays in step."""
    refused: Exception | None = None
    for _ in range(count + 1):  # MULTI's OK, then QUEUED or a refusal per command
        try:
            connection.read_response()
        except redis.exceptions.ResponseError as error:
            refused = refused or error
    try:
        executed: Any = connection.read_response()
    except redis.exceptions.ResponseError as error:  # EXECABORT after a refusal
        return refused or error
    failed = [reply for reply in executed if isinstance(reply, Exception)]
    return failed[0] if failed else list(executed)
