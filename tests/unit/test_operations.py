"""The rules of ``policies.operations``: one decided operation at a time.

Every rule is exercised through ``decide`` (the dispatcher the owner calls) and, where
it matters, through the specific ``decide_*`` function. Rejections are results: a
``Decision`` with ``accepted=False`` and a ``Reason`` code, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from policies.ledger import (
    MAX_ID_LENGTH,
    MAX_LINE_QUANTITY,
    Decision,
    InboundTransfer,
    Ledger,
    LineRecord,
    LineStatus,
    Reason,
    SkuSettings,
)
from policies.operations import (
    MAX_STOCK_CHANGE,
    Adjust,
    Confirm,
    DefineSku,
    Operation,
    ReceiveArrivals,
    Release,
    Reserve,
    Restock,
    Step,
    decide,
    decide_adjustment,
    decide_arrivals,
    decide_confirmation,
    decide_definition,
    decide_release,
    decide_reservation,
    decide_restock,
)

NOW = 1_700_000_000.0
SKU = "SKU-1"
TTL = 600.0


# ---- helpers --------------------------------------------------------------------------


def make_ledger(
    on_hand: int = 10,
    reserved: int = 0,
    sold: int = 0,
    *,
    sku: str = SKU,
    inbound: tuple[InboundTransfer, ...] = (),
    version: int = 3,
) -> Ledger:
    return Ledger(sku, on_hand, reserved, sold, inbound, version)


def make_settings(**overrides: Any) -> SkuSettings:
    values: dict[str, Any] = {"sku": SKU, "name": "口红 #1", "reservation_ttl_seconds": TTL}
    values.update(overrides)
    return SkuSettings(**values)


def reserve(
    quantity: Any = 2,
    *,
    channel: Any = "douyin",
    order_id: Any = "o-1",
    sku: Any = SKU,
    placed_at: Any = NOW - 1.0,
    paid: bool = False,
) -> Reserve:
    return Reserve(channel, order_id, sku, quantity, placed_at, paid)


def run(
    op: Operation,
    ledger: Ledger | None,
    settings: SkuSettings | None = None,
    previous: LineRecord | None = None,
    now: float = NOW,
) -> Step:
    """``decide`` with the default settings when a ledger is given."""
    if settings is None and ledger is not None:
        settings = make_settings()
    return decide(op, ledger, settings, previous, now)


def assert_nothing_changed(step: Step) -> None:
    assert step.ledger is None
    assert step.record is None
    assert step.settings is None


def reserved_line(quantity: int = 2, placed_at: float = NOW - 1.0) -> LineRecord:
    return LineRecord(LineStatus.RESERVED, quantity, "", placed_at, NOW + TTL)


# ---- dispatch -------------------------------------------------------------------------


def test_decide_dispatches_each_operation_to_its_rule() -> None:
    ledger = make_ledger(on_hand=10, reserved=2)
    settings = make_settings()
    line = reserved_line()
    cases: list[tuple[Operation, Step]] = [
        (reserve(), decide_reservation(reserve(), ledger, settings, None, NOW)),
        (Confirm("douyin", "o-1", SKU), decide_confirmation(Confirm("douyin", "o-1", SKU), ledger, line)),
        (Release("douyin", "o-1", SKU), decide_release(Release("douyin", "o-1", SKU), ledger, line)),
        (Restock(SKU, 5, "t-1"), decide_restock(Restock(SKU, 5, "t-1"), ledger, None, NOW)),
        (ReceiveArrivals(SKU), decide_arrivals(ReceiveArrivals(SKU), ledger, NOW)),
        (
            Adjust(SKU, 1, "a-1", "count", "ops"),
            decide_adjustment(Adjust(SKU, 1, "a-1", "count", "ops"), ledger, None),
        ),
        (DefineSku(settings), decide_definition(DefineSku(settings), ledger, settings, NOW)),
    ]
    for op, expected in cases:
        previous = line if isinstance(op, Confirm | Release) else None
        assert decide(op, ledger, settings, previous, NOW) == expected, op.name


# ---- reserve ----------------------------------------------------------------------------


def test_accepts_reservation_and_moves_units_from_available_to_reserved() -> None:
    ledger = make_ledger(on_hand=10, reserved=1, sold=2)

    step = run(reserve(3, placed_at=NOW - 5.0), ledger)

    assert step.ledger == Ledger(SKU, 10, 4, 2, (), 4)
    assert step.ledger.available == ledger.available - 3
    assert step.record == LineRecord(LineStatus.RESERVED, 3, "", NOW - 5.0, NOW + TTL)
    assert step.decision == Decision("reserve", SKU, "douyin/o-1", True, LineStatus.RESERVED, 3, 4)
    assert step.settings is None


def test_reservation_expires_ttl_seconds_after_now_not_after_placed_at() -> None:
    step = run(reserve(placed_at=NOW - 300.0), make_ledger(), make_settings(reservation_ttl_seconds=42.5))

    assert step.record is not None
    assert step.record.expires_at == NOW + 42.5
    assert step.record.placed_at == NOW - 300.0


def test_paid_reservation_goes_straight_to_sold() -> None:
    ledger = make_ledger(on_hand=10, reserved=1)

    step = run(reserve(4, paid=True), ledger)

    assert step.ledger == Ledger(SKU, 10, 1, 4, (), 4)
    assert step.record == LineRecord(LineStatus.SOLD, 4, "", NOW - 1.0, 0.0)
    assert step.decision.accepted
    assert step.decision.status == LineStatus.SOLD
    assert step.decision.available == 5


def test_accepts_reservation_of_exactly_the_available_units() -> None:
    step = run(reserve(4), make_ledger(on_hand=10, reserved=3, sold=3))

    assert step.decision.accepted
    assert step.ledger is not None
    assert step.ledger.available == 0


def test_rejects_line_when_stock_is_exhausted() -> None:
    ledger = make_ledger(on_hand=10, reserved=4, sold=3)

    step = run(reserve(4), ledger)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INSUFFICIENT
    assert step.decision.status == LineStatus.REJECTED
    assert step.decision.available == 3
    assert "4 units asked, 3 available" in step.decision.detail
    assert step.ledger is None
    # recorded, so a redelivery of the line gets the same answer
    assert step.record == LineRecord(LineStatus.REJECTED, 4, Reason.INSUFFICIENT, NOW - 1.0, 0.0)


def test_rejects_paid_line_when_stock_is_exhausted() -> None:
    step = run(reserve(2, paid=True), make_ledger(on_hand=1))

    assert step.decision.reason == Reason.INSUFFICIENT
    assert step.ledger is None


def test_rejects_line_over_the_purchase_limit_even_when_stock_is_plentiful() -> None:
    step = run(reserve(3), make_ledger(on_hand=1000), make_settings(purchase_limit=2))

    assert not step.decision.accepted
    assert step.decision.reason == Reason.OVER_LIMIT
    assert "purchase limit is 2" in step.decision.detail
    assert step.ledger is None
    assert step.record is not None
    assert step.record.status == LineStatus.REJECTED
    assert step.record.reason == Reason.OVER_LIMIT


def test_accepts_line_at_exactly_the_purchase_limit() -> None:
    step = run(reserve(2), make_ledger(on_hand=10), make_settings(purchase_limit=2))

    assert step.decision.accepted
    assert step.ledger is not None
    assert step.ledger.reserved == 2


def test_purchase_limit_is_checked_before_stock() -> None:
    step = run(reserve(5), make_ledger(on_hand=1), make_settings(purchase_limit=2))

    assert step.decision.reason == Reason.OVER_LIMIT


def test_rejects_reservation_of_unknown_sku_without_recording_it() -> None:
    step = run(reserve(1, sku="NOPE"), None)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.UNKNOWN_SKU
    assert "NOPE" in step.decision.detail
    assert step.decision.available == 0
    assert_nothing_changed(step)


def test_rejects_reservation_when_sku_has_a_ledger_but_no_settings() -> None:
    step = decide(reserve(1), make_ledger(), None, None, NOW)

    assert step.decision.reason == Reason.UNKNOWN_SKU
    assert_nothing_changed(step)


INVALID_RESERVATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("empty channel", {"channel": ""}, "channel"),
    ("empty order id", {"order_id": ""}, "order_id"),
    ("empty sku", {"sku": ""}, "sku"),
    ("channel not a string", {"channel": None}, "channel"),
    ("order id not a string", {"order_id": 42}, "order_id"),
    ("channel too long", {"channel": "c" * (MAX_ID_LENGTH + 1)}, "channel"),
    ("order id too long", {"order_id": "o" * (MAX_ID_LENGTH + 1)}, "order_id"),
    ("sku too long", {"sku": "s" * (MAX_ID_LENGTH + 1)}, "sku"),
    ("newline in order id", {"order_id": "o-1\nDEL"}, "order_id"),
    ("field separator in channel", {"channel": "dou\x1fyin"}, "channel"),
    ("NUL in sku", {"sku": "SKU\x00"}, "sku"),
    ("quantity zero", {"quantity": 0}, "quantity"),
    ("quantity negative", {"quantity": -3}, "quantity"),
    ("quantity float", {"quantity": 2.0}, "quantity"),
    ("quantity bool", {"quantity": True}, "quantity"),
    ("quantity string", {"quantity": "2"}, "quantity"),
    ("quantity huge", {"quantity": MAX_LINE_QUANTITY + 1}, "quantity"),
    ("placed_at nan", {"placed_at": math.nan}, "placed_at"),
    ("placed_at inf", {"placed_at": math.inf}, "placed_at"),
    ("placed_at -inf", {"placed_at": -math.inf}, "placed_at"),
    ("placed_at str", {"placed_at": "2024-06-18T20:00:00"}, "placed_at"),
    ("placed_at None", {"placed_at": None}, "placed_at"),
    ("placed_at bool", {"placed_at": True}, "placed_at"),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(overrides, field, id=case) for case, overrides, field in INVALID_RESERVATIONS],
)
def test_rejects_invalid_reservation_naming_the_field_and_changes_nothing(
    overrides: dict[str, Any], field: str
) -> None:
    ledger = make_ledger(on_hand=MAX_LINE_QUANTITY * 2)

    step = run(reserve(**overrides), ledger)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INVALID
    assert step.decision.detail.startswith(field), step.decision.detail
    assert step.decision.available == ledger.available
    assert not step.decision.duplicate
    assert_nothing_changed(step)


def test_invalid_reservation_is_rejected_even_when_its_line_has_a_record() -> None:
    step = run(reserve(0), make_ledger(), previous=reserved_line())

    assert step.decision.reason == Reason.INVALID
    assert not step.decision.duplicate
    assert_nothing_changed(step)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"channel": "c" * MAX_ID_LENGTH, "order_id": "o" * MAX_ID_LENGTH, "sku": "s" * MAX_ID_LENGTH},
            id="ids of exactly the maximum length",
        ),
        pytest.param({"quantity": MAX_LINE_QUANTITY}, id="quantity of exactly the maximum"),
        pytest.param({"quantity": 1}, id="quantity one"),
        pytest.param({"channel": "抖音直播间", "order_id": "订单-0001 A"}, id="non-ascii printable ids"),
        pytest.param({"placed_at": 0}, id="placed_at int zero"),
        pytest.param({"placed_at": -1.5}, id="placed_at negative"),
    ],
)
def test_accepts_reservation_at_the_edges_of_valid_input(overrides: dict[str, Any]) -> None:
    op = reserve(**overrides)
    ledger = make_ledger(on_hand=MAX_LINE_QUANTITY, sku=op.sku)

    step = run(op, ledger, make_settings(sku=op.sku))

    assert step.decision.accepted, step.decision
    assert step.ledger is not None
    assert step.ledger.reserved == op.quantity


def test_repeated_accepted_line_returns_original_decision_marked_duplicate() -> None:
    op = reserve(3)
    first = run(op, make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record, now=NOW + 30.0)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


def test_repeated_paid_line_returns_original_sold_decision_marked_duplicate() -> None:
    op = reserve(3, paid=True)
    first = run(op, make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


def test_repeated_line_answers_from_its_record_not_from_the_new_payload() -> None:
    first = run(reserve(3), make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(reserve(3, paid=True), first.ledger, previous=first.record)

    assert again.decision.duplicate
    assert again.decision.quantity == 3
    assert again.decision.status == LineStatus.RESERVED
    assert_nothing_changed(again)


def test_a_line_sent_again_with_another_quantity_is_a_conflict_and_keeps_its_record() -> None:
    first = run(reserve(3), make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(reserve(7), first.ledger, previous=first.record)

    assert (again.decision.accepted, again.decision.reason) == (False, Reason.ORDER_CONFLICT)
    assert "first decided with 3 units" in again.decision.detail
    assert not again.decision.duplicate
    assert_nothing_changed(again)


@pytest.mark.parametrize(
    ("ledger", "settings", "reason"),
    [
        pytest.param(make_ledger(on_hand=2), make_settings(), Reason.INSUFFICIENT, id="insufficient"),
        pytest.param(
            make_ledger(on_hand=10), make_settings(purchase_limit=1), Reason.OVER_LIMIT, id="over_limit"
        ),
    ],
)
def test_repeated_rejected_line_returns_original_rejection_marked_duplicate(
    ledger: Ledger, settings: SkuSettings, reason: str
) -> None:
    op = reserve(3)
    first = decide(op, ledger, settings, None, NOW)
    assert first.record is not None
    # stock arrived and the limit was lifted meanwhile: the redelivery still gets the same answer
    richer = ledger._replace(on_hand=ledger.on_hand + 100)

    again = decide(op, richer, make_settings(), first.record, NOW + 1.0)

    assert not again.decision.accepted
    assert again.decision.duplicate
    assert again.decision.reason == reason
    assert again.decision.status == LineStatus.REJECTED
    assert again.decision.quantity == first.decision.quantity
    assert again.decision.key == first.decision.key
    assert_nothing_changed(again)


def test_repeated_rejected_line_returns_original_decision_apart_from_detail() -> None:
    # The line record keeps the reason code, not the human-readable detail, so a
    # duplicate repeats every field of the original rejection except ``detail``.
    ledger = make_ledger(on_hand=2)
    op = reserve(3)
    first = run(op, ledger)

    again = run(op, ledger, previous=first.record)

    assert again.decision == first.decision._replace(detail="", duplicate=True)


# ---- confirm ----------------------------------------------------------------------------


def test_confirm_moves_reserved_units_to_sold() -> None:
    ledger = make_ledger(on_hand=10, reserved=5, sold=1)
    line = reserved_line(3, placed_at=NOW - 9.0)

    step = run(Confirm("douyin", "o-1", SKU), ledger, previous=line)

    assert step.ledger == Ledger(SKU, 10, 2, 4, (), 4)
    assert step.ledger.available == ledger.available
    assert step.record == LineRecord(LineStatus.SOLD, 3, "", NOW - 9.0, 0.0)
    assert step.decision == Decision("confirm", SKU, "douyin/o-1", True, LineStatus.SOLD, 3, 4)


def test_confirm_twice_is_a_duplicate_that_changes_nothing() -> None:
    op = Confirm("douyin", "o-1", SKU)
    first = run(op, make_ledger(on_hand=10, reserved=3), previous=reserved_line(3))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


def test_confirm_of_a_paid_reservation_is_a_duplicate() -> None:
    paid = run(reserve(2, paid=True), make_ledger(on_hand=10))
    assert paid.ledger is not None

    step = run(Confirm("douyin", "o-1", SKU), paid.ledger, previous=paid.record)

    assert step.decision.accepted
    assert step.decision.duplicate
    assert step.decision.status == LineStatus.SOLD
    assert_nothing_changed(step)


def test_rejects_confirm_of_a_released_line_as_already_released() -> None:
    released = LineRecord(LineStatus.RELEASED, 2, "expired", NOW - 1.0, 0.0)

    step = run(Confirm("douyin", "o-1", SKU), make_ledger(), previous=released)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.ALREADY_RELEASED
    assert "expired" in step.decision.detail
    assert "refund" in step.decision.detail
    assert_nothing_changed(step)


@pytest.mark.parametrize(
    ("ledger", "previous"),
    [
        pytest.param(make_ledger(), None, id="no record of the line"),
        pytest.param(
            make_ledger(), LineRecord(LineStatus.REJECTED, 2, Reason.INSUFFICIENT), id="line was rejected"
        ),
        pytest.param(None, reserved_line(), id="unknown sku"),
    ],
)
def test_rejects_confirm_of_unknown_line_as_unknown_order(
    ledger: Ledger | None, previous: LineRecord | None
) -> None:
    step = run(Confirm("douyin", "o-404", SKU), ledger, previous=previous)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.UNKNOWN_ORDER
    assert step.decision.key == "douyin/o-404"
    assert_nothing_changed(step)


# ---- release ----------------------------------------------------------------------------


def test_release_of_reserved_line_gives_its_units_back() -> None:
    ledger = make_ledger(on_hand=10, reserved=5, sold=1)

    step = run(Release("douyin", "o-1", SKU, reason="expired"), ledger, previous=reserved_line(3))

    assert step.ledger == Ledger(SKU, 10, 2, 1, (), 4)
    assert step.ledger.available == ledger.available + 3
    assert step.record == LineRecord(LineStatus.RELEASED, 3, "expired", NOW - 1.0, 0.0)
    assert step.decision == Decision("release", SKU, "douyin/o-1", True, LineStatus.RELEASED, 3, 7)


def test_release_of_sold_line_gives_its_units_back() -> None:
    ledger = make_ledger(on_hand=10, reserved=1, sold=4)
    sold = LineRecord(LineStatus.SOLD, 3, "", NOW - 1.0, 0.0)

    step = run(Release("douyin", "o-1", SKU, reason="refund"), ledger, previous=sold)

    assert step.ledger == Ledger(SKU, 10, 1, 1, (), 4)
    assert step.record is not None
    assert step.record.status == LineStatus.RELEASED
    assert step.record.reason == "refund"
    assert step.decision.available == 8


def test_release_defaults_to_reason_cancelled() -> None:
    step = run(Release("douyin", "o-1", SKU), make_ledger(reserved=2), previous=reserved_line())

    assert step.record is not None
    assert step.record.reason == "cancelled"


def test_release_twice_is_a_duplicate_that_changes_nothing() -> None:
    op = Release("douyin", "o-1", SKU)
    first = run(op, make_ledger(on_hand=10, reserved=2), previous=reserved_line(2))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


@pytest.mark.parametrize(
    ("ledger", "previous"),
    [
        pytest.param(make_ledger(), None, id="no record of the line"),
        pytest.param(
            make_ledger(), LineRecord(LineStatus.REJECTED, 2, Reason.OVER_LIMIT), id="line was rejected"
        ),
        pytest.param(None, reserved_line(), id="unknown sku"),
    ],
)
def test_rejects_release_of_unknown_line_as_unknown_order(
    ledger: Ledger | None, previous: LineRecord | None
) -> None:
    step = run(Release("douyin", "o-404", SKU), ledger, previous=previous)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.UNKNOWN_ORDER
    assert_nothing_changed(step)


def test_reserve_confirm_release_round_trip_restores_available() -> None:
    ledger = make_ledger(on_hand=10)
    held = run(reserve(4), ledger)
    assert held.ledger is not None
    paid = run(Confirm("douyin", "o-1", SKU), held.ledger, previous=held.record)
    assert paid.ledger is not None

    refunded = run(Release("douyin", "o-1", SKU, reason="refund"), paid.ledger, previous=paid.record)

    assert refunded.ledger is not None
    assert refunded.ledger.available == ledger.available
    assert (refunded.ledger.reserved, refunded.ledger.sold) == (0, 0)
    assert refunded.ledger.version == ledger.version + 3


# ---- restock and arrivals -----------------------------------------------------------------


def test_restock_without_arrival_time_adds_to_on_hand_at_once() -> None:
    ledger = make_ledger(on_hand=10, reserved=2)

    step = run(Restock(SKU, 5, "t-1", source="warehouse-sh"), ledger)

    assert step.ledger == Ledger(SKU, 15, 2, 0, (), 4)
    assert step.record == LineRecord(LineStatus.APPLIED, 5)
    assert step.decision == Decision("restock", SKU, "t-1", True, LineStatus.APPLIED, 5, 13)


@pytest.mark.parametrize("arrives_at", [NOW - 60.0, NOW], ids=["in the past", "exactly now"])
def test_restock_arriving_now_or_earlier_adds_to_on_hand_at_once(arrives_at: float) -> None:
    step = run(Restock(SKU, 5, "t-1", arrives_at=arrives_at), make_ledger(on_hand=10))

    assert step.ledger is not None
    assert step.ledger.on_hand == 15
    assert step.ledger.inbound == ()


def test_restock_arriving_later_is_inbound_and_not_available() -> None:
    ledger = make_ledger(on_hand=10)

    step = run(Restock(SKU, 5, "t-1", source="factory", arrives_at=NOW + 3600.0), ledger)

    assert step.ledger is not None
    assert step.ledger.on_hand == 10
    assert step.ledger.available == 10
    assert step.ledger.inbound == (InboundTransfer("t-1", 5, NOW + 3600.0, "factory"),)
    assert step.ledger.inbound_units == 5
    assert step.ledger.version == ledger.version + 1
    assert step.record == LineRecord(LineStatus.APPLIED, 5)
    assert step.decision.available == 10


def test_inbound_units_are_not_received_before_their_arrival_time() -> None:
    ledger = make_ledger(on_hand=10, inbound=(InboundTransfer("t-1", 5, NOW + 3600.0),))

    step = run(ReceiveArrivals(SKU), ledger, now=NOW + 3599.0)

    assert step.decision.accepted
    assert step.decision.quantity == 0
    assert step.decision.available == 10
    assert_nothing_changed(step)


@pytest.mark.parametrize("now", [NOW + 3600.0, NOW + 7200.0], ids=["at arrival", "after arrival"])
def test_inbound_units_join_on_hand_at_or_after_their_arrival_time(now: float) -> None:
    ledger = make_ledger(on_hand=10, reserved=1, inbound=(InboundTransfer("t-1", 5, NOW + 3600.0),))

    step = run(ReceiveArrivals(SKU), ledger, now=now)

    assert step.ledger == Ledger(SKU, 15, 1, 0, (), 4)
    assert step.decision == Decision("arrive", SKU, "t-1", True, "", 5, 14)
    assert step.record is None


def test_receive_arrivals_takes_only_the_transfers_that_are_due() -> None:
    early = InboundTransfer("t-1", 5, NOW + 10.0)
    late = InboundTransfer("t-2", 7, NOW + 1000.0)
    also_early = InboundTransfer("t-3", 2, NOW + 20.0)
    ledger = make_ledger(on_hand=0, inbound=(early, late, also_early))

    step = run(ReceiveArrivals(SKU), ledger, now=NOW + 500.0)

    assert step.ledger is not None
    assert step.ledger.on_hand == 7
    assert step.ledger.inbound == (late,)
    assert step.decision.key == "t-1,t-3"


def test_a_confirmed_receipt_takes_the_transfers_due_by_its_event_time() -> None:
    due = InboundTransfer("t-1", 5, NOW + 600.0)
    later = InboundTransfer("t-2", 7, NOW + 1200.0)
    ledger = make_ledger(on_hand=0, inbound=(due, later))

    step = run(ReceiveArrivals(SKU, as_of=NOW + 600.0), ledger, now=NOW)

    assert step.ledger is not None
    assert (step.ledger.on_hand, step.ledger.inbound) == (5, (later,))
    assert step.decision.key == "t-1"


def test_a_receipt_as_of_the_past_does_not_hold_back_what_the_clock_says_arrived() -> None:
    ledger = make_ledger(on_hand=0, inbound=(InboundTransfer("t-1", 5, NOW + 60.0),))

    step = run(ReceiveArrivals(SKU, as_of=NOW - 3600.0), ledger, now=NOW + 60.0)

    assert step.ledger is not None
    assert step.ledger.on_hand == 5


@pytest.mark.parametrize("as_of", [math.nan, math.inf, "soon"])
def test_rejects_a_receipt_with_an_unusable_time(as_of: Any) -> None:
    ledger = make_ledger(on_hand=0, inbound=(InboundTransfer("t-1", 5, NOW + 60.0),))

    step = run(ReceiveArrivals(SKU, as_of=as_of), ledger)

    assert step.decision.reason == Reason.INVALID
    assert "as_of" in step.decision.detail
    assert_nothing_changed(step)


def test_future_restock_becomes_available_after_receive_arrivals() -> None:
    ledger = make_ledger(on_hand=0)
    shipped = run(Restock(SKU, 5, "t-1", arrives_at=NOW + 60.0), ledger)
    assert shipped.ledger is not None
    blocked = run(reserve(1), shipped.ledger)
    assert blocked.decision.reason == Reason.INSUFFICIENT

    arrived = run(ReceiveArrivals(SKU), shipped.ledger, now=NOW + 60.0)
    assert arrived.ledger is not None
    sold = run(reserve(5, order_id="o-2"), arrived.ledger, now=NOW + 61.0)

    assert sold.decision.accepted
    assert sold.ledger is not None
    assert sold.ledger.available == 0


def test_rejects_receive_arrivals_for_unknown_sku() -> None:
    step = run(ReceiveArrivals("NOPE"), None)

    assert step.decision.reason == Reason.UNKNOWN_SKU
    assert_nothing_changed(step)


@pytest.mark.parametrize("arrives_at", [None, NOW + 600.0], ids=["immediate", "inbound"])
def test_restock_with_the_same_transfer_id_counts_once(arrives_at: float | None) -> None:
    op = Restock(SKU, 5, "t-1", arrives_at=arrives_at)
    first = run(op, make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record, now=NOW + 1.0)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


@pytest.mark.parametrize(
    ("op", "field"),
    [
        pytest.param(Restock(SKU, 0, "t-1"), "quantity", id="quantity zero"),
        pytest.param(Restock(SKU, -5, "t-1"), "quantity", id="quantity negative"),
        pytest.param(Restock(SKU, 2.5, "t-1"), "quantity", id="quantity float"),  # type: ignore[arg-type]  # bad input on purpose
        pytest.param(Restock(SKU, True, "t-1"), "quantity", id="quantity bool"),
        pytest.param(Restock(SKU, MAX_STOCK_CHANGE + 1, "t-1"), "quantity", id="quantity huge"),
        pytest.param(Restock(SKU, 5, ""), "transfer_id", id="empty transfer id"),
        pytest.param(Restock(SKU, 5, "t\n1"), "transfer_id", id="control char in transfer id"),
        pytest.param(Restock(SKU, 5, "t" * (MAX_ID_LENGTH + 1)), "transfer_id", id="transfer id too long"),
        pytest.param(Restock(SKU, 5, "t-1", arrives_at=math.nan), "arrives_at", id="arrives_at nan"),
        pytest.param(Restock(SKU, 5, "t-1", arrives_at=math.inf), "arrives_at", id="arrives_at inf"),
        pytest.param(Restock(SKU, 5, "t-1", arrives_at=NOW * 1000), "arrives_at", id="arrives_at in ms"),
        pytest.param(Restock(SKU, 5, "t-1", arrives_at=1e308), "arrives_at", id="arrives_at never"),
    ],
)
def test_rejects_invalid_restock_naming_the_field_and_changes_nothing(op: Restock, field: str) -> None:
    ledger = make_ledger(on_hand=10)

    step = run(op, ledger, previous=None)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INVALID
    assert step.decision.detail.startswith(field), step.decision.detail
    assert step.decision.available == 10
    assert_nothing_changed(step)


def test_accepts_restock_of_exactly_the_maximum_stock_change() -> None:
    step = run(Restock(SKU, MAX_STOCK_CHANGE, "t-1"), make_ledger(on_hand=0))

    assert step.ledger is not None
    assert step.ledger.on_hand == MAX_STOCK_CHANGE


def test_rejects_restock_of_unknown_sku() -> None:
    step = run(Restock("NOPE", 5, "t-1"), None)

    assert step.decision.reason == Reason.UNKNOWN_SKU
    assert_nothing_changed(step)


# ---- adjust -----------------------------------------------------------------------------


def test_adjust_up_adds_to_on_hand_and_records_who_and_why() -> None:
    ledger = make_ledger(on_hand=10, reserved=2)

    step = run(Adjust(SKU, 4, "a-1", "found a box", "alice"), ledger)

    assert step.ledger == Ledger(SKU, 14, 2, 0, (), 4)
    assert step.record == LineRecord(LineStatus.APPLIED, 4, "alice: found a box")
    assert step.decision == Decision("adjust", SKU, "a-1", True, LineStatus.APPLIED, 4, 12)


def test_adjust_down_takes_from_on_hand() -> None:
    step = run(Adjust(SKU, -3, "a-1", "damaged", "bob"), make_ledger(on_hand=10, reserved=2))

    assert step.ledger is not None
    assert step.ledger.on_hand == 7
    assert step.ledger.available == 5
    assert step.record is not None
    assert step.record.quantity == -3


def test_adjust_down_to_exactly_the_promised_units_is_accepted() -> None:
    step = run(Adjust(SKU, -5, "a-1", "count", "bob"), make_ledger(on_hand=10, reserved=3, sold=2))

    assert step.decision.accepted
    assert step.ledger is not None
    assert step.ledger.available == 0


def test_rejects_adjust_that_would_leave_fewer_units_than_are_promised() -> None:
    ledger = make_ledger(on_hand=10, reserved=3, sold=2)

    step = run(Adjust(SKU, -6, "a-1", "count", "bob"), ledger)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.WOULD_OVERSELL
    assert "on_hand would be 4" in step.decision.detail
    assert step.decision.available == 5
    assert_nothing_changed(step)


def test_adjust_with_the_same_id_counts_once() -> None:
    op = Adjust(SKU, -2, "a-1", "count", "bob")
    first = run(op, make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(op, first.ledger, previous=first.record)

    assert again.decision == first.decision._replace(duplicate=True)
    assert_nothing_changed(again)


@pytest.mark.parametrize(
    ("first_op", "again_op", "named"),
    [
        pytest.param(Restock(SKU, 5, "t-1"), Restock(SKU, 7, "t-1"), "transfer 't-1'", id="restock"),
        pytest.param(
            Adjust(SKU, -2, "a-1", "count", "bob"),
            Adjust(SKU, -3, "a-1", "count", "bob"),
            "adjustment 'a-1'",
            id="adjust",
        ),
    ],
)
def test_an_id_used_again_with_another_quantity_is_a_conflict_and_changes_nothing(
    first_op: Restock | Adjust, again_op: Restock | Adjust, named: str
) -> None:
    first = run(first_op, make_ledger(on_hand=10))
    assert first.ledger is not None

    again = run(again_op, first.ledger, previous=first.record, now=NOW + 1.0)

    assert (again.decision.accepted, again.decision.reason) == (False, Reason.ID_CONFLICT)
    assert named in again.decision.detail
    assert_nothing_changed(again)


@pytest.mark.parametrize(
    ("op", "field"),
    [
        pytest.param(Adjust(SKU, 0, "a-1", "count", "bob"), "delta", id="delta zero"),
        pytest.param(Adjust(SKU, 1.5, "a-1", "count", "bob"), "delta", id="delta float"),  # type: ignore[arg-type]  # bad input on purpose
        pytest.param(Adjust(SKU, True, "a-1", "count", "bob"), "delta", id="delta bool"),
        pytest.param(Adjust(SKU, MAX_STOCK_CHANGE + 1, "a-1", "count", "bob"), "delta", id="delta huge"),
        pytest.param(
            Adjust(SKU, -MAX_STOCK_CHANGE - 1, "a-1", "count", "bob"), "delta", id="delta hugely negative"
        ),
        pytest.param(Adjust(SKU, 1, "a-1", "", "bob"), "reason", id="missing reason"),
        pytest.param(Adjust(SKU, 1, "", "count", "bob"), "adjustment_id", id="empty adjustment id"),
        pytest.param(Adjust(SKU, 1, "a-1", "count", ""), "actor", id="empty actor"),
        pytest.param(Adjust(SKU, 1, "a-1", "count", "bob\t"), "actor", id="control char in actor"),
    ],
)
def test_rejects_invalid_adjust_naming_the_field_and_changes_nothing(op: Adjust, field: str) -> None:
    step = run(op, make_ledger(on_hand=10))

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INVALID
    assert step.decision.detail.startswith(field), step.decision.detail
    assert_nothing_changed(step)


def test_rejects_adjust_of_unknown_sku() -> None:
    step = run(Adjust("NOPE", 1, "a-1", "count", "bob"), None)

    assert step.decision.reason == Reason.UNKNOWN_SKU
    assert_nothing_changed(step)


# ---- define -----------------------------------------------------------------------------


def test_define_creates_a_sku_with_its_on_hand_units() -> None:
    settings = make_settings(purchase_limit=3, substitutes=("SKU-2",))

    step = decide(DefineSku(settings, on_hand=50), None, None, None, NOW)

    assert step.ledger == Ledger(SKU, 50, 0, 0, (), 1)
    assert step.settings == replace(settings, on_sale_since=NOW)
    assert step.record is None
    assert step.decision == Decision("define", SKU, SKU, True, "created", 50, 50)


def test_define_of_existing_sku_updates_settings_without_touching_on_hand() -> None:
    old = make_settings(purchase_limit=3)
    new = make_settings(purchase_limit=5, lead_time_minutes=60.0)
    ledger = make_ledger(on_hand=10, reserved=2)

    step = decide(DefineSku(new, on_hand=99), ledger, old, None, NOW)

    assert step.decision.accepted
    assert step.decision.status == "updated"
    assert step.decision.quantity == 0
    assert step.decision.available == 8
    assert "on_hand" in step.decision.detail
    assert "restock or adjust" in step.decision.detail
    assert step.ledger is None
    assert step.record is None
    assert step.settings == new


@pytest.mark.parametrize("on_hand", [0, 10], ids=["no on_hand given", "same on_hand"])
def test_define_of_existing_sku_explains_nothing_when_on_hand_is_not_changed(on_hand: int) -> None:
    step = decide(
        DefineSku(make_settings(purchase_limit=5), on_hand),
        make_ledger(on_hand=10),
        make_settings(),
        None,
        NOW,
    )

    assert step.decision.detail == ""
    assert step.ledger is None


def test_a_new_sku_goes_on_sale_when_defined_unless_its_definition_says_when() -> None:
    stamped = decide(DefineSku(make_settings()), None, None, None, NOW)
    given = decide(DefineSku(make_settings(on_sale_since=NOW - 600)), None, None, None, NOW)

    assert stamped.settings is not None
    assert stamped.settings.on_sale_since == NOW
    assert given.settings is not None
    assert given.settings.on_sale_since == NOW - 600


def test_a_redefinition_without_show_times_keeps_the_skus_own() -> None:
    current = make_settings(on_sale_since=NOW - 600, on_sale_until=NOW + 3600)

    retried = decide(DefineSku(make_settings()), make_ledger(), current, None, NOW + 60)
    updated = decide(DefineSku(make_settings(purchase_limit=4)), make_ledger(), current, None, NOW + 60)
    moved = decide(DefineSku(make_settings(on_sale_until=NOW + 7200)), make_ledger(), current, None, NOW)

    assert retried.decision.accepted
    assert retried.settings is None
    assert updated.settings == replace(current, purchase_limit=4)
    assert moved.settings == replace(current, on_sale_until=NOW + 7200)


def test_rejects_a_show_that_ends_before_the_sku_went_on_sale() -> None:
    current = make_settings(on_sale_since=NOW)

    created = decide(DefineSku(make_settings(on_sale_until=NOW - 60)), None, None, None, NOW)
    updated = decide(DefineSku(make_settings(on_sale_until=NOW - 60)), make_ledger(), current, None, NOW)

    for step in (created, updated):
        assert not step.decision.accepted
        assert step.decision.reason == Reason.INVALID
        assert step.decision.detail.startswith("on_sale_until"), step.decision.detail
        assert_nothing_changed(step)


def test_define_with_unchanged_settings_returns_no_new_settings() -> None:
    settings = make_settings()

    step = decide(DefineSku(settings), make_ledger(), settings, None, NOW)

    assert step.decision.accepted
    assert_nothing_changed(step)


@pytest.mark.parametrize(
    ("settings", "on_hand", "field"),
    [
        pytest.param(make_settings(lead_time_minutes=-1.0), 0, "lead_time_minutes", id="negative lead time"),
        pytest.param(make_settings(lead_time_minutes=math.nan), 0, "lead_time_minutes", id="nan lead time"),
        pytest.param(make_settings(reservation_ttl_seconds=0), 0, "reservation_ttl_seconds", id="ttl zero"),
        pytest.param(
            make_settings(reservation_ttl_seconds=-5.0), 0, "reservation_ttl_seconds", id="ttl negative"
        ),
        pytest.param(
            make_settings(reservation_ttl_seconds=math.inf), 0, "reservation_ttl_seconds", id="ttl inf"
        ),
        pytest.param(make_settings(purchase_limit=0), 0, "purchase_limit", id="purchase limit zero"),
        pytest.param(make_settings(purchase_limit=-1), 0, "purchase_limit", id="purchase limit negative"),
        pytest.param(make_settings(purchase_limit=2.0), 0, "purchase_limit", id="purchase limit float"),
        pytest.param(make_settings(substitutes=("SKU-2", "")), 0, "substitute sku", id="empty substitute"),
        pytest.param(
            make_settings(substitutes=("SKU\n2",)), 0, "substitute sku", id="control char substitute"
        ),
        pytest.param(make_settings(sku=""), 0, "sku", id="empty sku"),
        pytest.param(make_settings(on_sale_since=-1.0), 0, "on_sale_since", id="negative on-sale time"),
        pytest.param(make_settings(on_sale_until=math.inf), 0, "on_sale_until", id="infinite show end"),
        pytest.param(make_settings(on_sale_until=4.2e9), 0, "on_sale_until", id="show end past 2100"),
        pytest.param(make_settings(), -1, "on_hand", id="negative on_hand"),
        pytest.param(make_settings(), MAX_STOCK_CHANGE + 1, "on_hand", id="huge on_hand"),
    ],
)
@pytest.mark.parametrize("existing", [False, True], ids=["create", "update"])
def test_rejects_define_with_invalid_settings_and_changes_nothing(
    settings: SkuSettings, on_hand: int, field: str, existing: bool
) -> None:
    ledger = make_ledger(on_hand=10) if existing else None
    current = make_settings() if existing else None

    step = decide(DefineSku(settings, on_hand), ledger, current, None, NOW)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INVALID
    assert step.decision.detail.startswith(field), step.decision.detail
    assert_nothing_changed(step)


def test_defined_purchase_limit_applies_to_the_next_reservation() -> None:
    created = decide(DefineSku(make_settings(purchase_limit=1), on_hand=10), None, None, None, NOW)
    assert created.ledger is not None

    step = decide(reserve(2), created.ledger, created.settings, None, NOW)

    assert step.decision.reason == Reason.OVER_LIMIT


# ---- subclasses of str / float (numpy.str_, numpy.float64) -----------------------------
#
# The reservation fast path checks exact types; values of subclasses take the slow path,
# which must accept them when they are valid, as Restock does for ``arrives_at``.


class OrderId(str):
    """A ``str`` subclass, as ``numpy.str_`` is."""


class EpochSeconds(float):
    """A ``float`` subclass, as ``numpy.float64`` is."""


def test_invalid_reservation_detail_never_blames_a_finite_placed_at() -> None:
    """A str-subclass channel is valid; a rejection never blames a finite placed_at."""
    step = run(reserve(channel=OrderId("douyin"), placed_at=NOW), make_ledger())

    if not step.decision.accepted:
        assert not step.decision.detail.startswith("placed_at"), step.decision.detail


def test_reservation_accepts_a_finite_float_subclass_placed_at_like_restock_accepts_arrives_at() -> None:
    """A finite float-subclass placed_at is accepted, as restock accepts arrives_at."""
    when = EpochSeconds(NOW - 1.0)
    restock = run(Restock(SKU, 5, "t-1", arrives_at=when), make_ledger())
    assert restock.decision.accepted

    step = run(reserve(placed_at=when), make_ledger())

    assert step.decision.accepted, step.decision.detail
