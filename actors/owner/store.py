"""The owner's store: the Redis implementation of the narrow interface its core needs
(``OwnerStore``, defined with what crosses it in ``actors.owner.batch``) with the group
commit (``RedisOwnerStore``); its scripts are in ``actors.owner.scripts``. The in-memory
implementation, for unit tests, is ``actors.owner.memory_store``; ``tests/contract``
holds both to one suite. Readers that are not owners use ``actors.owner.reads``.

Layout (key names in ``actors.infra.keys``, reasons in ``docs/storage.md``): SKUs live in
a fixed number of partitions (``StoreConfig.partitions``, recorded in Redis on the first
start and refused if a later start disagrees); owner ``i`` of ``n`` holds the partitions
``p`` with ``p % n == i``. Every key of partition ``p`` carries the hash tag
``{ns:pP}``: its fence (epoch and layout), ledgers, settings, oversold counts, open
reservations, line records by bucket of commit time, and its ledger log.

Commit: one Lua script per touched partition, all sent on the connection of the
partition's Redis (pipelined) before any reply is read; each declares its keys, all in
the partition's hash slot. It
checks the partition's fence (the caller's epoch and shard count) and refuses
(``FENCED``) if a newer owner incarnation took the partition or the deployment was
resharded; otherwise it writes the ledgers (one HSET), the changed settings and oversold
counts, each changed line record once (an open reservation into ``open``, a settled
line: sold, released, rejected, applied, into the current bucket, which expires after
the retention window; HDEL from ``open`` of the lines the batch closed), and appends one
log entry carrying the ledgers and the changed line records, trimming log entries older
than the retention window (``MINID``, never ``MAXLEN``). Lua runs
atomically, so a crash leaves each partition's part of a batch whole or absent; with AOF
``appendfsync always`` it is on disk before the reply.

Crash and retry: a batch is acknowledged to its callers only once every partition's
commit is confirmed. A crash between two partitions' commits leaves some committed and
some not; the retried operations find the committed lines' records (in the open
reservations or the line buckets, looked up on a miss) and get their original decisions,
and the others are decided afresh: redelivery is idempotent per line.

On a Redis Cluster: one held connection per primary (``actors.infra.replication``), each
partition's script on the connection of its slot's primary, then ``WAIT 1`` on each
connection whose primary has a replica, so a batch is acknowledged once a replica has it
too (the rule and the log of ``actors.infra.atomic_write``). A ``MOVED``/``ASK`` reply or
a lost connection (the slot moved, its primary died) is an unknown outcome like any
failed commit: the connections are dropped, the slot map reloaded, and the owner reloads
its state before deciding again (through the failover: its reads retry until the
replica is promoted); the callers' retries are idempotent per line, as above.

Load (restart): the owner's partitions' ledgers, settings, oversold counts and open
reservations, read with HSCAN (no command long enough to stall Redis), not the line
buckets: a line id the owner does not hold in memory is looked up (``lookup_lines``).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence

import redis
from redis.cluster import RedisCluster

from actors.infra.atomic_write import hiredis_packed
from actors.infra.codec import (
    decode_ledger,
    decode_record,
    decode_settings,
    encode_ledger,
    encode_log_ledgers,
    encode_log_lines,
    encode_settings,
    line_key,
    split_line_key,
    text,
)
from actors.infra.keys import PartitionKeys
from actors.infra.redis_client import RedisClient, connect
from actors.infra.replication import HeldPrimaries, Route, read_replica_wait, send_replica_wait
from actors.infra.settings import StoreConfig
from actors.owner import fences
from actors.owner.batch import (
    BucketSpanError,
    CommitBatch,
    LayoutMismatchError,
    OwnedState,
    OwnerFencedError,
    OwnerStore,
    PartitionCountError,
    SentCommit,
    raise_if_fenced,
)
from actors.owner.reads import (
    bucket_of,
    existing_buckets,
    find_lines,
    oversold_counts,
    partition_keys,
    read_sku_states,
    read_skus,
    scan_hash,
    sku_names,
)
from actors.owner.removal import remove_sku
from actors.owner.scripts import COMMIT_LUA
from policies.ledger import LineRecord, LineStatus
from policies.operations import FIELD_SEPARATOR
from policies.routing import partition_of, partitions_of

__all__ = [
    "BucketSpanError",
    "CommitBatch",
    "LayoutMismatchError",
    "LedgerStore",
    "OwnedState",
    "OwnerFencedError",
    "OwnerStore",
    "PartitionCountError",
    "RedisOwnerStore",
    "SentCommit",
    "read_sku_states",
    "read_skus",
    "sku_names",
]

_RESERVED_PREFIX = f"{LineStatus.RESERVED}|"


class LedgerStore:
    """Layout, loading and committing for one ``StoreConfig``, over a client the caller
    passes (the handoff and audits use it directly; owners use ``RedisOwnerStore``)."""

    def __init__(self, config: StoreConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.partitions = [partition_keys(config, p) for p in range(config.partitions)]
        self._partition_of: dict[str, int] = {}
        self._commit_sha: str | None = None
        #: the connections the commit script was loaded through (a cluster: one per node)
        self._loaded_on: weakref.WeakSet[redis.Connection] = weakref.WeakSet()

    def partition(self, sku: str) -> int:
        found = self._partition_of.get(sku)
        if found is None:
            found = self._partition_of[sku] = partition_of(sku, self.config.partitions)
        return found

    def keys_of(self, sku: str) -> PartitionKeys:
        return self.partitions[self.partition(sku)]

    def layout(self, client: RedisClient) -> int | None:
        """The shard count the deployment runs with (None before its first owner)."""
        return fences.read_layout(client, self.config)

    def claim_layout(self, client: RedisClient) -> None:
        """``fences.claim_layout`` for this config."""
        fences.claim_layout(client, self.config, self.partitions)

    def set_layout(self, client: RedisClient) -> None:
        """``fences.set_layout`` for this config."""
        fences.set_layout(client, self.config, self.partitions)

    def take_epoch(self, client: RedisClient, index: int) -> int:
        """``fences.take_epoch`` for owner ``index`` of this config."""
        return fences.take_epoch(client, self.config, self.partitions, index)

    def load(self, client: RedisClient, index: int) -> OwnedState:
        """What owner ``index`` needs to decide (see ``OwnerStore.load``)."""
        owned = partitions_of(index, self.config.shard_count, self.config.partitions)
        state = OwnedState({}, {}, {}, {})
        for partition in owned:
            k = self.partitions[partition]
            settings = scan_hash(client, k.settings)
            for sku, raw in scan_hash(client, k.state).items():
                if sku in settings:
                    state.ledgers[sku] = decode_ledger(sku, raw)
                    state.settings[sku] = decode_settings(settings[sku])
            for sku, counts in oversold_counts(scan_hash(client, k.oversold)).items():
                if sku in state.ledgers:
                    state.oversold[sku] = counts
            for sku in state.ledgers:
                state.records.setdefault(sku, {})
            for key, raw in scan_hash(client, k.open).items():
                sku, line_field = split_line_key(key)
                if sku in state.records:  # a removed SKU's lines are no one's
                    state.records[sku][line_field] = decode_record(raw)
        state.buckets = existing_buckets(client, self.config, owned, self.clock())
        return state

    def lookup_lines(
        self, client: RedisClient, wanted: Mapping[tuple[str, str], Sequence[int]]
    ) -> dict[tuple[str, str], LineRecord]:
        return find_lines(client, self.config, wanted, self.partition)

    def commit_calls(self, epoch: int, batch: CommitBatch) -> dict[int, tuple[list[str], list[str]]]:
        """Per touched partition, the commit script's keys and arguments for ``batch``.
        The hot path of a commit: every line costs one key built and one list append."""
        config = self.config
        at = batch.committed_at or self.clock()
        bucket = bucket_of(config, at)
        expire_at = int((bucket + 1) * config.bucket_seconds + config.retention_seconds)
        min_id = max(0, int((min(at, time.time()) - config.retention_seconds) * 1000))
        parts: dict[int, _Part] = {}
        partition_of_sku = self._partition_of
        reserved, separator = _RESERVED_PREFIX, FIELD_SEPARATOR

        def part(sku: str) -> _Part:
            partition = partition_of_sku.get(sku)
            if partition is None:
                partition = self.partition(sku)
            found = parts.get(partition)
            if found is None:
                found = parts[partition] = _Part()
            return found

        for sku, ledger in batch.ledgers.items():
            part(sku).state += (sku, encode_ledger(ledger))
        for sku, settings in batch.settings.items():
            part(sku).settings += (sku, encode_settings(settings))
        for sku, counts in batch.oversold.items():
            p = part(sku)
            for channel, count in counts.items():
                p.oversold += (line_key(sku, channel), str(count))
        for sku, pairs in batch.records.items():
            p = part(sku)
            lines, opened = p.lines, p.opened
            prefix = f"{sku}{separator}"
            for i in range(0, len(pairs), 2):
                record = pairs[i + 1]
                # an open reservation lives in ``open`` only, a settled line in its bucket
                if record.startswith(reserved):
                    opened += (prefix + pairs[i], record)
                else:
                    lines += (prefix + pairs[i], record)
        for sku, fields in batch.closed.items():
            part(sku).closed.extend(line_key(sku, f) for f in fields)
        calls: dict[int, tuple[list[str], list[str]]] = {}
        head = [str(epoch), str(config.shard_count), str(expire_at), str(min_id)]
        for partition, p in parts.items():
            k = self.partitions[partition]
            call_keys = [k.fence, k.state, k.settings, k.oversold, k.open, k.lines(bucket), k.log]
            args = [
                *head,
                encode_log_ledgers(p.state),
                encode_log_lines(p.opened, p.lines),
                str(len(p.state)),
                str(len(p.settings)),
                str(len(p.oversold)),
                str(len(p.opened)),
                str(len(p.closed)),
                str(len(p.lines)),
            ]
            for values in (p.state, p.settings, p.oversold, p.opened, p.closed, p.lines):
                args += values
            calls[partition] = (call_keys, args)
        return calls

    def send_commit(
        self, connection_for: Callable[[int], redis.Connection], epoch: int, batch: CommitBatch
    ) -> SentCommit:
        """Send the commit of ``batch``, one script per partition on that partition's
        connection, without waiting for the replies, so the caller can decide its next
        batch while Redis applies and fsyncs this one."""
        sent: list[tuple[int, list[str], list[str]]] = []
        for partition, (call_keys, args) in self.commit_calls(epoch, batch).items():
            conn = connection_for(partition)
            if self._commit_sha is None or conn not in self._loaded_on:
                _send(conn, "SCRIPT", "LOAD", COMMIT_LUA)
                self._commit_sha = text(conn.read_response())
                self._loaded_on.add(conn)
            send_script(conn, "EVALSHA", self._commit_sha, call_keys, args)
            sent.append((partition, call_keys, args))
        return SentCommit([(keys_, args) for _, keys_, args in sent], [p for p, _, _ in sent])

    def finish_commit(self, connection_for: Callable[[int], redis.Connection], sent: SentCommit) -> None:
        """Wait for every partition's reply. Returns when the whole batch is durable;
        raises ``OwnerFencedError`` when a newer owner exists for any partition, another
        error when the outcome is unknown (the caller must then reload its state)."""
        failure: Exception | None = None
        for partition, (call_keys, args) in zip(sent.partitions, sent.calls, strict=True):
            conn = connection_for(partition)
            try:
                try:
                    conn.read_response()
                except redis.exceptions.NoScriptError:
                    # Redis restarted and lost its script cache; this part was not applied.
                    send_script(conn, "EVAL", COMMIT_LUA, call_keys, args)
                    conn.read_response()
                    self._loaded_on.discard(conn)
            except redis.exceptions.ResponseError as error:
                # read every reply first, so the connection stays in step
                if failure is None or str(error).startswith("FENCED"):
                    failure = error
            except Exception as error:
                failure = error
                break  # the connection is broken: the caller drops it
        if failure is not None:
            raise_if_fenced(failure)
            raise failure


class _Part:
    """One partition's share of a batch, as the commit script's values."""

    __slots__ = ("closed", "lines", "opened", "oversold", "settings", "state")

    def __init__(self) -> None:
        self.state: list[str] = []
        self.settings: list[str] = []
        self.oversold: list[str] = []
        self.lines: list[str] = []
        self.opened: list[str] = []
        self.closed: list[str] = []


class RedisOwnerStore:
    """``OwnerStore`` on Redis: commits go over one held connection per Redis server (a
    cluster: per primary), so a commit can be sent before its replies are read (the next
    batch is decided meanwhile)."""

    def __init__(
        self,
        config: StoreConfig,
        client: RedisClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.layout = LedgerStore(config, clock)
        self.client = client or connect(
            config.redis_url, socket_timeout=10.0, socket_connect_timeout=5.0, health_check_interval=30
        )
        if isinstance(self.client, RedisCluster):
            self._primaries: HeldPrimaries | None = HeldPrimaries(self.client)
        else:
            self._primaries = None
            #: the connection commits go over, held so a commit can be sent before its reply
            self._conn: redis.Connection = self.client.connection_pool.get_connection()

    def connection_for(self, partition: int) -> redis.Connection:
        """The held connection to the Redis that serves ``partition`` (on a standalone
        server, the one connection; a cluster maps the partition's slot to its primary)."""
        if self._primaries is None:
            return self._conn
        return self._route(partition).connection

    def _route(self, partition: int) -> Route:
        assert self._primaries is not None
        return self._primaries.route(self.layout.partitions[partition].fence)

    def now(self) -> float:
        return self.layout.clock()

    def claim_layout(self) -> None:
        self.layout.claim_layout(self.client)

    def set_layout(self) -> None:
        self.layout.set_layout(self.client)

    def take_epoch(self, index: int) -> int:
        return self.layout.take_epoch(self.client, index)

    def load(self, index: int) -> OwnedState:
        return self.layout.load(self.client, index)

    def lookup_lines(
        self, wanted: Mapping[tuple[str, str], Sequence[int]]
    ) -> dict[tuple[str, str], LineRecord]:
        return self.layout.lookup_lines(self.client, wanted)

    def send_commit(self, epoch: int, index: int, batch: CommitBatch) -> SentCommit:
        del index  # each partition's fence names its owner's epoch
        if self._primaries is None:
            return self.layout.send_commit(self.connection_for, epoch, batch)
        self._primaries.refresh()  # with no reply pending: routes stay put until finished
        sent = self.layout.send_commit(self.connection_for, epoch, batch)
        waits: dict[str, int] = {}  # one WAIT per primary with a replica, after its scripts
        for partition in sent.partitions:
            route = self._route(partition)
            if route.replicated and route.node.name not in waits:
                waits[route.node.name] = partition
                send_replica_wait(route.connection)
        return sent._replace(waits=tuple(waits.values()))

    def finish_commit(self, sent: SentCommit) -> None:
        try:
            self.layout.finish_commit(self.connection_for, sent)
        except OwnerFencedError:
            if sent.waits:
                self.drop_connection()  # the waits' replies are not read
            raise
        if self._primaries is None:
            return
        replicated = True
        for partition in sent.waits:
            route = self._route(partition)
            fence = self.layout.partitions[partition].fence
            replicated &= read_replica_wait(self._primaries.client, route.connection, fence, route.node)
        if not replicated:  # the slot map was reloaded: a replica gone is not waited for
            self._primaries.forget_routes()

    def remove_sku(self, epoch: int, index: int, sku: str) -> None:
        del index
        remove_sku(self.client, self.layout, epoch, sku)

    def drop_connection(self) -> None:
        if self._primaries is None:
            self._conn.disconnect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        else:
            self._primaries.drop()

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        if self._primaries is None:
            self.client.connection_pool.release(self._conn)  # type: ignore[union-attr]  # a server's client here
        else:
            self._primaries.close()
        self.client.close()


def _send(conn: redis.Connection, *args: object) -> None:
    conn.send_command(*args)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def send_script(conn: redis.Connection, command: str, script: str, keys: list[str], args: list[str]) -> None:
    """Send ``command`` (``EVALSHA`` or ``EVAL``) of ``script`` with its keys and arguments,
    packed by hiredis in one call. The bytes are those ``conn.send_command`` sends with
    hiredis (a dependency: ``redis[hiredis]``), without redis-py's pass over every
    argument first (a commit carries two per line); ``tests/unit/test_commit_packing.py``
    holds the two equal. Nothing is sent if packing fails; a failed send is the caller's
    unknown outcome, as before."""
    packed = hiredis_packed((command, script, len(keys), *keys, *args))
    conn.send_packed_command([packed])  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
