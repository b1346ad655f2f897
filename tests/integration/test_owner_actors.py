"""The SKU owner actors on a real local Ray and real Redis: concurrency, owner crashes,
Redis crashes, and reads that do not wait for writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import ray
import redis

from actors.infra.codec import decode_record, encode_record
from actors.infra.directory import owner_name
from actors.infra.redis_server import RedisServer
from actors.infra.settings import RAY_NAMESPACE, StoreConfig
from actors.owner.client import MAX_CALL_OPS, StockClient, apply_on, call_parts
from actors.owner.reads import read_line_records, read_skus
from policies.ledger import Decision, LineStatus, Reason, SkuSettings
from policies.operations import Confirm, DefineSku, Reserve
from tests.support import fresh_namespace, wait_for

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[StockClient]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    stock = StockClient.start(config)
    yield stock
    stock.close()
    for owner in stock.owners:
        ray.kill(owner, no_restart=True)


def stored_lines(client: StockClient, sku: str) -> dict[str, str]:
    """The SKU's retained line records in Redis, encoded, by line field."""
    raw = redis.Redis.from_url(client.config.redis_url)
    try:
        records = read_line_records(raw, client.config, time.time()).get(sku, {})
        return {line_field: encode_record(record) for line_field, record in records.items()}
    finally:
        raw.close()


def stored_state(client: StockClient, sku: str) -> dict[str, str]:
    """The SKU's committed counters in Redis, as text."""
    raw = redis.Redis.from_url(client.config.redis_url)
    try:
        ledger, _ = read_skus(raw, client.config, [sku])[sku]
        return {"on_hand": str(ledger.on_hand), "reserved": str(ledger.reserved), "sold": str(ledger.sold)}
    finally:
        raw.close()


