"""``flashstock migrate`` and the start guard on a real redis-server: a namespace written
in the previous layout (built here with its formats, as commit dcc225d wrote them) is
refused at start, converted, and then loaded by a current owner store."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from actors.bootstrap import start_system
from actors.infra import keys
from actors.infra.codec import encode_record, encode_settings
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.owner.store import RedisOwnerStore
from actors.upgrade.guard import LegacyLayoutError, find_legacy_layout, guard_layout, scan_legacy_keys
from actors.upgrade.migrate import MigrationError, migrate_sku, other_clients, plan_migration, run_migration
from policies.ledger import LineRecord, LineStatus, SkuSettings
from policies.operations import FIELD_SEPARATOR
from scripts.cli import main
from tests.support import fresh_namespace

SKUS = ("sku-a", "sku-b", "sku-c", "sku-d")
NOW = float(int(time.time()))  # records with whole-millisecond times, near the real clock


def field(channel: str, order: str) -> str:
    return f"{channel}{FIELD_SEPARATOR}{order}"


def reserved_record(sku: str) -> LineRecord:
    return LineRecord(LineStatus.RESERVED, 2, "", NOW - 60, NOW + 600)


def sold_record(sku: str) -> LineRecord:
    return LineRecord(LineStatus.SOLD, 1, "", NOW - 120, 0.0)


def settings_of(sku: str) -> SkuSettings:
    return SkuSettings(sku, name=f"name of {sku}", purchase_limit=3, substitutes=("sku-z",))


def write_old_layout(client: redis.Redis, ns: str) -> None:
    """A small deployment as the previous layout stored it."""
    for position, sku in enumerate(SKUS):
        client.sadd(f"{ns}:skus", sku)
        client.hset(
            f"{ns}:sku:{{{sku}}}:state",
            mapping={
                "on_hand": 100 + position,
                "reserved": 2,
                "sold": 1,
                "version": 7 + position,
                "held": position,
                "inbound": json.dumps(
                    [{"transfer_id": "t1", "quantity": 5, "arrives_at": NOW + 3600, "source": "dc"}]
                ),
                "settings": encode_settings(settings_of(sku)),
            },
        )
        client.hset(
            f"{ns}:sku:{{{sku}}}:lines",
            mapping={
                field("web", f"open-{sku}"): encode_record(reserved_record(sku)),
                field("web", f"paid-{sku}"): encode_record(sold_record(sku)),
            },
        )
        client.hset(f"{ns}:sku:{{{sku}}}:oversold", "live", position + 1)
    client.xadd(f"{ns}:ledger", {"epoch": "1", "lines": "", "ledgers": "sku-a\t100\t2\t1\t7"})
    inbox = f"{ns}:in:web"
    client.xgroup_create(inbox, "ingest", id="0", mkstream=True)
    client.xadd(inbox, {"m": "first"})
    client.xadd(inbox, {"m": "second"})
    client.xreadgroup("ingest", "ingest-0", {inbox: ">"}, count=1)  # one pending entry
    client.hset(f"{ns}:orders:web", "o-1", '{"lines":[],"accepted":true,"reason":"","failed_sku":""}')
    client.hset(f"{ns}:visible:web", "sku-a", 40)
    client.set(f"{ns}:grants:book", '{"grants": {}}')
    client.xadd(f"{ns}:alerts", {"alert": "{}"})
    client.hset(f"{ns}:alerts:open", "a-1", '{"id": "a-1"}')
    client.hset(f"{ns}:alerts:silences", "s-1", '{"id": "s-1"}')
    client.hset(f"{ns}:alerts:subscriptions", "sub-1", '{"id": "sub-1"}')
    client.rpush(f"{ns}:webhook-dead:sub-1", "failed delivery")


@pytest.fixture
def old_config(config: StoreConfig, raw_client: redis.Redis) -> StoreConfig:
    write_old_layout(raw_client, config.namespace)
    return config


@pytest.fixture
def raw_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client as the commands open it (bytes replies)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def migrate(client: redis.Redis, config: StoreConfig) -> None:
    run_migration(client, config, plan_migration(client, config), now=NOW)


def assert_migrated(client: redis.Redis, config: StoreConfig) -> None:
    ns = config.namespace
    store = RedisOwnerStore(config)
    try:
        state = store.load(0)
        assert sorted(state.ledgers) == list(SKUS)
        for position, sku in enumerate(SKUS):
            ledger = state.ledgers[sku]
            assert (ledger.on_hand, ledger.reserved, ledger.sold, ledger.version, ledger.held) == (
                100 + position,
                2,
                1,
                7 + position,
                position,
            )
            assert ledger.inbound[0].quantity == 5
            assert ledger.inbound[0].source == "dc"
            assert state.settings[sku] == settings_of(sku)
            assert state.records[sku] == {field("web", f"open-{sku}"): reserved_record(sku)}
            assert state.oversold[sku] == {"live": position + 1}
        assert state.buckets, "the settled lines' bucket exists"
        wanted = {("sku-c", field("web", "paid-sku-c")): state.buckets}
        assert store.lookup_lines(wanted) == {("sku-c", field("web", "paid-sku-c")): sold_record("sku-c")}
    finally:
        store.close()
    inbox = keys.ChannelKeys.of(ns, "web").inbox
    pending = client.xpending(inbox, "ingest")
    assert pending["pending"] == 1
    assert client.xlen(inbox) == 2
    assert client.hget(keys.ChannelKeys.of(ns, "web").orders, "o-1") is not None
    assert client.hget(keys.visible(ns, "web"), "sku-a") == b"40"
    assert client.get(keys.grant_book(ns)) == b'{"grants": {}}'
    assert client.xlen(keys.alert_stream(ns)) == 1
    assert client.hkeys(keys.open_alerts(ns)) == [b"a-1"]
    assert client.hkeys(keys.silences(ns)) == [b"s-1"]
    assert client.hkeys(keys.subscriptions(ns)) == [b"sub-1"]
    assert client.lrange(keys.webhook_dead(ns, "sub-1"), 0, -1) == [b"failed delivery"]
    assert client.xlen(f"{ns}:legacy-ledger") == 1
    assert client.get(keys.partition_count(ns)) == str(config.partitions).encode()
    assert scan_legacy_keys(client, ns) == []


def test_migrated_namespace_loads_in_the_current_owner_store(
    old_config: StoreConfig, raw_client: redis.Redis
) -> None:
    migrate(raw_client, old_config)
    assert_migrated(raw_client, old_config)


def test_a_second_run_finds_nothing_to_do(old_config: StoreConfig, raw_client: redis.Redis) -> None:
    migrate(raw_client, old_config)
    before = {key: raw_client.dump(key) for key in raw_client.scan_iter(match=f"*{old_config.namespace}*")}
    plan = plan_migration(raw_client, old_config)
    assert plan.empty
    outcome = run_migration(raw_client, old_config, plan, now=NOW)
    assert (outcome.skus, outcome.renamed) == (0, 0)
    after = {key: raw_client.dump(key) for key in raw_client.scan_iter(match=f"*{old_config.namespace}*")}
    assert after == before


def test_an_interrupted_run_converges_when_run_again(
    old_config: StoreConfig, raw_client: redis.Redis
) -> None:
    for sku in SKUS[:2]:  # a run that stopped after two SKUs, before any rename
        assert migrate_sku(raw_client, old_config, sku, now=NOW)
    with pytest.raises(LegacyLayoutError):
        guard_layout(old_config.redis_url, old_config.namespace)
    plan = plan_migration(raw_client, old_config)
    assert plan.skus == list(SKUS[2:])
    migrate(raw_client, old_config)
    assert_migrated(raw_client, old_config)


def test_guard_refuses_before_migration_and_accepts_after(
    old_config: StoreConfig, raw_client: redis.Redis
) -> None:
    with pytest.raises(LegacyLayoutError, match="flashstock migrate") as refused:
        guard_layout(old_config.redis_url, old_config.namespace)
    assert f"{old_config.namespace}:skus" in str(refused.value)
    migrate(raw_client, old_config)
    guard_layout(old_config.redis_url, old_config.namespace)


def test_guard_finds_an_inbox_alone_by_scanning(config: StoreConfig, raw_client: redis.Redis) -> None:
    raw_client.xadd(f"{config.namespace}:in:shop", {"m": "waiting"})
    assert find_legacy_layout(raw_client, config.namespace) == [f"{config.namespace}:in:shop"]
    with pytest.raises(LegacyLayoutError):
        guard_layout(config.redis_url, config.namespace)


def test_guard_accepts_a_namespace_of_the_current_layout(
    config: StoreConfig, raw_client: redis.Redis
) -> None:
    store = RedisOwnerStore(config)
    try:
        store.claim_layout()
        store.take_epoch(0)
    finally:
        store.close()
    raw_client.xadd(keys.ChannelKeys.of(config.namespace, "web").inbox, {"m": "new"})
    assert find_legacy_layout(raw_client, config.namespace) == []


def test_unreadable_sku_data_is_named_and_nothing_moves(
    old_config: StoreConfig, raw_client: redis.Redis
) -> None:
    ns = old_config.namespace
    raw_client.hset(f"{ns}:sku:{{sku-b}}:lines", "broken", "nonsense|1|0|0|")
    with pytest.raises(MigrationError, match="sku-b"):
        plan_migration(raw_client, old_config)
    assert raw_client.scard(f"{ns}:skus") == len(SKUS)
    assert raw_client.exists(keys.partition_count(ns)) == 0


def test_a_sku_in_both_layouts_is_refused(old_config: StoreConfig, raw_client: redis.Redis) -> None:
    ns = old_config.namespace
    migrate_sku(raw_client, old_config, "sku-a", now=NOW)
    raw_client.sadd(f"{ns}:skus", "sku-a")
    raw_client.hset(
        f"{ns}:sku:{{sku-a}}:state",
        mapping={
            "on_hand": 1,
            "reserved": 0,
            "sold": 0,
            "version": 1,
            "settings": encode_settings(settings_of("sku-a")),
        },
    )
    with pytest.raises(MigrationError, match="sku-a"):
        plan_migration(raw_client, old_config)


def test_refuses_while_other_clients_are_connected(own_redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(own_redis_server.url)
    other = redis.Redis.from_url(own_redis_server.url, client_name="flashstock-owner")
    try:
        assert other_clients(client) == []
        other.ping()
        found = other_clients(client)
        assert len(found) == 1
        assert found[0].endswith("flashstock-owner")
    finally:
        other.close()
        client.close()


def test_command_lists_then_migrates(
    own_redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = fresh_namespace()
    client = redis.Redis.from_url(own_redis_server.url)
    write_old_layout(client, ns)
    base = ["migrate", "--redis-url", own_redis_server.url, "--namespace", ns]
    assert main(base) == 2  # this test's client is connected
    assert "stop every flashstock process" in capsys.readouterr().err
    client.close()
    assert main([*base, "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert "4 SKUs" in listed
    assert f"rename {ns}:in:web -> {{{ns}:ch:web}}:in" in listed
    checker = redis.Redis.from_url(own_redis_server.url)
    try:
        assert checker.scard(f"{ns}:skus") == len(SKUS)  # the dry run moved nothing
    finally:
        checker.close()
    assert main(base) == 0
    assert "4 SKUs moved" in capsys.readouterr().out
    assert main(base) == 0
    assert "holds nothing of the previous layout" in capsys.readouterr().out
    config = StoreConfig(own_redis_server.url, namespace=ns, shard_count=1)
    client = redis.Redis.from_url(own_redis_server.url)
    try:
        assert_migrated(client, config)
    finally:
        client.close()


def test_start_system_refuses_an_old_namespace_before_starting_anything(old_config: StoreConfig) -> None:
    with pytest.raises(LegacyLayoutError, match=f"{old_config.namespace}:skus"):
        start_system(old_config, {"web": "generic"})  # no Ray here: it must stop first


def test_serve_exits_2_with_one_line_before_starting_ray(
    old_config: StoreConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", old_config.redis_url)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(["serve", "--namespace", old_config.namespace, "--data-dir", str(tmp_path)])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert len(err) == 1
    assert err[0].startswith("flashstock serve: ")
    assert f"flashstock migrate --namespace {old_config.namespace}" in err[0]


def test_command_migrates_the_embedded_redis_of_a_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("FLASHSTOCK_REDIS_URL", raising=False)
    ns = fresh_namespace()
    with RedisServer(tmp_path / "redis") as server:  # the data an older version left behind
        client = redis.Redis.from_url(server.url)
        write_old_layout(client, ns)
        client.close()
    assert main(["migrate", "--data-dir", str(tmp_path), "--namespace", ns]) == 0
    assert "4 SKUs moved" in capsys.readouterr().out
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert_migrated(client, StoreConfig(server.url, namespace=ns, shard_count=1))
        finally:
            client.close()


def test_command_refuses_a_redis_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--redis-url", "redis+cluster://127.0.0.1:7000"]) == 2
    assert "never held the previous layout" in capsys.readouterr().err
