"""SkuOwner (the plain class) against a real redis-server, and the same tests again on a
real Redis Cluster: durability, idempotency across restarts, fencing, expiry, bad input;
and Redis crashes (a single server; a cluster's failover is in test_redis_cluster.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from actors.infra.codec import encode_record
from actors.infra.redis_client import RedisClient, connect
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.reads import find_retained_lines, read_skus
from actors.owner.store import OwnerFencedError, RedisOwnerStore
from policies.ledger import Ledger, Reason, SkuSettings
from policies.operations import (
    Adjust,
    Confirm,
    DefineSku,
    Release,
    Reserve,
    Restock,
)
from tests.support import FakeClock, fresh_namespace, one_shard_config


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def config(request: pytest.FixtureRequest, redis_server: RedisServer) -> StoreConfig:
    """A one-shard store of this test's own, on the redis-server or the Redis Cluster."""
    return one_shard_config(request, redis_server.url)


@pytest.fixture
def redis_client(config: StoreConfig) -> Iterator[RedisClient]:
    client = connect(config.redis_url, decode_responses=True)
    yield client
    client.close()


def stored_ledger(client: RedisClient, config: StoreConfig, sku: str) -> dict[str, str]:
    """The SKU's committed counters in Redis, as text."""
    ledger, _ = read_skus(client, config, [sku])[sku]
    return {"on_hand": str(ledger.on_hand), "reserved": str(ledger.reserved), "sold": str(ledger.sold)}


def stored_line(
    client: RedisClient, config: StoreConfig, sku: str, channel: str, order_id: str
) -> str | None:
    """The line's newest retained record in Redis, encoded (None if it has none)."""
    line = (sku, f"{channel}\x1f{order_id}")
    record = find_retained_lines(client, config, [line], time.time()).get(line)
    return None if record is None else encode_record(record)


def test_decisions_are_in_redis_when_apply_returns(config: StoreConfig, redis_client: RedisClient) -> None:
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A", purchase_limit=3), 10)])
    decisions = owner.apply(
        [
            Reserve("douyin", "o1", "A", 2, 100.0),
            Reserve("taobao", "o2", "A", 9, 101.0),
            Reserve("kuaishou", "o3", "A", 4, 102.0),
        ]
    )
    assert [d.accepted for d in decisions] == [True, False, False]
    assert [d.reason for d in decisions] == ["", Reason.OVER_LIMIT, Reason.OVER_LIMIT]
    state = stored_ledger(redis_client, config, "A")
    assert (state["on_hand"], state["reserved"], state["sold"]) == ("10", "2", "0")
    line = stored_line(redis_client, config, "A", "douyin", "o1")
    assert line is not None
    assert line.startswith("reserved|2|100000|")
    rejected = stored_line(redis_client, config, "A", "taobao", "o2")
    assert rejected is not None
    assert rejected.startswith("rejected|9|")
    assert owner.ledger("A") == Ledger("A", 10, 2, 0, (), 2)


def test_redelivered_order_keeps_its_first_decision_after_restart(config: StoreConfig) -> None:
    first = SkuOwner(config, 0, RedisOwnerStore(config))
    first.apply([DefineSku(SkuSettings("A"), 5)])
    original = first.apply([Reserve("douyin", "o1", "A", 3), Reserve("douyin", "o2", "A", 3)])
    assert [d.accepted for d in original] == [True, False]

    # a new incarnation loads ledgers and open reservations; o2's rejection is looked up
    restarted = SkuOwner(config, 0, RedisOwnerStore(config))
    restarted.apply([Restock("A", 100, "t1")])  # now o2 would fit, but it was decided
    again = restarted.apply([Reserve("douyin", "o1", "A", 3), Reserve("douyin", "o2", "A", 3)])
    assert [d.accepted for d in again] == [True, False]
    assert all(d.duplicate for d in again)
    assert again[1].reason == Reason.INSUFFICIENT
    assert restarted.ledger("A") == Ledger("A", 105, 3, 0, (), 3)


