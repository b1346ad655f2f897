"""Taking a SKU out of the catalogue: refused while anything is promised on it, and done
between the owner's batches so no decision touches it meanwhile (in-memory store)."""

from __future__ import annotations

import threading

import pytest

from actors.infra.settings import StoreConfig
from actors.owner.commit import GroupCommitter
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from policies.catalogue import HAS_INBOUND, HAS_RESERVATIONS, decide_removal
from policies.ledger import InboundTransfer, Ledger, Reason, SkuSettings
from policies.operations import Confirm, DefineSku, Release, Reserve

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1)
NOW = 1_764_000_000.0


def test_removal_is_refused_while_units_are_reserved_or_inbound() -> None:
    assert decide_removal("A", None, 0).reason == Reason.UNKNOWN_SKU
    held = decide_removal("A", Ledger("A", 10, 3, 2), 2)
    assert (held.accepted, held.reason) == (False, HAS_RESERVATIONS)
    assert "3 units reserved by 2 open order line(s)" in held.detail
    coming = decide_removal("A", Ledger("A", 10, 0, 0, (InboundTransfer("t1", 5, NOW + 60, "hub"),)), 0)
    assert (coming.accepted, coming.reason) == (False, HAS_INBOUND)
    sold_out = decide_removal("A", Ledger("A", 10, 0, 10), 0)
    assert (sold_out.accepted, sold_out.status) == (True, "removed")


def test_an_owner_removes_a_sku_once_its_orders_are_settled() -> None:
    data = MemoryLedgers()
    owner = SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, data), clock=lambda: NOW)
    owner.apply([DefineSku(SkuSettings("A"), 10), DefineSku(SkuSettings("B"), 4)])
    owner.apply([Reserve("douyin", "o1", "A", 2, NOW), Reserve("douyin", "o2", "A", 1, NOW)])

    refused = owner.remove("A")
    assert (refused.accepted, refused.reason) == (False, HAS_RESERVATIONS)
    assert "A" in data.skus

    owner.apply([Confirm("douyin", "o1", "A"), Release("douyin", "o2", "A")])
    assert owner.remove("A").accepted
    assert "A" not in data.skus
    assert "A" not in data.ledgers
    assert owner.ledger("A") is None
    assert owner.remove("A").reason == Reason.UNKNOWN_SKU
    (late,) = owner.apply([Reserve("douyin", "o3", "A", 1, NOW)])
    assert (late.accepted, late.reason) == (False, Reason.UNKNOWN_SKU)
    assert owner.ledger("B") == Ledger("B", 4, 0, 0, (), 1)
    # a restarted owner does not bring it back
    assert "A" not in SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, data)).committed


def test_removal_runs_between_batches_while_orders_keep_coming() -> None:
    data = MemoryLedgers()
    owner = SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, data), clock=lambda: NOW)
    committer = GroupCommitter(owner, tick_seconds=0.01)
    try:
        committer.submit([DefineSku(SkuSettings("GONE"), 5), DefineSku(SkuSettings("BUSY"), 1000)]).result(5)
        stop = threading.Event()
        answered: list[bool] = []

        def keep_ordering() -> None:
            n = 0
            while not stop.is_set():
                (decision,) = committer.submit([Reserve("douyin", f"b{n}", "BUSY", 1, NOW)]).result(5)
                answered.append(decision.accepted)
                n += 1

        orders = threading.Thread(target=keep_ordering)
        orders.start()
        removed = committer.run_exclusively(lambda: owner.remove("GONE")).result(5)
        stop.set()
        orders.join(5)
        assert removed.accepted
        assert "GONE" not in data.skus
        assert answered
        assert all(answered)
        assert data.ledgers["BUSY"].reserved == len(answered)  # nothing lost around the removal
    finally:
        committer.stop()


def test_an_error_in_an_exclusive_action_reaches_its_caller_only() -> None:
    owner = SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, MemoryLedgers()), clock=lambda: NOW)
    committer = GroupCommitter(owner, tick_seconds=0.01)
    try:

        def broken() -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            committer.run_exclusively(broken).result(5)
        assert committer.submit([DefineSku(SkuSettings("A"), 1)]).result(5)[0].accepted
    finally:
        committer.stop()
