"""The retention window an operator sets reaches Redis: an owner started from the settings
writes line buckets that expire at their bucket's end plus the window, and a channel's
order index expires by windows of it (a real redis-server)."""

from __future__ import annotations

import signal
import time
from dataclasses import replace

import pytest

from actors.infra import keys
from actors.infra.codec import encode_order, text
from actors.infra.keys import ChannelKeys, PartitionKeys
from actors.infra.redis_client import connect
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig, deployment_settings
from actors.ingest.order_index import window_expires_at, window_key, window_of, windows_key
from actors.ingest.store import Publication, RedisIngestStore
from actors.owner.core import SkuOwner
from actors.owner.fences import bucket_span_problem
from actors.owner.store import RedisOwnerStore
from policies.ledger import SkuSettings
from policies.operations import Confirm, DefineSku, Release, Reserve
from policies.orders import RecordedOrder
from scripts.cli import main
from tests.support import fresh_namespace, wait_for


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


def test_the_order_index_expires_with_the_window_and_keeps_no_order_for_ever(
    redis_server: RedisServer,
) -> None:
    config = StoreConfig(redis_server.url, fresh_namespace(), 1, retention_seconds=2.0, bucket_seconds=1)
    keys = ChannelKeys.of(config.namespace, "douyin")
    client = connect(config.redis_url)
    before = RecordedOrder((("A", 1, "reserved", ""),), True)
    client.hset(keys.orders, "old", encode_order(before))  # the unsplit index of versions before
    store = RedisIngestStore.connect(config, "douyin")
    assert 0 < client.ttl(keys.orders) <= 2  # bounded by the window from the first connection

    recorded = RecordedOrder((("A", 2, "reserved", ""),), True)
    written_at = time.time()
    store.publish(Publication([], [], [], {"o1": recorded}, {}, []))
    assert store.recorded_orders(["o1", "old"]) == {"o1": recorded, "old": before}
    window = window_of(written_at, 2.0)
    assert client.expiretime(window_key(keys, window)) in {
        window_expires_at(w, 2.0) for w in (window, window + 1)
    }

    wait_for(lambda: not client.exists(window_key(keys, window), keys.orders), timeout=10, message="expiry")
    assert store.recorded_orders(["o1", "old"]) == {}
    assert not [k for k in client.scan_iter(match=f"{keys.orders}*")]  # nothing of the index is left
    store.redis.close()
    client.close()


def test_serve_refuses_another_bucket_span_than_the_namespace_was_written_with(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = fresh_namespace()
    config = StoreConfig(redis_server.url, namespace, 1, retention_seconds=600.0, bucket_seconds=60)
    assert bucket_span_problem(config) is None  # a new namespace takes any span
    SkuOwner(config, 0, RedisOwnerStore(config)).apply([DefineSku(SkuSettings("A"), 1)])
    assert bucket_span_problem(config) is None
    monkeypatch.setenv("REDIS_URL", redis_server.url)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:  # serve installs its own handlers before it starts anything
        refused = main(["serve", "--namespace", namespace, "--shards", "1", "--allow-volatile-redis"])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert refused == 2  # before Ray or any actor starts
    err = capsys.readouterr().err
    assert f"namespace {namespace!r} was written with line buckets of 60 s, not 3600 s" in err
    client = connect(redis_server.url)
    client.delete(keys.bucket_span(namespace))  # as versions before left a namespace
    client.close()
    assert "line buckets of 3600 s, not 60 s" in str(bucket_span_problem(config))


def test_the_list_of_order_index_windows_forgets_the_windows_expired(redis_server: RedisServer) -> None:
    config = StoreConfig(redis_server.url, fresh_namespace(), 1, retention_seconds=600.0, bucket_seconds=60)
    keys = ChannelKeys.of(config.namespace, "douyin")
    now = [time.time() // 600 * 600 + 30]
    store = RedisIngestStore(connect(config.redis_url), keys, retention_seconds=600.0, clock=lambda: now[0])
    recorded = RecordedOrder((("A", 1, "reserved", ""),), True)
    for n in range(5):  # five windows, one after another
        store.publish(Publication([], [], [], {f"o{n}": recorded}, {}, []))
        now[0] += 600
    now[0] -= 600
    listed = {text(k) for k in store.redis.hkeys(windows_key(keys))}
    current = window_of(now[0], 600.0)
    assert listed == {window_key(keys, current - 1), window_key(keys, current)}
    assert store.recorded_orders([f"o{n}" for n in range(5)]) == {"o3": recorded, "o4": recorded}
    store.redis.close()
