"""The wire format between ingest and owners: batches of operations and decisions as
bytes, rebuilt as the same values, of every kind."""

from __future__ import annotations

import pickle

import pytest

from actors.infra.wire import pack_decisions, pack_operations, unpack_decisions, unpack_operations
from policies.ledger import Decision, SkuSettings
from policies.operations import (
    Adjust,
    Confirm,
    DefineSku,
    Hold,
    Operation,
    ReceiveArrivals,
    Release,
    Reserve,
    Restock,
)

EVERY_KIND: list[Operation] = [
    Reserve("douyin", "o1", "SKU-1", 2, 1_700_000_000.5, True, True),
    Confirm("douyin", "o1", "SKU-1"),
    Release("taobao", "o2", "SKU-2", "expired"),
    Restock("SKU-1", 10, "t1", "warehouse", 1_700_000_100.0),
    ReceiveArrivals("SKU-1", None),
    Adjust("SKU-2", -3, "a1", "count", "ops"),
    Hold("SKU-2", 4, "h1"),
    DefineSku(SkuSettings("SKU-3", name="hoodie", purchase_limit=2), 500),
]


def test_operations_of_every_kind_come_back_equal_and_of_their_class() -> None:
    back = unpack_operations(pack_operations(EVERY_KIND))
    assert back == EVERY_KIND
    assert [type(op) for op in back] == [type(op) for op in EVERY_KIND]
    assert [op.field for op in back] == [op.field for op in EVERY_KIND]


def test_decisions_come_back_equal_and_of_their_class() -> None:
    decisions = [
        Decision("reserve", "SKU-1", "douyin/o1", True, "reserved", 2, 98),
        Decision("reserve", "SKU-2", "taobao/o2", False, reason="sold_out", detail="0 left", duplicate=True),
    ]
    back = unpack_decisions(pack_decisions(decisions))
    assert back == decisions
    assert all(type(d) is Decision for d in back)
    assert back[1].reason == "sold_out"


def test_an_empty_batch_travels() -> None:
    assert unpack_operations(pack_operations([])) == []
    assert unpack_decisions(pack_decisions([])) == []


def test_a_payload_of_the_earlier_form_is_still_read() -> None:
    earlier = pickle.dumps(list(EVERY_KIND), protocol=pickle.HIGHEST_PROTOCOL)
    assert unpack_operations(earlier) == EVERY_KIND


def test_something_that_is_not_an_operation_reaches_the_owner_unchanged() -> None:
    odd: list[object] = [Reserve("douyin", "o1", "SKU-1", 1), {"sku": "SKU-1"}]
    assert unpack_operations(pack_operations(odd)) == odd  # type: ignore[arg-type]  # a caller's mistake, on purpose


def test_a_row_of_another_version_of_its_class_is_refused_naming_it() -> None:
    # a sender whose Confirm had a field fewer: its rows must not become a Confirm with
    # fields missing (tuple.__new__ checks no arity) that fails somewhere later
    payload = pickle.dumps(([Reserve, Confirm], [tuple(EVERY_KIND[0]), ("douyin", "o1")]))
    with pytest.raises(ValueError, match="a Confirm of 2 fields, not 3"):
        unpack_operations(payload)
