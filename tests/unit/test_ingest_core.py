"""The ChannelIngest core on the in-memory store, deciding through ``PureOwner`` (the pure
rules of ``policies.operations`` over dicts): no Redis, no Ray."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Unpack

import pytest

from actors.ingest.core import ChannelIngest, WebhookRejected
from actors.ingest.memory_store import MemoryIngestStore
from actors.ingest.order_index import current_window
from policies.channels import Cancellation, OrderLine, Payment, PlatformOrder, Unreadable
from policies.channels.signing import WebhookHeaders
from policies.ledger import Decision, Ledger, LineRecord, LineStatus, SkuSettings
from policies.operations import DefineSku, Operation, Reserve, decide
from tests.support import IngestOptions, signed_headers

PLACED = 1_764_000_000.0
NOW = PLACED + 10
SECRET = b"mini-shared-secret"


class PureOwner:
    """A stand-in for the SKU owners: one process's dicts, the pure decision rules, and
    every batch it was sent."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.ledgers: dict[str, Ledger] = {}
        self.settings: dict[str, SkuSettings] = {}
        self.records: dict[tuple[str, str], LineRecord] = {}
        self.batches: list[list[Operation]] = []
        self.submit([DefineSku(SkuSettings(sku), units) for sku, units in stock.items()])
        self.batches.clear()

    def submit(self, ops: Sequence[Operation]) -> list[Decision]:
        self.batches.append(list(ops))
        decisions = []
        for op in ops:
            key = (op.sku, op.field)
            step = decide(op, self.ledgers.get(op.sku), self.settings.get(op.sku), self.records.get(key), NOW)
            if step.ledger is not None:
                self.ledgers[op.sku] = step.ledger
            if step.record is not None and op.field:
                self.records[key] = step.record
            if step.settings is not None:
                self.settings[op.sku] = step.settings
            decisions.append(step.decision)
        return decisions

    def held(self, sku: str) -> tuple[int, int]:
        """(reserved, sold) units of ``sku``."""
        ledger = self.ledgers[sku]
        return ledger.reserved, ledger.sold


def order(order_id: str, *lines: tuple[str, int]) -> dict[str, object]:
    return {
        "type": "order",
        "order_id": order_id,
        "buyer_id": "b1",
        "placed_at": PLACED,
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines],
    }


@pytest.fixture
def owner() -> PureOwner:
    return PureOwner({"A": 10, "B": 3})


@pytest.fixture
def store() -> MemoryIngestStore:
    return MemoryIngestStore()


def ingest_for(store: MemoryIngestStore, owner: PureOwner, **options: Unpack[IngestOptions]) -> ChannelIngest:
    return ChannelIngest("mini", "generic", store, owner.submit, **options)


def test_multi_line_order_with_a_rejected_line_releases_the_others(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    (decision,) = ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))]).orders
    assert (decision.accepted, decision.reason, decision.failed_sku) == (False, "insufficient", "B")
    assert owner.held("A") == (0, 0)
    assert owner.records[("A", "mini\x1fbig")].status == LineStatus.RELEASED
    assert store.order_skus(["big"]) == {}  # a rejected order is not an order


def test_redelivered_order_keeps_its_first_decision_and_deducts_once(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    first = ingest.process([json.dumps(order("o1", ("A", 4), ("B", 1)))]).orders[0]
    again = ingest.process([json.dumps(order("o1", ("A", 4), ("B", 1)))]).orders[0]
    assert (first.accepted, first.duplicate) == (True, False)
    assert (again.accepted, again.duplicate) == (True, True)
    assert owner.held("A") == (4, 0)
    assert owner.held("B") == (1, 0)


def test_redelivered_rejected_order_repeats_its_compensation_harmlessly(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))])
    again = ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))]).orders[0]
    assert (again.accepted, again.failed_sku, again.duplicate) == (False, "B", True)
    assert owner.held("A") == (0, 0)


