"""``ChannelIngest.decide``'s fast path for wholly accepted orders against
``reference_decide`` (every order through ``answer_from_record``, ``compensations_for``,
``decide_order``, ``record_order`` and ``cancellation_request``).

Hypothesis builds runs of batches on one channel (platform-first or reserve-first):
single and multi-line orders over SKUs with little stock and one unknown SKU, order ids
repeated within a batch and across batches (with the same lines or other ones: a
conflict), payments and cancels with and without SKUs, ignored and unreadable messages.
Two ingests, each on its own in-memory store and owner, decide the same batches, one
with ``decide`` and one with ``reference_decide``: every result, every publication
(decisions, index records, cancellation requests, counters, acknowledgements) and every
batch of operations sent to the owners must be the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.ingest import core
from actors.ingest.core import ChannelIngest
from actors.ingest.memory_store import MemoryIngestStore
from actors.ingest.store import Publication
from policies.channels import (
    Cancellation,
    ChannelMessage,
    Ignored,
    OrderLine,
    Payment,
    PlatformOrder,
    Unreadable,
)
from tests.unit.test_ingest_core import PLACED, PureOwner

CHANNEL = "mini"
STOCK = {"A": 6, "B": 2, "C": 0}
SKUS = [*STOCK, "UNKNOWN"]
ORDER_IDS = [f"o{n}" for n in range(6)]
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class RecordingStore(MemoryIngestStore):
    """The in-memory store, keeping every publication it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.publications: list[Publication] = []

    def publish(self, publication: Publication) -> None:
        self.publications.append(publication)
        super().publish(publication)


lines = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(1, 3)),
    min_size=1,
    max_size=3,
    unique_by=lambda line: line[0],
).map(lambda drawn: tuple(OrderLine(sku, quantity) for sku, quantity in drawn))
# mostly single lines, as in a flash sale
order_lines = st.one_of(lines.filter(lambda drawn: len(drawn) == 1), lines)
sku_subsets = st.lists(st.sampled_from(SKUS), max_size=2, unique=True).map(tuple)
order_ids = st.sampled_from(ORDER_IDS)

messages: st.SearchStrategy[ChannelMessage | Unreadable] = st.one_of(
    st.builds(
        PlatformOrder,
        st.just(CHANNEL),
        order_ids,
        order_lines,
        st.just("b1"),
        st.just(PLACED),
        st.booleans(),
    ),
    st.builds(Payment, st.just(CHANNEL), order_ids, st.just(PLACED + 1), sku_subsets),
    st.builds(
        Cancellation, st.just(CHANNEL), order_ids, st.sampled_from(["cancelled", "refunded"]), sku_subsets
    ),
    st.builds(Ignored, st.just(CHANNEL), st.just("shipping")),
    st.builds(Unreadable, st.just(CHANNEL), st.just("no lines"), st.just("{}"), order_ids),
)
batches = st.lists(st.lists(messages, max_size=12), min_size=1, max_size=4)


def ingest_on(mode: str) -> tuple[ChannelIngest, RecordingStore, PureOwner]:
    store = RecordingStore()
    owner = PureOwner(STOCK)
    return ChannelIngest(CHANNEL, "generic", store, owner.submit, mode=mode), store, owner


@EXAMPLES
@given(mode=st.sampled_from(["platform-first", "reserve-first"]), runs=batches)
def test_decide_equals_the_reference_on_mixed_batches(
    mode: str, runs: Sequence[Sequence[ChannelMessage | Unreadable]]
) -> None:
    fast, fast_store, fast_owner = ingest_on(mode)
    reference, reference_store, reference_owner = ingest_on(mode)
    for number, batch in enumerate(runs):
        entry_ids = [f"{number}-{n}" for n in range(len(batch))]
        got = fast.decide(batch, entry_ids)
        expected = reference.reference_decide(batch, entry_ids)
        assert repr(got) == repr(expected)
        assert got == expected
    assert repr(fast_store.publications) == repr(reference_store.publications)
    assert fast_store.publications == reference_store.publications
    assert fast_owner.batches == reference_owner.batches
    assert fast.stats() == reference.stats()


def test_new_accepted_orders_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference path was taken")

    for name in (
        "answer_from_record",
        "compensations_for",
        "decide_order",
        "record_order",
        "cancellation_request",
    ):
        monkeypatch.setattr(core, name, not_called)
    ingest, store, _ = ingest_on("platform-first")
    batch = [
        PlatformOrder(CHANNEL, "s1", (OrderLine("A", 1),), "b1", PLACED),
        PlatformOrder(CHANNEL, "m1", (OrderLine("A", 1), OrderLine("B", 2)), "b1", PLACED, True),
    ]
    result = ingest.decide(batch)
    assert [(o.order_id, o.accepted) for o in result.orders] == [("s1", True), ("m1", True)]
    assert sorted(store.publications[0].order_index) == ["m1", "s1"]
