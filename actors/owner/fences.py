"""The owners' layout and fences (``actors.owner.store``): the deployment's partition and
shard counts, and each partition's fence (the epoch of the owner incarnation that may
write it and the shard count of the layout), which every commit script checks.

A new epoch is taken, and on a Redis Cluster each fence is written, through
``actors.infra.atomic_write`` (there: ``MULTI``/``EXEC`` then ``WAIT`` on the partition's
primary), acknowledged once a replica has it, so a failover cannot bring back an older
owner's fence or hand out an epoch twice. On a single server the fence writes are one
pipeline (one round trip for every partition).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from redis.cluster import RedisCluster

from actors.infra import keys
from actors.infra.atomic_write import atomic_write
from actors.infra.codec import text
from actors.infra.keys import PartitionKeys
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import DEFAULT_BUCKET_SECONDS, StoreConfig
from actors.owner.batch import PartitionCountError, bucket_span_mismatch, layout_mismatch
from actors.owner.scripts import RESHARD_LUA, TAKE_LUA
from policies.routing import partitions_of

#: the fence write that records the layout's shard count where none is recorded
_HSETNX = "HSETNX"


def read_layout(client: RedisClient, config: StoreConfig) -> int | None:
    """The shard count the deployment runs with (None before its first owner)."""
    current = client.get(keys.layout(config.namespace))
    return None if current is None else int(text(current))


def claim_layout(client: RedisClient, config: StoreConfig, partitions: Sequence[PartitionKeys]) -> None:
    """Record ``config``'s partition and shard counts and bucket span as the deployment's
    if none are recorded; ``BucketSpanError`` / ``PartitionCountError`` /
    ``LayoutMismatchError`` if others are (reshard first: ``actors.owner.handoff``; the
    partition count and the bucket span never change)."""
    partitions_key = keys.partition_count(config.namespace)
    # the bucket span before the partition count: a namespace with a partition count and no
    # span was written before the span was recorded, when it was always the default
    span_key = keys.bucket_span(config.namespace)
    fresh = not client.exists(partitions_key)
    client.set(span_key, config.bucket_seconds if fresh else DEFAULT_BUCKET_SECONDS, nx=True)
    span = int(text(client.get(span_key)))
    if span != config.bucket_seconds:
        raise bucket_span_mismatch(config, span)
    client.set(partitions_key, config.partitions, nx=True)
    recorded = int(text(client.get(partitions_key)))
    if recorded != config.partitions:
        raise PartitionCountError(
            f"namespace {config.namespace!r} was written with {recorded} partitions, "
            f"not {config.partitions}: the partition count of a deployment never changes"
        )
    client.set(keys.layout(config.namespace), config.shard_count, nx=True)
    current = read_layout(client, config)
    if current != config.shard_count:
        raise layout_mismatch(config, current)
    _write_fences(client, config, [(k.fence, _HSETNX, ()) for k in partitions])


def bucket_span_problem(config: StoreConfig) -> str | None:
    """Why owners of ``config`` would be refused for their bucket span (``claim_layout``'s
    rule), asked before anything starts so a command can say it in one line; None when
    the namespace is new or was written with the same span."""
    client = connect(config.redis_url, socket_timeout=10.0, socket_connect_timeout=5.0)
    try:
        recorded = client.get(keys.bucket_span(config.namespace))
        if recorded is None and not client.exists(keys.partition_count(config.namespace)):
            return None
        span = DEFAULT_BUCKET_SECONDS if recorded is None else int(text(recorded))
    finally:
        client.close()
    return None if span == config.bucket_seconds else str(bucket_span_mismatch(config, span))


def set_layout(client: RedisClient, config: StoreConfig, partitions: Sequence[PartitionKeys]) -> None:
    """Make ``config``'s shard count the deployment's: from now on owners of any other
    shard count are fenced at their next commit (every partition's fence names the new
    count and no epoch until a new owner takes it; a partition whose fence already names
    it keeps its owner)."""
    _write_fences(client, config, [(k.fence, RESHARD_LUA, ()) for k in partitions])
    # the layout key last: after a crash in between, the handoff runs again whole
    client.set(keys.layout(config.namespace), config.shard_count)


def take_epoch(
    client: RedisClient, config: StoreConfig, partitions: Sequence[PartitionKeys], index: int
) -> int:
    """A new, higher epoch for owner ``index``, written into the fence of each of its
    partitions: from now on older incarnations are fenced."""
    key = keys.owner_epoch(config.namespace, config.shard_count, index)
    # repeatable: an INCR applied twice skips an epoch, and epochs need only grow
    epoch = int(atomic_write(client, key, lambda pipe: pipe.incr(key), repeatable=True)[0])
    owned = partitions_of(index, config.shard_count, config.partitions)
    _write_fences(client, config, [(partitions[p].fence, TAKE_LUA, (epoch,)) for p in owned])
    return epoch


def _write_fences(
    client: RedisClient, config: StoreConfig, writes: Sequence[tuple[str, str, tuple[int, ...]]]
) -> None:
    """Each (fence key, script or ``HSETNX``, arguments before the shard count)."""
    done = [(fence, script, (*args, config.shard_count)) for fence, script, args in writes]
    if isinstance(client, RedisCluster):
        for fence, script, args in done:
            # repeatable: each fence write is idempotent (HSETNX, or a script that sets
            # the fence to what it names unless it names it already)
            queue = functools.partial(_queue_fence, fence, script, args)
            atomic_write(client, fence, queue, repeatable=True)
        return
    pipe = client.pipeline(transaction=False)
    for fence, script, args in done:
        _queue_fence(fence, script, args, pipe)
    pipe.execute()


def _queue_fence(fence: str, script: str, args: tuple[int, ...], pipe: Any) -> None:
    """Queue one fence write (the shard count is the last argument)."""
    if script == _HSETNX:
        pipe.hsetnx(fence, "shards", args[-1])
    else:
        pipe.eval(script, 1, fence, *args)
