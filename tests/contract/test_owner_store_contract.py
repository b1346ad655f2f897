"""The ``OwnerStore`` contract, run on the in-memory store and on Redis alike: commits are
whole per partition, loaded back as committed (open reservations, not history), fenced by
epoch and by layout per partition; older line records are found on a lookup until the
retention window expires them."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from redis.crc import key_slot

from actors.infra.codec import encode_record
from actors.infra.settings import StoreConfig
from actors.owner.reads import bucket_of
from actors.owner.store import (
    BucketSpanError,
    CommitBatch,
    LayoutMismatchError,
    LedgerStore,
    OwnerFencedError,
    OwnerStore,
    PartitionCountError,
)
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from policies.routing import owner_of, partition_of
from tests.contract.conftest import Backend

RESERVED = LineRecord(LineStatus.RESERVED, 2, "", 100.0, 160.0)
SOLD = LineRecord(LineStatus.SOLD, 2, "", 100.0, 0.0)


def define(sku: str, on_hand: int, *, reserved: int = 0, version: int = 1) -> CommitBatch:
    """A batch that creates ``sku`` with its settings (what DefineSku commits)."""
    return CommitBatch(
        ledgers={sku: Ledger(sku, on_hand, reserved, 0, (), version)},
        settings={sku: SkuSettings(sku)},
        new_skus=[sku],
    )


def commit(store: OwnerStore, epoch: int, batch: CommitBatch, index: int = 0) -> None:
    """Send ``batch`` and wait until it is durable."""
    store.finish_commit(store.send_commit(epoch, index, batch))


def test_a_commit_is_loaded_back_as_committed(backend: Backend) -> None:
    store = backend.owner_store()
    store.claim_layout()
    epoch = store.take_epoch(0)
    batch = define("A", 10, reserved=2, version=2)
    batch.records["A"] = ["douyin\x1fo1", encode_record(RESERVED)]
    batch.oversold["A"] = {"taobao": 3}
    commit(store, epoch, batch)

    state = backend.owner_store().load(0)

    assert state.ledgers == {"A": Ledger("A", 10, 2, 0, (), 2)}
    assert state.settings == {"A": SkuSettings("A")}
    assert state.records == {"A": {"douyin\x1fo1": RESERVED}}
    assert state.oversold == {"A": {"taobao": 3}}
    assert backend.read_skus() == {"A": (Ledger("A", 10, 2, 0, (), 2), SkuSettings("A"))}


def test_a_later_commit_updates_only_what_it_names(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    commit(store, epoch, define("A", 10))
    commit(store, epoch, CommitBatch(settings={"A": SkuSettings("A", purchase_limit=2)}))
    commit(store, epoch, CommitBatch(ledgers={"A": Ledger("A", 10, 1, 0, (), 3)}))

    state = store.load(0)

    assert state.ledgers["A"] == Ledger("A", 10, 1, 0, (), 3)
    assert state.settings["A"] == SkuSettings("A", purchase_limit=2)
    assert state.records == {"A": {}}
    assert state.oversold == {}


def test_two_commits_in_flight_are_applied_in_order(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    first = store.send_commit(epoch, 0, define("A", 10))
    second = store.send_commit(epoch, 0, CommitBatch(ledgers={"A": Ledger("A", 10, 4, 0, (), 2)}))
    store.finish_commit(first)
    store.finish_commit(second)

    assert store.load(0).ledgers["A"] == Ledger("A", 10, 4, 0, (), 2)


def test_units_held_for_platforms_are_committed_and_loaded_back(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    commit(store, epoch, define("A", 10))
    commit(store, epoch, CommitBatch(ledgers={"A": Ledger("A", 10, 1, 0, (), 2, held=6)}))

    state = backend.owner_store().load(0)

    assert state.ledgers["A"] == Ledger("A", 10, 1, 0, (), 2, held=6)
    assert state.ledgers["A"].free == 3
    assert backend.read_skus()["A"][0].held == 6
    commit(store, epoch, CommitBatch(ledgers={"A": Ledger("A", 10, 1, 0, (), 3, held=0)}))
    assert backend.owner_store().load(0).ledgers["A"].held == 0


def test_an_owner_loads_only_the_skus_of_its_shard(backend: Backend) -> None:
    skus = [f"S{n}" for n in range(40)]
    store = backend.owner_store(shard_count=2)
    epochs = [store.take_epoch(0), store.take_epoch(1)]
    for sku in skus:
        index = owner_of(sku, 2)
        commit(store, epochs[index], define(sku, 5), index)

    for index in (0, 1):
        assert sorted(store.load(index).ledgers) == sorted(s for s in skus if owner_of(s, 2) == index)
    assert {owner_of(s, 2) for s in skus} == {0, 1}


def test_epochs_grow_per_owner(backend: Backend) -> None:
    store = backend.owner_store(shard_count=2)
    first = store.take_epoch(0)

    assert store.take_epoch(0) == first + 1
    assert store.take_epoch(1) == 1


def test_a_newer_epoch_fences_the_older_and_nothing_of_its_batch_is_written(backend: Backend) -> None:
    zombie = backend.owner_store()
    old = zombie.take_epoch(0)
    commit(zombie, old, define("A", 5))
    successor = backend.owner_store()
    successor.take_epoch(0)

    with pytest.raises(OwnerFencedError, match="is stale"):
        commit(zombie, old, define("B", 7))

    assert sorted(successor.load(0).ledgers) == ["A"]


def test_a_commit_without_an_epoch_taken_is_fenced(backend: Backend) -> None:
    store = backend.owner_store()

    with pytest.raises(OwnerFencedError):
        commit(store, 1, define("A", 5))
    assert store.load(0).ledgers == {}


def test_claiming_the_layout_records_it_once_and_refuses_another(backend: Backend) -> None:
    backend.owner_store(shard_count=2).claim_layout()
    backend.owner_store(shard_count=2).claim_layout()  # the same layout: fine

    with pytest.raises(LayoutMismatchError, match="runs with 2 shards, not 3"):
        backend.owner_store(shard_count=3).claim_layout()


def test_a_commit_of_the_old_layout_is_fenced_after_the_handoff(backend: Backend) -> None:
    two = backend.owner_store(shard_count=2)
    two.claim_layout()
    epoch = two.take_epoch(0)
    sku = next(f"S{n}" for n in range(100) if owner_of(f"S{n}", 2) == 0)
    backend.owner_store(shard_count=3).set_layout()

    with pytest.raises(OwnerFencedError, match="now runs 3 shards"):
        commit(two, epoch, define(sku, 5))
    assert backend.read_skus() == {}


def test_a_store_that_answers_says_so(backend: Backend) -> None:
    assert backend.owner_store().ping()


def test_a_removed_sku_is_gone_with_its_lines_and_the_others_stay(backend: Backend) -> None:
    store = backend.owner_store()
    store.claim_layout()
    epoch = store.take_epoch(0)
    batch = define("A", 10)
    batch.records["A"] = ["douyin\x1fo1", encode_record(RESERVED)]
    batch.oversold["A"] = {"taobao": 1}
    commit(store, epoch, batch)
    commit(store, epoch, define("B", 5))

    store.remove_sku(epoch, 0, "A")

    state = backend.owner_store().load(0)
    assert set(state.ledgers) == {"B"}
    assert "A" not in state.records
    assert "A" not in state.oversold
    assert set(backend.read_skus()) == {"B"}
    commit(store, epoch, define("A", 3))  # the id may be used again, from scratch
    assert backend.owner_store().load(0).ledgers["A"] == Ledger("A", 3, 0, 0, (), 1)


def test_a_removal_by_a_fenced_owner_changes_nothing(backend: Backend) -> None:
    store = backend.owner_store()
    store.claim_layout()
    old = store.take_epoch(0)
    commit(store, old, define("A", 10))
    store.take_epoch(0)
    with pytest.raises(OwnerFencedError):
        store.remove_sku(old, 0, "A")
    assert set(backend.read_skus()) == {"A"}


def test_a_settled_line_is_not_loaded_but_found_by_a_lookup(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    batch = define("A", 10)
    batch.records["A"] = ["douyin\x1fo1", encode_record(RESERVED), "douyin\x1fo2", encode_record(SOLD)]
    commit(store, epoch, batch)
    confirm = CommitBatch(ledgers={"A": Ledger("A", 10, 0, 4, (), 2)}, closed={"A": ["douyin\x1fo1"]})
    confirm.records["A"] = ["douyin\x1fo1", encode_record(SOLD)]
    commit(store, epoch, confirm)

    restarted = backend.owner_store()
    state = restarted.load(0)

    assert state.records == {"A": {}}  # no open reservation, and no history loaded
    assert state.buckets == [bucket_of(backend.config, time.time())]
    wanted = {("A", "douyin\x1fo1"): state.buckets, ("A", "douyin\x1fo2"): state.buckets}
    assert restarted.lookup_lines({**wanted, ("A", "douyin\x1fnever"): state.buckets}) == {
        ("A", "douyin\x1fo1"): SOLD,
        ("A", "douyin\x1fo2"): SOLD,
    }


def test_an_open_reservation_is_loaded_until_it_is_closed(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    batch = define("A", 10, reserved=2)
    batch.records["A"] = ["douyin\x1fo1", encode_record(RESERVED)]
    commit(store, epoch, batch)
    assert backend.owner_store().load(0).records == {"A": {"douyin\x1fo1": RESERVED}}

    released = LineRecord(LineStatus.RELEASED, 2, "cancelled", 100.0, 0.0)
    close = CommitBatch(ledgers={"A": Ledger("A", 10, 0, 0, (), 2)}, closed={"A": ["douyin\x1fo1"]})
    close.records["A"] = ["douyin\x1fo1", encode_record(released)]
    commit(store, epoch, close)

    state = backend.owner_store().load(0)
    assert state.records == {"A": {}}
    assert backend.owner_store().lookup_lines({("A", "douyin\x1fo1"): state.buckets}) == {
        ("A", "douyin\x1fo1"): released
    }


def test_line_records_older_than_the_retention_window_are_gone(backend: Backend) -> None:
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    config = backend.config
    long_ago = time.time() - config.retention_seconds - 2 * config.bucket_seconds
    old = define("A", 10)
    old.records["A"] = ["douyin\x1fold", encode_record(SOLD)]
    old.committed_at = long_ago
    commit(store, epoch, old)
    recent = CommitBatch(ledgers={"A": Ledger("A", 10, 0, 2, (), 2)})
    recent.records["A"] = ["douyin\x1fnew", encode_record(SOLD)]
    commit(store, epoch, recent)

    state = backend.owner_store().load(0)
    expired = bucket_of(config, long_ago)

    assert state.buckets == [bucket_of(config, time.time())]
    found = store.lookup_lines({("A", "douyin\x1fold"): [expired], ("A", "douyin\x1fnew"): state.buckets})
    assert found == {("A", "douyin\x1fnew"): SOLD}
    assert state.ledgers["A"] == Ledger("A", 10, 0, 2, (), 2)  # ledgers never expire


def test_a_fence_is_per_partition_so_one_owner_s_successor_fences_only_it(backend: Backend) -> None:
    skus = [f"S{n}" for n in range(40)]
    first, second = (next(s for s in skus if owner_of(s, 2) == i) for i in (0, 1))
    store = backend.owner_store(shard_count=2)
    store.claim_layout()
    zero, one = store.take_epoch(0), store.take_epoch(1)
    commit(store, zero, define(first, 5), 0)
    commit(store, one, define(second, 5), 1)
    store.take_epoch(0)  # owner 0 restarted elsewhere

    with pytest.raises(OwnerFencedError, match="is stale"):
        commit(store, zero, CommitBatch(ledgers={first: Ledger(first, 9, 0, 0, (), 2)}), 0)
    commit(store, one, CommitBatch(ledgers={second: Ledger(second, 9, 0, 0, (), 2)}), 1)

    assert store.load(0).ledgers[first].on_hand == 5
    assert store.load(1).ledgers[second].on_hand == 9


def test_a_reshard_moves_partitions_between_owners_and_keeps_every_record(backend: Backend) -> None:
    skus = [f"S{n}" for n in range(60)]
    two = backend.owner_store(shard_count=2)
    two.claim_layout()
    epochs = [two.take_epoch(0), two.take_epoch(1)]
    for sku in skus:
        batch = define(sku, 5)
        batch.records[sku] = ["douyin\x1fo1", encode_record(SOLD)]
        commit(two, epochs[owner_of(sku, 2)], batch, owner_of(sku, 2))
    before = backend.stored_keys()

    three = backend.owner_store(shard_count=3)
    three.set_layout()
    loaded = {}
    for index in range(3):
        three.take_epoch(index)
        state = three.load(index)
        assert sorted(state.ledgers) == sorted(s for s in skus if owner_of(s, 3) == index)
        loaded.update(state.ledgers)
        wanted = {(sku, "douyin\x1fo1"): state.buckets for sku in state.ledgers}
        assert set(three.lookup_lines(wanted)) == set(wanted)

    assert sorted(loaded) == sorted(skus)
    assert backend.stored_keys() == before  # nothing moved: owners hold partitions, not keys


def test_a_deployment_refuses_another_partition_count(backend: Backend) -> None:
    backend.owner_store().claim_layout()
    other = replace(backend.config, partitions=backend.config.partitions * 2)

    with pytest.raises(PartitionCountError, match="partition count of a deployment never changes"):
        backend.owner_store_of(other).claim_layout()


def test_a_deployment_refuses_another_bucket_span(backend: Backend) -> None:
    backend.owner_store_of(replace(backend.config, bucket_seconds=600)).claim_layout()
    backend.owner_store_of(replace(backend.config, bucket_seconds=600)).claim_layout()  # the same: fine

    with pytest.raises(BucketSpanError, match="written with line buckets of 600 s, not 3600 s"):
        backend.owner_store().claim_layout()


def test_a_namespace_written_before_the_span_was_recorded_has_hourly_buckets(backend: Backend) -> None:
    backend.owner_store().claim_layout()
    backend.forget_bucket_span()  # as versions before left it: a partition count, no span

    with pytest.raises(BucketSpanError, match="written with line buckets of 3600 s, not 60 s"):
        backend.owner_store_of(replace(backend.config, bucket_seconds=60)).claim_layout()
    backend.owner_store().claim_layout()


def test_every_key_of_one_partition_s_commit_is_in_one_cluster_slot() -> None:
    config = StoreConfig("redis://unused", namespace="slots", shard_count=1)
    skus = [f"SKU-{n}" for n in range(200)]
    batch = CommitBatch(
        ledgers={s: Ledger(s, 5, 1, 0, (), 1) for s in skus},
        settings={s: SkuSettings(s) for s in skus},
        oversold={s: {"douyin": 1} for s in skus},
        closed={s: ["douyin\x1fo0"] for s in skus},
    )
    for sku in skus:
        batch.records[sku] = ["douyin\x1fo1", encode_record(RESERVED)]

    calls = LedgerStore(config).commit_calls(1, batch)

    assert sorted(calls) == sorted({partition_of(s, config.partitions) for s in skus})
    slots = set()
    for call_keys, _ in calls.values():
        assert len(call_keys) == 7
        assert len({key_slot(key.encode()) for key in call_keys}) == 1, call_keys
        slots.add(key_slot(call_keys[0].encode()))
    assert len(slots) == len(calls)  # partitions spread over slots


def test_setting_the_layout_a_deployment_already_runs_fences_no_one(backend: Backend) -> None:
    store = backend.owner_store(shard_count=2)
    store.claim_layout()
    epoch = store.take_epoch(0)
    sku = next(f"S{n}" for n in range(100) if owner_of(f"S{n}", 2) == 0)

    backend.owner_store(shard_count=2).set_layout()  # another process starting the same layout

    commit(store, epoch, define(sku, 5))
    assert set(backend.read_skus()) == {sku}
