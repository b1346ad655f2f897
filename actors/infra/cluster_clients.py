"""redis-py's Redis Cluster clients, with the keys of a stream read found locally.

redis-py routes a command by its keys. For commands whose keys move (``XREAD``,
``XREADGROUP``) it asks a node for them (``COMMAND GETKEYS``): the sync client asks its
*default node*, outside its own retry loop. Once that node is dead (a failover took its
primary away) every stream read fails with a connection error for good, although the
slot it wants is served by a live primary: measured in ``flashstock chaos --redis
cluster`` when the killed primary was the default node (the ingest and the channel sync
stopped reading for minutes). So the clients here read a stream read's keys from its
arguments (the first half of what follows ``STREAMS``), one round trip less per read
too, and the sync client picks another default node when asking one failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio.cluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

#: commands whose keys follow ``STREAMS``: the streams, then as many ids
STREAM_READS = frozenset({"XREAD", "XREADGROUP"})


def stream_read_keys(args: Sequence[Any]) -> list[Any] | None:
    """The keys of a stream read (``args`` from its command name on), or ``None`` when
    ``args`` is another command. A read without ``STREAMS`` or with an odd tail is
    refused as redis-py refuses a command it cannot route."""
    name = _word(args[0]) if args else ""
    if name not in STREAM_READS:
        return None
    words = [_word(arg) for arg in args]
    if "STREAMS" not in words:
        raise RedisClusterException(f"{name} without STREAMS cannot be routed: {list(args)!r}")
    tail = list(args[words.index("STREAMS") + 1 :])
    if not tail or len(tail) % 2:
        raise RedisClusterException(f"{name} needs as many ids as streams: {list(args)!r}")
    return tail[: len(tail) // 2]


def _word(arg: Any) -> str:
    if isinstance(arg, bytes):
        return arg.decode(errors="replace").upper()
    return arg.upper() if isinstance(arg, str) else ""


class ClusterClient(RedisCluster):
    """``RedisCluster`` that routes a stream read without asking a node, and moves off a
    dead default node when asking one for another command's keys fails."""

    def _get_command_keys(self, *args: Any) -> Any:
        keys = stream_read_keys(args)
        if keys is not None:
            return keys
        try:
            return super()._get_command_keys(*args)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            self.replace_default_node()
            raise


class AsyncClusterClient(redis.asyncio.cluster.RedisCluster):
    """The asyncio ``RedisCluster`` that routes a stream read without asking a node."""

    async def _determine_slot(self, command: str, *args: Any) -> int:
        keys = stream_read_keys((command, *args))
        if not keys:
            return await super()._determine_slot(command, *args)
        slots = {self.keyslot(key) for key in keys}
        if len(slots) != 1:
            raise RedisClusterException(f"{command} - all keys must map to the same key slot")
        return slots.pop()
