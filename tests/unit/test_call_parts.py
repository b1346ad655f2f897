"""How one owner's share of a batch is split into calls (``actors.owner.client.call_parts``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.owner.client import MAX_CALL_OPS, call_parts
from policies.operations import Confirm, Operation, Reserve


def operations(skus: list[str]) -> list[Operation]:
    return [
        Reserve("douyin", f"o{n}", sku, 1, 1_764_000_000.0) if n % 3 else Confirm("douyin", f"o{n}", sku)
        for n, sku in enumerate(skus)
    ]


@given(
    st.lists(st.sampled_from([f"S{n}" for n in range(60)]), min_size=1, max_size=3 * MAX_CALL_OPS),
    st.sampled_from([1, 2, 3]),
)
def test_every_operation_travels_once_and_each_sku_in_its_order(skus: list[str], step: int) -> None:
    ops = operations(skus)
    positions = list(range(0, len(ops), step))  # an owner's share: some of the batch's positions
    parts = call_parts(ops, positions)
    assert sorted(p for part in parts for p in part) == positions
    assert all(part == sorted(part) for part in parts)  # each part keeps the batch's order
    assert all(parts)
    holders = {ops[p].sku: {i for i, part in enumerate(parts) if p in part} for p in positions}
    assert all(len(held) == 1 for held in holders.values())  # a SKU's operations: one call
    if len(positions) <= MAX_CALL_OPS:
        assert parts == [positions]


def test_a_share_over_one_call_is_split_into_calls_under_the_bound() -> None:
    ops = operations([f"S{n}" for n in range(2000)] * 2)
    parts = call_parts(ops, list(range(len(ops))))
    assert len(parts) == 4  # ceil(4000 / 1200)
    assert max(map(len, parts)) < MAX_CALL_OPS * 1.3  # 2,000 SKUs spread about evenly
