"""The retention window an operator sets reaches Redis: an owner started from the settings
writes line buckets that expire at their bucket's end plus the window (a real
redis-server; the cluster variant is in test_sku_owner.py's suite)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.infra.codec import text
from actors.infra.keys import PartitionKeys
from actors.infra.redis_client import connect
from actors.infra.redis_server import RedisServer
from actors.infra.settings import deployment_settings
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from policies.ledger import SkuSettings
from policies.operations import Confirm, DefineSku, Release, Reserve
from tests.support import fresh_namespace


def test_an_owner_started_with_a_short_retention_expires_its_buckets_with_it(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASHSTOCK_RETENTION_SECONDS", "120")
    monkeypatch.setenv("FLASHSTOCK_BUCKET_SECONDS", "10")
    settings = deployment_settings(REDIS_URL=redis_server.url, namespace=fresh_namespace(), shards=1)
    config = replace(settings.store, partitions=4)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 100), DefineSku(SkuSettings("B"), 100)])
    reserved = [Reserve("douyin", f"o{n}", "AB"[n % 2], 1) for n in range(20)]
    owner.apply(reserved)
    owner.apply(
        [Confirm(r.channel, r.order_id, r.sku) for r in reserved[:15]]
        + [Release(r.channel, r.order_id, r.sku, "cancelled") for r in reserved[15:]]
    )

    client = connect(config.redis_url)
    buckets = []
    for partition in range(config.partitions):
        prefix = PartitionKeys.of(config.namespace, partition).lines_prefix
        for key in client.scan_iter(match=f"{prefix}*"):
            bucket = int(text(key).removeprefix(prefix))
            buckets.append(bucket)
            assert client.expiretime(key) == (bucket + 1) * 10 + 120
            assert 0 < client.ttl(key) <= 10 + 120
    assert buckets, "the settled lines were written into no bucket"
    settled = sum(
        client.hlen(PartitionKeys.of(config.namespace, p).lines(b)) for p in range(4) for b in set(buckets)
    )
    assert settled == 20  # every paid or cancelled line is in a bucket that expires
    client.close()
