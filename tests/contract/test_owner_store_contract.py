"""The ``OwnerStore`` contract, run on the in-memory store and on Redis alike: commits are
whole, loaded back as committed, fenced by epoch and by layout."""

from __future__ import annotations

import pytest

from actors.infra.codec import encode_record
from actors.owner.store import CommitBatch, LayoutMismatchError, OwnerFencedError, OwnerStore
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from policies.routing import owner_of
from tests.contract.conftest import Backend

RESERVED = LineRecord(LineStatus.RESERVED, 2, "", 100.0, 160.0)


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
    skus = [f"S{n}" for n in range(12)]
    store = backend.owner_store(shard_count=2)
    epochs = [store.take_epoch(0), store.take_epoch(1)]
    for sku in skus:
        index = owner_of(sku, 2)
        commit(store, epochs[index], define(sku, 5), index)

    for index in (0, 1):
        assert sorted(store.load(index).ledgers) == sorted(s for s in skus if owner_of(s, 2) == index)


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