def run_buyers(
    client: StockClient, orders: list[Reserve], buyers: int, heard: dict[str, Decision]
) -> list[BaseException]:
    """``buyers`` threads send single orders at once; ``heard`` fills with the decisions
    as they are acknowledged. Returns the errors of unacknowledged calls."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def buyer(mine: list[Reserve]) -> None:
        for op in mine:
            try:
                decision = client.submit_one(op)
            except Exception as error:  # an unacknowledged order: the caller retries later
                with lock:
                    errors.append(error)
                continue
            with lock:
                heard[op.order_id] = decision

    threads = [threading.Thread(target=buyer, args=(orders[i::buyers],)) for i in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_twenty_concurrent_callers_sell_exactly_the_stock(client: StockClient) -> None:
    client.submit([DefineSku(SkuSettings("HOT"), 5000)])
    orders = [Reserve("douyin", f"o{n}", "HOT", 1, 1_764_000_000.0) for n in range(20_000)]

    heard: dict[str, Decision] = {}
    errors = run_buyers(client, orders, 20, heard)

    assert errors == []
    assert sum(d.accepted for d in heard.values()) == 5000
    assert {d.reason for d in heard.values() if not d.accepted} == {Reason.INSUFFICIENT}
    ledger = client.ledger("HOT")
    assert ledger is not None
    assert (ledger.on_hand, ledger.reserved, ledger.sold, ledger.available) == (5000, 5000, 0, 0)
    state = stored_state(client, "HOT")
    assert (state["on_hand"], state["reserved"], state["sold"]) == ("5000", "5000", "0")
    statuses = [decode_record(raw).status for raw in stored_lines(client, "HOT").values()]
    assert statuses.count(LineStatus.RESERVED) == 5000
    assert statuses.count(LineStatus.REJECTED) == 15_000


def test_owner_killed_mid_load_keeps_every_acknowledged_decision(client: StockClient) -> None:
    client.submit([DefineSku(SkuSettings("HOT"), 3000)])
    orders = [Reserve("douyin", f"o{n}", "HOT", 1, 1_764_000_000.0) for n in range(6000)]
    (owner,) = client.owners
    epoch_before = ray.get(owner.health.remote())["epoch"]
    heard: dict[str, Decision] = {}

    def kill_when_busy() -> None:
        wait_for(lambda: len(heard) >= 1000, message="1,000 acknowledged orders")
        ray.kill(owner, no_restart=False)  # Ray restarts the actor; it reloads from Redis

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    run_buyers(client, orders, 10, heard)  # errors are unacknowledged orders: resent below
    killer.join()

    assert ray.get(owner.health.remote())["epoch"] > epoch_before  # a new incarnation
    # every acknowledged decision is in Redis as it was told
    lines = stored_lines(client, "HOT")
    for order_id, decision in heard.items():
        record = decode_record(lines[f"douyin\x1f{order_id}"])
        assert record.status == (LineStatus.RESERVED if decision.accepted else LineStatus.REJECTED)
    # the platform redelivers everything: the acknowledged keep their decision
    final = client.submit(orders)
    for op, decision in zip(orders, final, strict=True):
        if op.order_id in heard:
            assert decision.duplicate
            assert decision.accepted == heard[op.order_id].accepted
    assert sum(d.accepted for d in final) == 3000  # exactly one decision per line
    ledger = client.ledger("HOT")
    assert ledger is not None
    assert (ledger.reserved, ledger.available) == (3000, 0)
    assert stored_state(client, "HOT")["reserved"] == "3000"


def test_reads_answer_while_a_large_write_is_in_flight(client: StockClient) -> None:
    client.submit([DefineSku(SkuSettings("HOT"), 1_000_000)])
    (owner,) = client.owners
    big_write = apply_on(owner, [Reserve("douyin", f"o{n}", "HOT", 1) for n in range(150_000)])
    seen = client.ledger("HOT")
    still_writing = not ray.wait([big_write], timeout=0)[0]
    ray.get(big_write)
    assert seen is not None
    assert seen.reserved in (0, 150_000)  # committed state only: never half a batch
    assert still_writing, "the read should not have waited for the write batch"


def test_acknowledged_orders_survive_a_redis_sigkill_and_service_resumes(
    own_redis_server: RedisServer,
) -> None:
    config = StoreConfig(own_redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = StockClient.start(config)
    try:
        client.submit([DefineSku(SkuSettings("HOT"), 1000)])
        first = [Reserve("douyin", f"a{n}", "HOT", 1) for n in range(400)]
        assert all(d.accepted for d in client.submit(first))

        own_redis_server.kill()
        with pytest.raises(ray.exceptions.RayTaskError):
            client.submit([Reserve("douyin", "outage", "HOT", 1)])
        own_redis_server.start()  # replays the AOF

        again = client.submit([*first, Reserve("douyin", "outage", "HOT", 1)])
        assert all(d.duplicate for d in again[:-1])
        assert again[-1].accepted
        assert not again[-1].duplicate
        ledger = client.ledger("HOT")
        assert ledger is not None
        assert ledger.reserved == 401
    finally:
        client.close()
        for owner in client.owners:
            ray.kill(owner, no_restart=True)


def test_owners_are_named_per_namespace_and_found_again(redis_server: RedisServer) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2)
    first = StockClient.start(config)
    second = StockClient.start(config)  # another process of the same deployment
    try:
        first.submit([DefineSku(SkuSettings(f"S{n}"), 10) for n in range(20)])
        assert len(second.all_ledgers()) == 20
        names = {ray.get_actor(owner_name(config, i), namespace=RAY_NAMESPACE) for i in range(2)}
        assert len(names) == 2
        health = ray.get([owner.health.remote() for owner in first.owners])
        assert sum(h["skus"] for h in health) == 20
        assert all(h["redis"] for h in health)
    finally:
        first.close()
        second.close()
        for owner in first.owners:
            ray.kill(owner, no_restart=True)


def test_a_batch_over_one_call_keeps_each_skus_order(client: StockClient) -> None:
    # more operations for the one owner than a call carries (``MAX_CALL_OPS``): the batch
    # travels in several concurrent calls, and every payment still finds its reservation
    skus = [f"S{n}" for n in range(40)]  # over several parts, whatever the hash seed
    client.submit([DefineSku(SkuSettings(sku), 1000) for sku in skus])
    reserves = [Reserve("douyin", f"o{n}", skus[n % 40], 1, 1_764_000_000.0) for n in range(MAX_CALL_OPS)]
    confirms = [Confirm("douyin", op.order_id, op.sku) for op in reserves]
    ops = [op for pair in zip(reserves, confirms, strict=True) for op in pair]
    assert len(call_parts(ops, list(range(len(ops))))) > 1

    decisions = client.submit(ops)

    assert [(d.op, d.sku, d.key) for d in decisions] == [
        (op.name, op.sku, f"douyin/{op.order_id}") for op in ops
    ]
    assert all(d.accepted for d in decisions), {d.reason for d in decisions if not d.accepted}
    assert {d.status for d in decisions[1::2]} == {LineStatus.SOLD}
    sold = {sku: ledger.sold for sku, ledger in client.ledgers(skus).items()}
    assert sold == {sku: sum(op.sku == sku for op in reserves) for sku in skus}
