"""Stream reads on a Redis Cluster keep working when the client's default node is dead.

redis-py asks its default node for the keys of ``XREAD``/``XREADGROUP`` (to route them);
after a failover took that node away, every stream read failed for good (the ingest and
the channel sync stopped in ``flashstock chaos --redis cluster``). flashstock's cluster
clients route stream reads from their arguments."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import ClusterNode

from actors.infra.cluster_clients import AsyncClusterClient, ClusterClient, stream_read_keys
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_client import connect, connect_async
from actors.infra.redis_server import free_port
from tests.support import fresh_namespace

pytestmark = pytest.mark.cluster


def test_a_stream_read_is_routed_from_its_arguments() -> None:
    assert stream_read_keys(("XREAD", "COUNT", 5, "STREAMS", "{a}:s", "{a}:t", "0", "0")) == [
        "{a}:s",
        "{a}:t",
    ]
    assert stream_read_keys((b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">")) == [b"s"]
    assert stream_read_keys(("XADD", "s", "*", "f", "v")) is None
    with pytest.raises(redis.exceptions.RedisClusterException, match="as many ids as streams"):
        stream_read_keys(("XREAD", "STREAMS", "s"))


def test_stream_reads_work_while_the_default_node_is_dead(redis_cluster: LocalCluster) -> None:
    client = connect(redis_cluster.url)
    assert isinstance(client, ClusterClient)
    stream = f"{{{fresh_namespace()}}}:inbox"
    entry = client.xadd(stream, {"m": b"order"})
    client.xgroup_create(stream, "ingest", id="0")
    dead_port = free_port()
    dead = ClusterNode("127.0.0.1", dead_port, redis_connection=redis.Redis(port=dead_port))  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    client.nodes_manager.default_node = dead

    assert repr(entry) in repr(client.xread({stream: "0"}))
    assert repr(entry) in repr(client.xreadgroup("ingest", "c1", {stream: ">"}, count=10))
    client.close()


def test_async_stream_reads_are_routed_without_asking_a_node(redis_cluster: LocalCluster) -> None:
    stream = f"{{{fresh_namespace()}}}:alerts"

    async def scenario() -> tuple[object, object]:
        client = connect_async(redis_cluster.url)
        assert isinstance(client, AsyncClusterClient)
        try:
            entry = await client.xadd(stream, {"a": b"1"})
            # the node redis-py would ask for a stream read's keys is gone (a failover)
            dead_port = free_port()
            client.commands_parser.node = redis.asyncio.cluster.ClusterNode("127.0.0.1", dead_port)
            return entry, await client.xread({stream: "0"}, count=10)
        finally:
            await client.aclose()

    entry, read = asyncio.run(scenario())
    assert repr(entry) in repr(read)