def test_lines_forgotten_by_a_busy_owner_are_looked_up_in_redis(config: StoreConfig) -> None:
    small = replace(config, recent_lines=50, recent_seconds=0.0)
    owner = SkuOwner(small, 0, RedisOwnerStore(small))
    owner.apply([DefineSku(SkuSettings("A"), 300), DefineSku(SkuSettings("B"), 300)])
    now = time.time()
    orders = [Reserve("douyin", f"o{n}", "AB"[n % 2], 1, now, paid=True) for n in range(400)]
    first = [d for start in range(0, 400, 40) for d in owner.apply(orders[start : start + 40])]
    assert sum(len(lines) for lines in owner.records.values()) <= 50 + 40

    again = owner.apply(orders)

    assert all(d.duplicate for d in again)
    assert [d.accepted for d in again] == [d.accepted for d in first]
    assert (owner.ledger("A"), owner.ledger("B")) == (
        Ledger("A", 300, 0, 200, (), 201),
        Ledger("B", 300, 0, 200, (), 201),
    )


def test_a_stale_owner_cannot_commit(config: StoreConfig, redis_client: RedisClient) -> None:
    zombie = SkuOwner(config, 0, RedisOwnerStore(config))
    zombie.apply([DefineSku(SkuSettings("A"), 5)])
    successor = SkuOwner(config, 0, RedisOwnerStore(config))  # takes a newer epoch

    with pytest.raises(OwnerFencedError):
        zombie.apply([Reserve("douyin", "z1", "A", 5)])
    assert zombie.fenced
    with pytest.raises(OwnerFencedError):
        zombie.apply([Reserve("douyin", "z2", "A", 1)])
    assert stored_line(redis_client, config, "A", "douyin", "z1") is None
    assert stored_ledger(redis_client, config, "A")["reserved"] == "0"

    decision = successor.apply([Reserve("douyin", "s1", "A", 5)])[0]
    assert decision.accepted
    assert decision.available == 0


def test_unpaid_reservations_expire_durably(config: StoreConfig) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock)
    owner.apply([DefineSku(SkuSettings("A", reservation_ttl_seconds=60), 10)])
    owner.apply([Reserve("douyin", "unpaid", "A", 4), Reserve("douyin", "paid", "A", 3)])
    owner.apply([Confirm("douyin", "paid", "A")])
    clock.now += 59
    assert owner.due_operations() == []
    clock.now += 2
    due = owner.due_operations()
    assert due == [Release("douyin", "unpaid", "A", "expired")]
    owner.apply(due)
    assert owner.ledger("A") == Ledger("A", 10, 0, 3, (), 5)

    reloaded = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock)
    assert reloaded.ledger("A") == Ledger("A", 10, 0, 3, (), 5)
    assert "douyin\x1funpaid" not in reloaded.records["A"]  # settled: history, not loaded
    late_payment = reloaded.apply([Confirm("douyin", "unpaid", "A")])[0]
    assert not late_payment.accepted
    assert late_payment.reason == Reason.ALREADY_RELEASED


def test_expiry_survives_a_restart(config: StoreConfig) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock)
    owner.apply(
        [DefineSku(SkuSettings("A", reservation_ttl_seconds=30), 10), Reserve("douyin", "o1", "A", 2)]
    )
    restarted = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock)
    clock.now += 31
    restarted.apply(restarted.due_operations())
    assert restarted.ledger("A") == Ledger("A", 10, 0, 0, (), 3)


def test_inbound_transfer_joins_stock_on_arrival(config: StoreConfig) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock)
    owner.apply(
        [
            DefineSku(SkuSettings("A"), 10),
            Restock("A", 200, "transfer-1", "nearby warehouse", clock.now + 1200),
        ]
    )
    ledger = owner.ledger("A")
    assert ledger is not None
    assert ledger.on_hand == 10
    assert ledger.inbound_units == 200
    clock.now += 1200
    owner.apply(owner.due_operations())
    ledger = SkuOwner(config, 0, RedisOwnerStore(config), clock=clock).ledger("A")
    assert ledger is not None
    assert ledger.on_hand == 210
    assert ledger.inbound == ()


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (Reserve("douyin", "o1", "A", 0), Reason.INVALID),
        (Reserve("douyin", "o1", "A", -3), Reason.INVALID),
        (Reserve("douyin", "o1", "A", 10**9), Reason.INVALID),
        (Reserve("douyin", "", "A", 1), Reason.INVALID),
        (Reserve("", "o1", "A", 1), Reason.INVALID),
        (Reserve("douyin", "o1", "NOPE", 1), Reason.UNKNOWN_SKU),
        (Reserve("douyin", "o1", "A", 2.5), Reason.INVALID),  # type: ignore[arg-type]  # bad input on purpose
        (Adjust("A", -50, "count-1", "recount", "ops"), Reason.WOULD_OVERSELL),
    ],
)
def test_bad_input_is_rejected_with_a_reason_and_deducts_nothing(
    config: StoreConfig, redis_client: RedisClient, op: Reserve | Adjust, reason: str
) -> None:
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 10), Reserve("douyin", "ok", "A", 5)])
    decision = owner.apply([op])[0]
    assert not decision.accepted
    assert decision.reason == reason
    assert decision.detail  # a human-readable explanation
    state = stored_ledger(redis_client, config, "A")
    assert (state["on_hand"], state["reserved"], state["sold"]) == ("10", "5", "0")


