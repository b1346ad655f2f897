"""The stores of the owner and of ChannelSync, in memory and on a real redis-server,
behind one ``Backend`` per test: the contract suites run every test on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from actors.infra import keys
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import StoreConfig
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from actors.owner.store import RedisOwnerStore, read_skus
from actors.sync.grant_store import InMemoryGrantStore, RedisGrantStore
from actors.sync.store import InMemorySyncStore, RedisSyncStore
from policies.ledger import Ledger, SkuSettings
from tests.support import fresh_namespace


class Backend:
    """One deployment's data (a fresh namespace, or a fresh ``MemoryLedgers``) and the
    stores over it; every store made here is closed at teardown."""

    def __init__(self, kind: str, redis_url: str) -> None:
        self.kind = kind
        self.config = StoreConfig(redis_url, namespace=fresh_namespace(), shard_count=1)
        self.data = MemoryLedgers()
        self._clients: list[RedisClient] = []

    def owner_store(self, shard_count: int = 1) -> RedisOwnerStore | InMemoryOwnerStore:
        return self.owner_store_of(replace(self.config, shard_count=shard_count))

    def owner_store_of(self, config: StoreConfig) -> RedisOwnerStore | InMemoryOwnerStore:
        if self.kind == "memory":
            return InMemoryOwnerStore(config, self.data)
        store = RedisOwnerStore(config)
        self._clients.append(store.client)
        return store

    def sync_store(self) -> RedisSyncStore | InMemorySyncStore:
        if self.kind == "memory":
            return InMemorySyncStore(self.data)
        store = RedisSyncStore(self.config)
        self._clients.append(store.client)
        return store

    def grant_store(self) -> RedisGrantStore | InMemoryGrantStore:
        if self.kind == "memory":
            return InMemoryGrantStore(self.data)
        store = RedisGrantStore(self.config)
        self._clients.append(store.client)
        return store

    def read_skus(self) -> dict[str, tuple[Ledger, SkuSettings]]:
        """Committed SKU state as other components read it (``read_skus``)."""
        if self.kind == "memory":
            return self.data.read_skus()
        client = connect(self.config.redis_url)
        self._clients.append(client)
        return read_skus(client, self.config)

    def stored_keys(self) -> dict[str, object]:
        """Every key the deployment's data is under, with its content (line records by
        partition and bucket, ledgers by SKU in memory), fences aside."""
        if self.kind == "memory":
            return {
                **{f"bucket:{p}:{b}": dict(lines) for (p, b), lines in self.data.buckets.items()},
                **{f"ledger:{sku}": ledger.sku for sku, ledger in self.data.ledgers.items()},
            }
        client = connect(self.config.redis_url)
        self._clients.append(client)
        found: dict[str, object] = {}
        for key in client.scan_iter(match=f"*{{{self.config.namespace}:p*"):
            if client.type(key) == b"hash" and not key.endswith(b":fence"):
                found[key.decode()] = client.hgetall(key)
        return found

    def forget_bucket_span(self) -> None:
        """Leave the data as versions before recorded it: without the bucket span."""
        if self.kind == "memory":
            self.data.bucket_span = None
            return
        client = connect(self.config.redis_url)
        self._clients.append(client)
        client.delete(keys.bucket_span(self.config.namespace))

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The stores in memory, on a redis-server, and on a real Redis Cluster (3 primaries
    with a replica each)."""
    servers = {"redis": "redis_server", "cluster": "redis_cluster"}
    url = (
        request.getfixturevalue(servers[request.param]).url if request.param in servers else "redis://unused"
    )
    backend = Backend("memory" if request.param == "memory" else "redis", url)
    yield backend
    backend.close()
