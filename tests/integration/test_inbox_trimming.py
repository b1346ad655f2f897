"""Inbox trimming on a real redis-server, where consumer groups can be moved by hand: a
group whose position was set beyond the stream (a backlog held back) and a second group
that has read less both keep every entry they have not decided."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from actors.infra.settings import StoreConfig
from actors.ingest.store import GROUP, RedisIngestStore
from tests.unit.test_ingest_core import order

HELD_BACK = f"{(1 << 64) - 1}-0"


@pytest.fixture
def store(config: StoreConfig) -> Iterator[RedisIngestStore]:
    redis_store = RedisIngestStore.connect(config, "mini")
    yield redis_store
    redis_store.redis.close()


def test_a_backlog_held_back_by_the_group_position_is_never_trimmed(
    store: RedisIngestStore, redis_client: redis.Redis
) -> None:
    inbox = store.keys.inbox
    redis_client.delete(inbox)
    redis_client.xgroup_create(inbox, GROUP, id=HELD_BACK, mkstream=True)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(10)])
    assert store.trim_decided() == 0
    assert store.inbox_length() == 10
    redis_client.xgroup_setid(inbox, GROUP, "0")  # released: every entry is delivered again
    assert len(store.read("c1", 100, pending=False)) == 10


def test_a_second_group_keeps_what_it_has_not_read(
    store: RedisIngestStore, redis_client: redis.Redis
) -> None:
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(6)])
    store.read("c1", 6, pending=False)
    redis_client.xack(store.keys.inbox, GROUP, *ids)  # the ingest group has decided all six
    redis_client.xgroup_create(store.keys.inbox, "audit", id="0")
    redis_client.xreadgroup("audit", "a1", {store.keys.inbox: ">"}, count=2)
    redis_client.xack(store.keys.inbox, "audit", *ids[:2])
    assert store.trim_decided() == 2  # the audit group has decided only the first two
    assert store.inbox_length() == 4
    redis_client.xreadgroup("audit", "a1", {store.keys.inbox: ">"}, count=10)
    assert store.trim_decided() == 0  # pending with the audit group
    redis_client.xack(store.keys.inbox, "audit", *ids[2:])
    assert store.trim_decided() == 4
