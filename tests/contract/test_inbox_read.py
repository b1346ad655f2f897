"""The inbox reader's raw path gives what redis-py's parsed reply gives, in both RESP
versions and on a Redis Cluster, and leaves the caller's client as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.infra.codec import text
from actors.infra.redis_client import RedisClient, connect
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.ingest.inbox_read import InboxEntry, InboxReader, raw_inbox_entries
from tests.support import fresh_namespace


@pytest.fixture(params=["resp2", "resp3", pytest.param("cluster", marks=pytest.mark.cluster)])
def client(request: pytest.FixtureRequest) -> Iterator[RedisClient]:
    if request.param == "cluster":
        config: StoreConfig = request.getfixturevalue("cluster_config")
        made = connect(config.redis_url)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = connect(server.url, protocol=2 if request.param == "resp2" else 3)
    yield made
    made.close()


def stream_with_group(client: RedisClient) -> str:
    stream = "{" + fresh_namespace() + "}:in"
    client.xgroup_create(stream, "g", id="0", mkstream=True)
    return stream


def test_reads_messages_other_fields_and_trimmed_entries_like_the_parsed_reply(client: RedisClient) -> None:
    stream = stream_with_group(client)
    first = client.xadd(stream, {"m": b'{"a": 1}'})
    second = client.xadd(stream, {"x": "1", "m": "second"})
    third = client.xadd(stream, {"x": "no message"})
    reader = InboxReader(client, stream, "g")

    new = reader.read("c1", 10, pending=False)

    ids = [text(entry_id) for entry_id in (first, second, third)]
    assert new == [
        InboxEntry(ids[0], b'{"a": 1}'),
        InboxEntry(ids[1], b"second"),
        InboxEntry(ids[2], b""),
    ]
    assert all(type(entry) is InboxEntry for entry in new)
    assert reader.read("c1", 10, pending=False) == []
    assert reader.read("c1", 10, pending=False, block_ms=5) == []

    client.xdel(stream, ids[0])
    assert reader.read("c1", 10, pending=True) == [
        InboxEntry(ids[0], b""),
        InboxEntry(ids[1], b"second"),
        InboxEntry(ids[2], b""),
    ]


def test_the_callers_client_keeps_redis_pys_parsed_reply(client: RedisClient) -> None:
    stream = stream_with_group(client)
    entry_id = client.xadd(stream, {"m": "kept"})
    InboxReader(client, stream, "g").read("c1", 10, pending=False)

    pending = client.xreadgroup("g", "c1", {stream: "0"}, count=10)

    entries = pending[stream.encode()][0] if isinstance(pending, dict) else pending[0][1]
    assert entries == [(entry_id, {b"m": b"kept"})]


def test_raw_reply_shapes_of_both_protocols_give_the_same_entries() -> None:
    entries = [[b"1-0", [b"m", b"one"]], [b"1-1", None], [b"1-2", [b"x", b"y", b"m", b"two"]]]
    expected = [InboxEntry("1-0", b"one"), InboxEntry("1-1", b""), InboxEntry("1-2", b"two")]

    assert raw_inbox_entries({b"s": entries}) == expected
    assert raw_inbox_entries([[b"s", entries]]) == expected
    assert raw_inbox_entries(None) == []
    assert raw_inbox_entries({}) == []
