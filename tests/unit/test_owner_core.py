"""SkuOwner (the plain class) on the in-memory store: no oversell, idempotent redelivery,
fencing, expiry, bad input and failed commits, in milliseconds. The same behaviour on
real Redis is in tests/integration/test_sku_owner.py; tests/contract holds the two
stores to one suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.infra.settings import StoreConfig
from actors.infra.wire import pack_commit
from actors.owner.commit import GroupCommitter
from actors.owner.core import SkuOwner
from actors.owner.feed import ForecasterFeed, Send
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from actors.owner.store import CommitBatch, LayoutMismatchError, OwnerFencedError
from policies.ledger import Ledger, Reason, SkuSettings
from policies.operations import Adjust, Confirm, DefineSku, Release, Reserve, Restock
from policies.routing import owner_of
from tests.support import FakeClock

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1)


@pytest.fixture
def data() -> MemoryLedgers:
    return MemoryLedgers()


def owner_on(data: MemoryLedgers, clock: FakeClock | None = None, config: StoreConfig = CONFIG) -> SkuOwner:
    """A new owner incarnation over ``data`` (what a restarted process would be)."""
    store = InMemoryOwnerStore(config, data)
    return SkuOwner(config, 0, store) if clock is None else SkuOwner(config, 0, store, clock=clock)


def test_never_sells_more_than_the_stock(data: MemoryLedgers) -> None:
    owner = owner_on(data)
    owner.apply([DefineSku(SkuSettings("HOT"), 50)])
    decisions = owner.apply([Reserve("douyin", f"o{n}", "HOT", 1, 1.0) for n in range(200)])

    assert sum(d.accepted for d in decisions) == 50
    assert {d.reason for d in decisions if not d.accepted} == {Reason.INSUFFICIENT}
    assert owner.ledger("HOT") == data.ledgers["HOT"] == Ledger("HOT", 50, 50, 0, (), 51)
    assert sum(owner.committed_oversold["HOT"].values()) == 150


def test_decisions_are_in_the_store_when_apply_returns(data: MemoryLedgers) -> None:
    owner = owner_on(data)
    owner.apply([DefineSku(SkuSettings("A", purchase_limit=3), 10)])
    decisions = owner.apply([Reserve("douyin", "o1", "A", 2, 100.0), Reserve("taobao", "o2", "A", 9, 101.0)])

    assert [d.accepted for d in decisions] == [True, False]
    assert decisions[1].reason == Reason.OVER_LIMIT
    assert data.ledgers["A"] == Ledger("A", 10, 2, 0, (), 2)
    assert (data.record_of("A", "douyin\x1fo1") or "").startswith("reserved|2|100000|")
    assert (data.record_of("A", "taobao\x1fo2") or "").startswith("rejected|9|")
    assert data.log[-1].counters[0].available == 8


def test_redelivered_order_keeps_its_first_decision_after_restart(data: MemoryLedgers) -> None:
    first = owner_on(data)
    first.apply([DefineSku(SkuSettings("A"), 5)])
    original = first.apply([Reserve("douyin", "o1", "A", 3), Reserve("douyin", "o2", "A", 3)])
    assert [d.accepted for d in original] == [True, False]

    restarted = owner_on(data)
    restarted.apply([Restock("A", 100, "t1")])  # now o2 would fit, but it was decided
    again = restarted.apply([Reserve("douyin", "o1", "A", 3), Reserve("douyin", "o2", "A", 3)])

    assert [d.accepted for d in again] == [True, False]
    assert all(d.duplicate for d in again)
    assert again[1].reason == Reason.INSUFFICIENT
    assert restarted.ledger("A") == Ledger("A", 105, 3, 0, (), 3)


def test_a_stale_owner_cannot_commit(data: MemoryLedgers) -> None:
    zombie = owner_on(data)
    zombie.apply([DefineSku(SkuSettings("A"), 5)])
    successor = owner_on(data)  # takes a newer epoch

    with pytest.raises(OwnerFencedError):
        zombie.apply([Reserve("douyin", "z1", "A", 5)])
    assert zombie.fenced
    with pytest.raises(OwnerFencedError):
        zombie.apply([Reserve("douyin", "z2", "A", 1)])
    assert data.record_of("A", "douyin\x1fz1") is None
    assert data.ledgers["A"].reserved == 0

    decision = successor.apply([Reserve("douyin", "s1", "A", 5)])[0]
    assert decision.accepted
    assert decision.available == 0


def test_an_owner_of_another_layout_neither_starts_nor_commits(data: MemoryLedgers) -> None:
    two = replace(CONFIG, shard_count=2)
    old = SkuOwner(two, 0, InMemoryOwnerStore(two, data))
    sku = next(f"S{n}" for n in range(100) if owner_of(f"S{n}", 2) == 0)
    old.apply([DefineSku(SkuSettings(sku), 10)])
    three = replace(CONFIG, shard_count=3)
    InMemoryOwnerStore(three, data).set_layout()  # the handoff to three shards

    with pytest.raises(OwnerFencedError, match="now runs 3 shards"):
        old.apply([Reserve("douyin", "late", sku, 1)])
    with pytest.raises(LayoutMismatchError, match="runs with 3 shards"):
        SkuOwner(two, 1, InMemoryOwnerStore(two, data))


def test_only_open_reservations_wait_for_their_expiry(data: MemoryLedgers) -> None:
    # a paid or released reservation leaves the expiry schedule at once: over a long sale
    # the owner's memory follows the open reservations, not every reservation made
    clock = FakeClock(1_764_000_000.0)
    owner = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A", reservation_ttl_seconds=900), 10_000)])
    owner.apply([Reserve("douyin", f"o{n}", "A", 1) for n in range(1000)])
    assert owner.scheduled_expiries == 1000
    owner.apply([Confirm("douyin", f"o{n}", "A") for n in range(990)])
    owner.apply([Release("douyin", "o990", "A", "cancelled")])
    assert owner.scheduled_expiries == 9
    clock.now += 901
    assert sorted(op.order_id for op in owner.due_operations() if isinstance(op, Release)) == [
        f"o{n}" for n in range(991, 1000)
    ]
    assert owner.scheduled_expiries == 0


def test_unpaid_reservations_expire_durably(data: MemoryLedgers) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = owner_on(data, clock)
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

    reloaded = owner_on(data, clock)
    assert reloaded.ledger("A") == Ledger("A", 10, 0, 3, (), 5)
    assert "douyin\x1funpaid" not in reloaded.records["A"]  # settled: history, not loaded
    late_payment = reloaded.apply([Confirm("douyin", "unpaid", "A")])[0]
    assert not late_payment.accepted
    assert late_payment.reason == Reason.ALREADY_RELEASED


def test_expiry_survives_a_restart(data: MemoryLedgers) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = owner_on(data, clock)
    owner.apply(
        [DefineSku(SkuSettings("A", reservation_ttl_seconds=30), 10), Reserve("douyin", "o1", "A", 2)]
    )
    restarted = owner_on(data, clock)
    clock.now += 31
    restarted.apply(restarted.due_operations())
    assert restarted.ledger("A") == Ledger("A", 10, 0, 0, (), 3)


def test_inbound_transfer_joins_stock_on_arrival(data: MemoryLedgers) -> None:
    clock = FakeClock(1_764_000_000.0)
    owner = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 10), Restock("A", 200, "t-1", "nearby", clock.now + 1200)])
    clock.now += 1200
    owner.apply(owner.due_operations())
    ledger = owner_on(data, clock).ledger("A")
    assert ledger is not None
    assert (ledger.on_hand, ledger.inbound) == (210, ())


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (Reserve("douyin", "o1", "A", 0), Reason.INVALID),
        (Reserve("douyin", "", "A", 1), Reason.INVALID),
        (Reserve("douyin", "o1", "NOPE", 1), Reason.UNKNOWN_SKU),
        (Adjust("A", -50, "count-1", "recount", "ops"), Reason.WOULD_OVERSELL),
    ],
)
def test_bad_input_is_rejected_with_a_reason_and_deducts_nothing(
    data: MemoryLedgers, op: Reserve | Adjust, reason: str
) -> None:
    owner = owner_on(data)
    owner.apply([DefineSku(SkuSettings("A"), 10), Reserve("douyin", "ok", "A", 5)])
    decision = owner.apply([op])[0]
    assert not decision.accepted
    assert decision.reason == reason
    assert decision.detail
    assert data.ledgers["A"] == Ledger("A", 10, 5, 0, (), 2)


def test_misrouted_operation_is_refused_not_applied(data: MemoryLedgers) -> None:
    two = replace(CONFIG, shard_count=2)
    owner = SkuOwner(two, 0, InMemoryOwnerStore(two, data))
    foreign = next(f"S{n}" for n in range(100) if not owner.owns(f"S{n}"))
    decision = owner.apply([DefineSku(SkuSettings(foreign), 5)])[0]
    assert decision.reason == Reason.NOT_OWNER
    assert owner.ledger(foreign) is None


def test_owner_reloads_after_a_failed_commit_and_carries_on(data: MemoryLedgers) -> None:
    owner = owner_on(data)
    owner.apply([DefineSku(SkuSettings("A"), 10), Reserve("douyin", "before", "A", 4)])
    data.down = True
    with pytest.raises(ConnectionError):
        owner.apply([Reserve("douyin", "lost", "A", 6)])  # decided in memory, never durable
    assert owner.stale
    data.down = False

    decisions = owner.apply([Reserve("douyin", "after", "A", 6)])
    assert decisions[0].accepted
    assert decisions[0].available == 0
    assert owner.ledger("A") == Ledger("A", 10, 10, 0, (), 3)


def test_group_committer_answers_each_caller_with_its_own_decisions(data: MemoryLedgers) -> None:
    owner = owner_on(data)
    told: list[CommitBatch] = []
    committer = GroupCommitter(owner, tick_seconds=0.01, on_commit=told.append)
    try:
        committer.submit([DefineSku(SkuSettings("A"), 3)]).result(timeout=5)
        futures = [committer.submit([Reserve("douyin", f"o{n}", "A", 1, 1.0)]) for n in range(5)]
        decisions = [future.result(timeout=5)[0] for future in futures]
    finally:
        committer.stop()
    assert [d.key.rsplit("/", 1)[-1] for d in decisions] == [f"o{n}" for n in range(5)]
    assert sum(d.accepted for d in decisions) == 3
    assert sum(len(batch.sales) for batch in told) == 3


def test_forecaster_feed_numbers_its_batches_and_looks_the_forecaster_up_sparingly() -> None:
    clock = FakeClock(0.0)
    sent: list[bytes] = []
    running = False
    lookups = 0

    def find() -> Send | None:
        nonlocal lookups
        lookups += 1
        return sent.append if running else None

    feed = ForecasterFeed(0, 7, find, retry_seconds=5.0, clock=clock)
    news = CommitBatch(ledgers={"A": Ledger("A", 10)})
    feed(news)
    feed(news)  # within the retry interval: no second lookup
    assert (lookups, feed.sent) == (1, 0)
    running = True
    clock.now += 5.0
    feed(news)
    feed(CommitBatch())  # no news: nothing sent
    feed(news)
    assert (lookups, feed.sent) == (2, 2)
    assert sent[-1] == pack_commit((0, 7, 2), [], {"A": Ledger("A", 10)}, [])
