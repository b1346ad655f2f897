"""``actors.infra.atomic_write`` on a real redis-server and on the session's Redis Cluster:
the same raw replies on both, the same-slot rule checked on both before anything is sent,
and a transaction whose reply was lost after it was sent (the server runs it past the
client's socket timeout) sent again only when the caller says it is repeatable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import CrossSlotTransactionError
from redis.retry import Retry

from actors.infra import keys
from actors.infra.atomic_write import WriteOutcomeUnknownError, atomic_write
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_client import RedisClient, connect
from actors.infra.redis_server import RedisServer, free_port
from actors.infra.replication import HeldPrimaries
from tests.support import fresh_namespace

#: KEYS: the flag. ARGV: microseconds. The first run only (the flag is set then): keep
#: the server busy that long, so the client's socket timeout fires after the transaction
#: was sent and the transaction still runs, whole.
_BUSY_ONCE_LUA = r"""
if redis.call('SET', KEYS[1], 1, 'NX') then
  local t = redis.call('TIME')
  local start = t[1] * 1000000 + t[2]
  repeat
    t = redis.call('TIME')
  until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
end
return 1
"""
#: how long the server is kept busy, then the client's socket timeout (seconds)
BUSY_SECONDS, CLIENT_TIMEOUT = 0.5, 0.2


@pytest.fixture(params=["server", pytest.param("cluster", marks=pytest.mark.cluster)])
def client(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[RedisClient]:
    """A client of the session's redis-server or of its Redis Cluster."""
    url = redis_server.url if request.param == "server" else request.getfixturevalue("redis_cluster").url
    made = connect(url, socket_timeout=10.0)
    yield made
    made.close()


def counter_write(tag: str, slow: bool) -> Any:
    """A write that counts how often it was applied (``{tag}:applied``), slowed down the
    first time when ``slow``."""

    def queue(pipe: Any) -> None:
        if slow:
            pipe.eval(_BUSY_ONCE_LUA, 1, f"{tag}:busy", int(BUSY_SECONDS * 1_000_000))
        pipe.incr(f"{tag}:applied")

    return queue


def test_replies_are_raw_and_alike_on_a_server_and_a_cluster(client: RedisClient) -> None:
    tag = keys.alerts_tag(fresh_namespace())

    def queue(pipe: Any) -> None:
        pipe.incr(f"{tag}:n")
        pipe.set(f"{tag}:s", "v")
        pipe.hsetnx(f"{tag}:h", "f", "v")
        pipe.hsetnx(f"{tag}:h", "f", "w")
        pipe.xadd(f"{tag}:x", {"f": "v"})
        pipe.eval("return KEYS[1]", 1, f"{tag}:k")

    replies = atomic_write(client, tag, queue, repeatable=False)
    # raw, as Redis answers: no response callbacks (they would give True, True, False)
    assert replies[:4] == [1, b"OK", 1, 0]
    assert isinstance(replies[4], bytes)
    entries: Any = client.xrange(f"{tag}:x")  # [(id, {field: value})]
    assert replies[4] == entries[0][0]
    assert replies[5] == f"{tag}:k".encode()


def test_a_write_across_slots_is_refused_before_anything_is_sent(client: RedisClient) -> None:
    ns = fresh_namespace()
    one, other = keys.alerts_tag(ns), keys.sync_tag(ns)

    def queue(pipe: Any) -> None:
        pipe.set(f"{one}:a", 1)
        pipe.eval("return 1", 2, f"{one}:b", f"{other}:c")

    multis = _multi_calls(client, one)
    with pytest.raises(CrossSlotTransactionError, match=r"'\{t\w+:sync\}:c' is not in the hash slot of"):
        atomic_write(client, one, queue, repeatable=True)
    assert client.exists(f"{one}:a") == 0
    assert _multi_calls(client, one) == multis  # no MULTI was sent


def test_a_write_whose_reply_was_lost_is_not_sent_again_unless_repeatable(
    client: RedisClient,
) -> None:
    slow = _with_timeout(client, CLIENT_TIMEOUT)
    try:
        tag = keys.alerts_tag(fresh_namespace())
        with pytest.raises(WriteOutcomeUnknownError, match="may or may not have been applied") as raised:
            atomic_write(slow, tag, counter_write(tag, slow=True), repeatable=False)
        assert isinstance(raised.value.__cause__, redis.exceptions.TimeoutError)
        # the transaction ran whole, once (this read waits for the busy server)
        assert client.get(f"{tag}:applied") == b"1"

        again = keys.sync_tag(fresh_namespace())
        replies = atomic_write(slow, again, counter_write(again, slow=True), repeatable=True)
        assert replies == [1, 2]  # sent again: applied twice, the second reply read
        assert client.get(f"{again}:applied") == b"2"
    finally:
        slow.close()


def test_a_write_that_could_not_be_sent_is_an_ordinary_connection_error() -> None:
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.exceptions.ConnectionError) as raised:
        atomic_write(nowhere, "{t}:a", lambda pipe: pipe.incr("{t}:a"), repeatable=False)
    assert not isinstance(raised.value, WriteOutcomeUnknownError)


@pytest.mark.cluster
def test_held_primaries_keep_one_route_per_slot_not_per_key(redis_cluster: LocalCluster) -> None:
    client = connect(redis_cluster.url, socket_timeout=10.0)
    assert isinstance(client, RedisCluster)
    held = HeldPrimaries(client)
    try:
        ns = fresh_namespace()
        tags = [keys.alerts_tag(ns), keys.sync_tag(ns)]
        routes = [held.route(f"{tag}:{n}") for tag in tags for n in range(500)]
        slots = {client.keyslot(tag) for tag in tags}  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        assert len(held._routes) == len(slots)
        assert len({id(route) for route in routes}) == len(slots)
    finally:
        held.close()
        client.close()


def _with_timeout(client: RedisClient, seconds: float) -> RedisClient:
    """A client like ``client`` whose socket reads time out after ``seconds``."""
    if isinstance(client, RedisCluster):
        url = "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in client.get_nodes())  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    else:
        kwargs = client.get_connection_kwargs()
        url = f"redis://{kwargs['host']}:{kwargs['port']}/0"
    return connect(url, socket_timeout=seconds)


def _multi_calls(client: RedisClient, key: str) -> int:
    """How many MULTI commands the server (a cluster: the primary of ``key``) has run."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        return _multi_calls(client.get_redis_connection(node), key)
    node = client
    stats: Any = node.info("commandstats")
    return int(stats.get("cmdstat_multi", {}).get("calls", 0))