def test_payment_and_cancel_by_order_id_find_the_lines_through_the_order_index(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    ingest.process([json.dumps(order("o1", ("A", 2), ("B", 1))), json.dumps(order("o2", ("A", 3)))])
    assert store.order_skus(["o1", "o2", "nope"]) == {"o1": ["A", "B"], "o2": ["A"]}
    result = ingest.process(
        [
            json.dumps({"type": "payment", "order_id": "o1", "paid_at": PLACED + 60}),
            json.dumps({"type": "cancel", "order_id": "o2", "reason": "buyer_cancelled"}),
            json.dumps({"type": "payment", "order_id": "never-seen", "paid_at": PLACED}),
        ]
    )
    assert [(n.kind, n.order_id, n.accepted, n.reason) for n in result.notices] == [
        ("payment", "o1", True, ""),
        ("cancel", "o2", True, ""),
        ("payment", "never-seen", False, "unknown_order"),
    ]
    assert owner.held("A") == (0, 2)
    assert owner.held("B") == (0, 1)


def test_payment_in_the_same_batch_as_its_order_finds_the_order(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    paid = {"type": "payment", "order_id": "o1", "paid_at": PLACED + 1}
    result = ingest.process([json.dumps(order("o1", ("A", 2))), json.dumps(paid)])
    assert [n.accepted for n in result.notices] == [True]
    assert owner.held("A") == (0, 2)


def test_unreadable_messages_are_dead_lettered_with_their_reason_and_the_rest_decided(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    store.enqueue([b"{not json", order("o9", ("A", 0)), order("ok", ("A", 1))])
    assert ingest.poll() == 0  # this consumer held nothing yet
    assert ingest.poll() == 3
    letters = store.dead_letters()
    assert "not valid JSON" in letters[0].reason
    assert (letters[1].reason, letters[1].order_id) == (
        "lines[0].quantity must be between 1 and 100000, got 0",
        "o9",
    )
    assert ingest.stats() == {"orders": 1, "accepted": 1, "dead": 2, "pending": 0}
    assert owner.held("A") == (1, 0)


class Exploding(Mapping[str, object]):
    """A decoded message whose every read raises: what a parser defect looks like from
    outside (the parser names every problem it knows as ``Unreadable``)."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(["order_id"])

    def __len__(self) -> int:
        return 1


def test_a_message_the_parser_fails_on_is_dead_lettered_and_the_batch_decided(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)

    result = ingest.process([order("before", ("A", 1)), Exploding(), order("after", ("A", 1))])

    assert [o.order_id for o in result.orders if o.accepted] == ["before", "after"]
    (letter,) = store.dead_letters()
    assert letter.reason == "the parser failed on this message: RuntimeError: boom"
    assert owner.held("A") == (2, 0)


def test_decide_takes_parsed_orders_like_the_stream_path(store: MemoryIngestStore, owner: PureOwner) -> None:
    ingest = ingest_for(store, owner)
    parsed: list[PlatformOrder | Unreadable] = [
        PlatformOrder("mini", "h1", (OrderLine("A", 3),), "b1", PLACED),
        Unreadable("mini", "order_id must be printable", "{}", "bad"),
    ]
    result = ingest.decide(parsed)
    assert [(o.order_id, o.accepted) for o in result.orders] == [("h1", True)]
    assert [d.reason for d in store.dead_letters()] == ["order_id must be printable"]
    assert store.published() == [["order", "h1", "1", "", "", "0", "A:3:reserved"]]
    cancel = ingest.decide([Cancellation("mini", "h1", "cancelled_by_operator")]).notices[0]
    paid_late = ingest.decide([Payment("mini", "h1", NOW)]).notices[0]
    assert (cancel.accepted, paid_late.accepted) == (True, False)
    assert owner.held("A") == (0, 0)


def test_a_failed_decision_leaves_the_entries_pending_for_the_next_read(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    calls: list[int] = []

    def fail_once(ops: Sequence[Operation]) -> list[Decision]:
        calls.append(len(ops))
        if len(calls) == 1:
            raise RuntimeError("owner unreachable")
        return owner.submit(ops)

    ingest = ChannelIngest("mini", "generic", store, fail_once)
    store.enqueue([order("o1", ("A", 1))])
    ingest.poll()
    with pytest.raises(RuntimeError):
        ingest.poll()
    assert ingest.stats()["pending"] == 1
    assert ingest.poll() == 1  # its own pending entry, read again
    assert ingest.stats() == {"orders": 1, "accepted": 1, "pending": 0}


def test_stale_entries_of_another_consumer_are_claimed_and_decided_once(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    store.enqueue([order("o1", ("A", 3)), order("o2", ("B", 2))])
    assert len(store.read("dead-consumer", 10, pending=False)) == 2
    rescuer = ingest_for(store, owner, consumer="rescuer", claim_idle_ms=0)
    assert rescuer.claim_stale() == 2
    assert rescuer.claim_stale() == 0
    assert owner.held("A") == (3, 0)
    assert rescuer.stats()["pending"] == 0


def test_signed_webhook_is_decided_and_an_unsigned_one_deducts_nothing(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner, secret=SECRET)
    body = json.dumps([order("w1", ("A", 2))]).encode()
    with pytest.raises(WebhookRejected):
        ingest.ingest_signed(body, WebhookHeaders(None, None, None), NOW)
    assert owner.batches == []
    signed = ingest.ingest_signed(body, signed_headers(SECRET, body, NOW), NOW)
    assert [o.accepted for o in signed.orders] == [True]
    assert owner.held("A") == (2, 0)


# ---- orders stay whole ----------------------------------------------------------------


def test_an_order_id_sent_again_with_another_sku_is_a_conflict_and_changes_nothing(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    ingest.process([json.dumps(order("o1", ("A", 2)))])
    ledgers = dict(owner.ledgers)
    (again,) = ingest.process([json.dumps(order("o1", ("B", 1)))]).orders
    assert (again.accepted, again.reason, again.duplicate) == (False, "order_conflict", False)
    assert "A x2" in again.lines[0].detail
    assert "B x1" in again.lines[0].detail
    assert owner.ledgers == ledgers
    assert store.order_skus(["o1"]) == {"o1": ["A"]}  # the index still names the first order
    cancel = ingest.process([json.dumps({"type": "cancel", "order_id": "o1"})]).notices[0]
    assert cancel.accepted
    assert owner.held("A") == (0, 0)


def test_an_order_id_sent_again_with_another_quantity_is_a_conflict(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    ingest.process([json.dumps(order("o1", ("A", 2), ("B", 1)))])
    (again,) = ingest.process([json.dumps(order("o1", ("A", 5), ("B", 1)))]).orders
    assert (again.accepted, again.reason) == (False, "order_conflict")
    assert "2 of 'A'" in again.lines[0].detail
    assert owner.held("A") == (2, 0)
    assert owner.held("B") == (1, 0)


def test_a_conflicting_order_id_within_one_batch_is_refused_after_the_first(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    first, second, third = ingest.process(
        [
            json.dumps(order("o1", ("A", 1))),
            json.dumps(order("o1", ("B", 1))),
            json.dumps(order("o1", ("A", 1))),
        ]
    ).orders
    assert first.accepted
    assert not first.duplicate
    assert (second.accepted, second.reason) == (False, "order_conflict")
    assert third.accepted
    assert third.duplicate
    assert owner.held("A") == (1, 0)
    assert owner.held("B") == (0, 0)


def test_an_unknown_sku_rejection_is_repeated_after_the_sku_is_created(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    (first,) = ingest.process([json.dumps(order("o9", ("A", 1), ("NEW", 1)))]).orders
    assert (first.accepted, first.reason, first.failed_sku) == (False, "unknown_sku", "NEW")
    owner.submit([DefineSku(SkuSettings("NEW"), 5)])
    (again,) = ingest.process([json.dumps(order("o9", ("A", 1), ("NEW", 1)))]).orders
    assert (again.accepted, again.reason, again.failed_sku, again.duplicate) == (
        False,
        "unknown_sku",
        "NEW",
        True,
    )
    assert [(d.sku, d.status, d.reason) for d in again.lines] == [
        ("A", "released", "order_incomplete"),
        ("NEW", "", "unknown_sku"),
    ]
    assert owner.ledgers["NEW"].available == 5
    assert owner.held("A") == (0, 0)


def test_the_good_line_of_a_rejected_order_is_shown_as_released(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    (decision,) = ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))]).orders
    good, bad = decision.lines
    assert (good.accepted, good.status, good.reason, good.available) == (
        False,
        "released",
        "order_incomplete",
        10,
    )
    assert "line B was rejected (insufficient)" in good.detail
    assert (bad.accepted, bad.status, bad.reason) == (False, "rejected", "insufficient")


def test_an_order_index_entry_of_the_older_form_is_read_as_an_accepted_order(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    # written before records kept quantities and outcomes
    store._orders[current_window(store.clock(), store.retention_seconds)] = {"old": "A,B"}
    ingest = ingest_for(store, owner)
    assert store.order_skus(["old"]) == {"old": ["A", "B"]}
    (conflict,) = ingest.process([json.dumps(order("old", ("A", 1)))]).orders
    assert conflict.reason == "order_conflict"
    assert owner.held("A") == (0, 0)


# ---- channel modes ----------------------------------------------------------------------


def test_a_platform_first_refusal_asks_the_platform_to_cancel_once(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ChannelIngest("douyin", "generic", store, owner.submit, mode="platform-first")
    message = json.dumps(order("big", ("A", 2), ("B", 5)))
    ingest.process([message])
    ingest.process([message])  # redelivered: its rejection is repeated, not cancelled again
    assert [(c.channel, c.order_id, c.skus, c.reason) for c in store.cancellation_requests()] == [
        ("douyin", "big", ("A", "B"), "insufficient")
    ]
    assert "5 units asked, 3 available" in store.cancellation_requests()[0].detail
    assert [op.asked_first for batch in owner.batches for op in batch if isinstance(op, Reserve)] == [
        False,
        False,
    ]
    assert store.counters()["cancel_requests"] == 1


def test_a_reserve_first_refusal_is_a_sold_out_with_nothing_to_cancel(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)  # the generic format asks first by default
    assert ingest.mode == "reserve-first"
    (decision,) = ingest.process([json.dumps(order("big", ("B", 5)))]).orders
    assert (decision.accepted, decision.reason) == (False, "insufficient")
    assert store.cancellation_requests() == []
    assert [op.asked_first for batch in owner.batches for op in batch if isinstance(op, Reserve)] == [True]


def test_an_order_conflict_on_a_platform_first_channel_cancels_nothing(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ChannelIngest("douyin", "generic", store, owner.submit, mode="platform-first")
    ingest.process([json.dumps(order("o1", ("A", 1)))])
    (conflict,) = ingest.process([json.dumps(order("o1", ("B", 1)))]).orders
    assert conflict.reason == "order_conflict"
    assert store.cancellation_requests() == []


def test_an_unknown_channel_mode_is_refused_at_construction(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    with pytest.raises(ValueError, match="channel mode must be one of"):
        ChannelIngest("douyin", "douyin", store, owner.submit, mode="sell-first")


def test_a_conflict_the_index_missed_is_refused_by_the_owner_and_keeps_the_first_order(
    store: MemoryIngestStore, owner: PureOwner
) -> None:
    ingest = ingest_for(store, owner)
    ingest.process([json.dumps(order("o1", ("A", 2), ("B", 1)))])
    store._orders.clear()  # as if another ingest path decided o1 and had not recorded it yet
    (again,) = ingest.process([json.dumps(order("o1", ("A", 2), ("B", 3)))]).orders
    assert (again.accepted, again.reason, again.failed_sku) == (False, "order_conflict", "B")
    assert owner.held("A") == (2, 0)  # the first order's line is not released
    assert owner.held("B") == (1, 0)
    assert store.recorded_orders(["o1"]) == {}  # the refusal is not recorded as the order