def test_a_commit_after_redis_lost_its_scripts_is_applied_once(redis_server: RedisServer) -> None:
    # Redis restarted without its script cache: EVALSHA is refused (NOSCRIPT, nothing
    # applied) and the store sends the script itself (EVAL) with the same keys and values
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=1)
    client = connect(config.redis_url, decode_responses=True)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 10)])
    client.script_flush()

    decisions = owner.apply([Reserve("douyin", "o1", "A", 2, 100.0), Reserve("douyin", "o2", "A", 3, 101.0)])

    assert [d.accepted for d in decisions] == [True, True]
    assert stored_ledger(client, config, "A") == {"on_hand": "10", "reserved": "5", "sold": "0"}
    line = stored_line(client, config, "A", "douyin", "o2")
    assert line is not None
    assert line.startswith("reserved|3|101000|")
    assert owner.apply([Reserve("douyin", "o3", "A", 1, 102.0)])[0].accepted  # EVALSHA again
    assert stored_ledger(client, config, "A")["reserved"] == "6"
    client.close()


def test_misrouted_operation_is_refused_not_applied(redis_server: RedisServer) -> None:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    foreign = next(f"S{n}" for n in range(100) if not owner.owns(f"S{n}"))
    decision = owner.apply([DefineSku(SkuSettings(foreign), 5)])[0]
    assert not decision.accepted
    assert decision.reason == Reason.NOT_OWNER
    assert owner.ledger(foreign) is None


def test_acknowledged_decisions_survive_redis_sigkill(own_redis_server: RedisServer) -> None:
    config = StoreConfig(own_redis_server.url, namespace="crash", shard_count=1)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 1000)])
    acknowledged = owner.apply([Reserve("douyin", f"o{n}", "A", 1) for n in range(300)])
    assert all(d.accepted for d in acknowledged)

    own_redis_server.kill()  # SIGKILL: only what the AOF has survives
    with pytest.raises(redis.exceptions.ConnectionError):
        owner.apply([Reserve("douyin", "during-outage", "A", 1)])
    own_redis_server.start()

    recovered = SkuOwner(config, 0, RedisOwnerStore(config))
    assert recovered.ledger("A") == Ledger("A", 1000, 300, 0, (), 301)
    assert len(recovered.records["A"]) == 300
    assert "douyin\x1fduring-outage" not in recovered.records["A"]
    # the old incarnation reloads from Redis after the failed commit: it was fenced by
    # ``recovered``, so it refuses rather than writing
    with pytest.raises(OwnerFencedError):
        owner.apply([Reserve("douyin", "late", "A", 1)])


def test_owner_reloads_after_a_failed_commit_and_carries_on(own_redis_server: RedisServer) -> None:
    config = StoreConfig(own_redis_server.url, namespace="outage", shard_count=1)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("A"), 10), Reserve("douyin", "before", "A", 4)])
    own_redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        owner.apply([Reserve("douyin", "lost", "A", 6)])  # decided in memory, never durable
    assert owner.stale
    own_redis_server.start()
    # the working state is rebuilt from Redis: the 6 units of "lost" are free again
    decisions = owner.apply([Reserve("douyin", "after", "A", 6)])
    assert decisions[0].accepted
    assert decisions[0].available == 0
    assert owner.ledger("A") == Ledger("A", 10, 10, 0, (), 3)
