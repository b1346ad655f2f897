"""``policies.orders``: platform orders into ledger operations, and line decisions back
into one all-or-nothing decision per order (with compensations for partial ones)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from policies.channels.model import Cancellation, OrderLine, Payment, PlatformOrder
from policies.ledger import Decision, Ledger, LineRecord, LineStatus, Reason, SkuSettings
from policies.operations import Confirm, Operation, Release, Reserve, decide
from policies.orders import (
    INCOMPLETE_ORDER,
    ORDER_CONFLICT,
    OrderDecision,
    RecordedOrder,
    answer_from_record,
    compensations_for,
    confirmations_for,
    conflict_decision,
    decide_notice,
    decide_order,
    order_conflict,
    record_order,
    releases_for,
    repeat_rejection,
    reservations_for,
)

CHANNEL = "douyin-live"
ORDER_ID = "4987000111"
PLACED = 1_731_326_400.5
NOW = PLACED + 2.0


# ---- helpers -----------------------------------------------------------------------------------


def make_order(*lines: tuple[str, int], paid: bool = False) -> PlatformOrder:
    return PlatformOrder(CHANNEL, ORDER_ID, tuple(OrderLine(s, q) for s, q in lines), "buyer-9", PLACED, paid)


def accepted(sku: str, quantity: int = 1, *, duplicate: bool = False) -> Decision:
    return Decision(
        "reserve", sku, f"{CHANNEL}/{ORDER_ID}", True, LineStatus.RESERVED, quantity, 10, duplicate=duplicate
    )


def rejected(sku: str, reason: str = Reason.INSUFFICIENT, *, duplicate: bool = False) -> Decision:
    return Decision(
        "reserve",
        sku,
        f"{CHANNEL}/{ORDER_ID}",
        False,
        LineStatus.REJECTED,
        1,
        0,
        reason,
        "1 units asked, 0 available",
        duplicate,
    )


THREE_LINES_PAIRS = (("LIP-01", 2), ("BLUSH-3", 1), ("MASK-10", 5))
THREE_LINES = make_order(*THREE_LINES_PAIRS)


# ---- reservations_for ------------------------------------------------------------------------------


def test_reserves_each_line_with_the_order_event_time() -> None:
    assert reservations_for(THREE_LINES) == [
        Reserve(CHANNEL, ORDER_ID, "LIP-01", 2, PLACED, False),
        Reserve(CHANNEL, ORDER_ID, "BLUSH-3", 1, PLACED, False),
        Reserve(CHANNEL, ORDER_ID, "MASK-10", 5, PLACED, False),
    ]


@pytest.mark.parametrize("paid", [True, False])
def test_reservations_carry_the_paid_flag_of_the_order(paid: bool) -> None:
    reservations = reservations_for(make_order(("LIP-01", 1), ("MASK-10", 1), paid=paid))

    assert [r.paid for r in reservations] == [paid, paid]


def test_single_line_order_gives_one_reservation() -> None:
    assert reservations_for(make_order(("LIP-01", 3))) == [Reserve(CHANNEL, ORDER_ID, "LIP-01", 3, PLACED)]


# ---- decide_order --------------------------------------------------------------------------------


def test_order_is_accepted_when_every_line_is() -> None:
    lines = [accepted("LIP-01", 2), accepted("BLUSH-3"), accepted("MASK-10", 5)]

    decision = decide_order(THREE_LINES, lines)

    assert decision == OrderDecision(CHANNEL, ORDER_ID, True, "", "", tuple(lines), False)


@pytest.mark.parametrize("failing", [0, 1, 2])
def test_order_is_rejected_when_any_line_is(failing: int) -> None:
    skus = ["LIP-01", "BLUSH-3", "MASK-10"]
    lines = [rejected(sku) if i == failing else accepted(sku) for i, sku in enumerate(skus)]

    decision = decide_order(THREE_LINES, lines)

    assert not decision.accepted
    assert decision.failed_sku == skus[failing]
    assert decision.reason == Reason.INSUFFICIENT


def test_rejected_order_names_the_first_rejected_line() -> None:
    lines = [
        accepted("LIP-01"),
        rejected("BLUSH-3", Reason.OVER_LIMIT),
        rejected("MASK-10", Reason.INSUFFICIENT),
    ]

    decision = decide_order(THREE_LINES, lines)

    assert not decision.accepted
    assert (decision.reason, decision.failed_sku) == (Reason.OVER_LIMIT, "BLUSH-3")
    assert decision.lines == tuple(lines)


def test_order_decision_keeps_the_line_decisions_in_order() -> None:
    lines = [accepted("LIP-01"), rejected("BLUSH-3"), accepted("MASK-10")]

    assert decide_order(THREE_LINES, lines).lines == tuple(lines)


def test_order_is_duplicate_when_every_line_decision_is() -> None:
    lines = [
        accepted("LIP-01", duplicate=True),
        accepted("BLUSH-3", duplicate=True),
        accepted("MASK-10", duplicate=True),
    ]

    decision = decide_order(THREE_LINES, lines)

    assert decision.duplicate
    assert decision.accepted


@pytest.mark.parametrize("fresh", [0, 1, 2])
def test_order_is_not_duplicate_when_any_line_decision_is_new(fresh: int) -> None:
    skus = ["LIP-01", "BLUSH-3", "MASK-10"]
    lines = [accepted(sku, duplicate=i != fresh) for i, sku in enumerate(skus)]

    assert not decide_order(THREE_LINES, lines).duplicate


def test_redelivered_rejected_order_gets_the_same_decision_marked_duplicate() -> None:
    first = [accepted("LIP-01"), rejected("BLUSH-3"), accepted("MASK-10")]
    again = [d._replace(duplicate=True) for d in first]

    original = decide_order(THREE_LINES, first)
    repeated = decide_order(THREE_LINES, again)

    assert not original.duplicate
    assert repeated.duplicate
    assert (repeated.accepted, repeated.reason, repeated.failed_sku) == (
        original.accepted,
        original.reason,
        original.failed_sku,
    )


# ---- compensations_for -----------------------------------------------------------------------------


def test_partly_rejected_order_releases_exactly_its_accepted_lines() -> None:
    lines = [accepted("LIP-01", 2), rejected("BLUSH-3"), accepted("MASK-10", 5)]

    releases = compensations_for(THREE_LINES, lines)

    reason = f"{INCOMPLETE_ORDER}:BLUSH-3"
    assert releases == [
        Release(CHANNEL, ORDER_ID, "LIP-01", reason),
        Release(CHANNEL, ORDER_ID, "MASK-10", reason),
    ]


def test_compensation_reason_names_the_first_failed_sku() -> None:
    lines = [rejected("LIP-01"), accepted("BLUSH-3"), rejected("MASK-10")]

    assert compensations_for(THREE_LINES, lines) == [
        Release(CHANNEL, ORDER_ID, "BLUSH-3", "order_incomplete:LIP-01"),
    ]


def test_fully_accepted_order_needs_no_compensation() -> None:
    lines = [accepted("LIP-01"), accepted("BLUSH-3"), accepted("MASK-10")]

    assert compensations_for(THREE_LINES, lines) == []


def test_fully_rejected_order_needs_no_compensation() -> None:
    lines = [rejected("LIP-01"), rejected("BLUSH-3"), rejected("MASK-10")]

    assert compensations_for(THREE_LINES, lines) == []


def test_redelivered_partial_order_gets_the_same_compensation() -> None:
    first = [accepted("LIP-01"), rejected("BLUSH-3"), accepted("MASK-10")]
    again = [d._replace(duplicate=True) for d in first]

    assert compensations_for(THREE_LINES, again) == compensations_for(THREE_LINES, first)
    assert len(compensations_for(THREE_LINES, again)) == 2


def test_compensation_requires_one_decision_per_line() -> None:
    with pytest.raises(ValueError, match="zip"):
        compensations_for(THREE_LINES, [accepted("LIP-01"), rejected("BLUSH-3")])


def test_reserving_a_partly_available_order_and_compensating_restores_every_ledger() -> None:
    """The pure round trip through ``decide``: reserve every line, decide the order,
    release what the compensation names; stock ends where it started."""
    stock = {"LIP-01": 10, "BLUSH-3": 0, "MASK-10": 5}
    ledgers = {sku: Ledger(sku, units) for sku, units in stock.items()}
    settings = {sku: SkuSettings(sku) for sku in stock}
    records: dict[str, LineRecord] = {}

    def apply(op: Operation) -> Decision:
        step = decide(op, ledgers[op.sku], settings[op.sku], records.get(op.sku), NOW)
        if step.ledger is not None:
            ledgers[op.sku] = step.ledger
        if step.record is not None:
            records[op.sku] = step.record
        return step.decision

    order = THREE_LINES
    line_decisions = [apply(r) for r in reservations_for(order)]
    verdict = decide_order(order, line_decisions)
    released = [apply(r) for r in compensations_for(order, line_decisions)]

    assert not verdict.accepted
    assert (verdict.failed_sku, verdict.reason) == ("BLUSH-3", Reason.INSUFFICIENT)
    assert [d.sku for d in released] == ["LIP-01", "MASK-10"]
    assert all(d.accepted for d in released)
    assert {sku: ledger.available for sku, ledger in ledgers.items()} == stock
    assert records["LIP-01"].status == LineStatus.RELEASED
    assert records["LIP-01"].reason == "order_incomplete:BLUSH-3"


# ---- confirmations_for / releases_for -----------------------------------------------------------------


ORDER_SKUS: Sequence[str] = ("LIP-01", "BLUSH-3", "MASK-10")


def test_payment_of_the_whole_order_confirms_every_sku() -> None:
    payment = Payment(CHANNEL, ORDER_ID, PLACED + 60)

    assert confirmations_for(payment, ORDER_SKUS) == [
        Confirm(CHANNEL, ORDER_ID, "LIP-01"),
        Confirm(CHANNEL, ORDER_ID, "BLUSH-3"),
        Confirm(CHANNEL, ORDER_ID, "MASK-10"),
    ]


def test_payment_naming_skus_confirms_only_those() -> None:
    payment = Payment(CHANNEL, ORDER_ID, PLACED + 60, ("MASK-10",))

    assert confirmations_for(payment, ORDER_SKUS) == [Confirm(CHANNEL, ORDER_ID, "MASK-10")]


def test_payment_of_an_order_with_no_known_skus_confirms_nothing() -> None:
    assert confirmations_for(Payment(CHANNEL, ORDER_ID, PLACED), []) == []


def test_cancellation_of_the_whole_order_releases_every_sku_with_its_reason() -> None:
    cancellation = Cancellation(CHANNEL, ORDER_ID, "refund")

    assert releases_for(cancellation, ORDER_SKUS) == [
        Release(CHANNEL, ORDER_ID, "LIP-01", "refund"),
        Release(CHANNEL, ORDER_ID, "BLUSH-3", "refund"),
        Release(CHANNEL, ORDER_ID, "MASK-10", "refund"),
    ]


def test_cancellation_naming_skus_releases_only_those() -> None:
    cancellation = Cancellation(CHANNEL, ORDER_ID, "closed", ("BLUSH-3", "LIP-01"))

    assert releases_for(cancellation, ORDER_SKUS) == [
        Release(CHANNEL, ORDER_ID, "BLUSH-3", "closed"),
        Release(CHANNEL, ORDER_ID, "LIP-01", "closed"),
    ]


def test_operations_address_the_order_line_of_the_message_channel() -> None:
    payment = Payment("kuaishou-live", "K-7", PLACED)
    cancellation = Cancellation("kuaishou-live", "K-7", "cancelled")

    confirms = confirmations_for(payment, ["LIP-01"])
    releases = releases_for(cancellation, ["LIP-01"])

    assert [c.field for c in confirms] == [Reserve("kuaishou-live", "K-7", "LIP-01", 1).field]
    assert [r.field for r in releases] == [Reserve("kuaishou-live", "K-7", "LIP-01", 1).field]


# ---- payments and cancellations that name only the order ----------------------------------------


def test_payment_is_accepted_when_every_line_is_confirmed() -> None:
    lines = [accepted("HOODIE"), accepted("CAP")]
    notice = decide_notice(Payment(CHANNEL, ORDER_ID, PLACED), lines)
    assert (notice.kind, notice.order_id, notice.accepted, notice.reason) == ("payment", ORDER_ID, True, "")
    assert notice.lines == tuple(lines)


def test_cancellation_names_the_first_rejected_line() -> None:
    failed = Decision("release", "CAP", f"{CHANNEL}/{ORDER_ID}", False, reason=Reason.UNKNOWN_ORDER)
    notice = decide_notice(Cancellation(CHANNEL, ORDER_ID, "buyer"), [accepted("HOODIE"), failed])
    assert (notice.kind, notice.accepted, notice.reason) == ("cancel", False, Reason.UNKNOWN_ORDER)


def test_notice_for_an_order_with_no_known_lines_is_an_unknown_order() -> None:
    notice = decide_notice(Payment(CHANNEL, ORDER_ID, PLACED), [])
    assert (notice.accepted, notice.reason, notice.lines) == (False, "unknown_order", ())


# ---- orders stay whole -----------------------------------------------------------------------


def released(sku: str, available: int) -> Decision:
    return Decision("release", sku, f"{CHANNEL}/{ORDER_ID}", True, LineStatus.RELEASED, 2, available)


def test_a_released_line_of_a_rejected_order_is_shown_released_not_reserved() -> None:
    order = make_order(("LIP-01", 2), ("BLUSH-3", 1))
    decision = decide_order(order, [accepted("LIP-01", 2), rejected("BLUSH-3")], [released("LIP-01", 12)])
    good, bad = decision.lines
    assert (good.accepted, good.status, good.reason, good.available) == (
        False,
        LineStatus.RELEASED,
        INCOMPLETE_ORDER,
        12,
    )
    assert "BLUSH-3" in good.detail
    assert bad == rejected("BLUSH-3")


def test_the_same_lines_again_are_no_conflict() -> None:
    recorded = record_order(
        decide_order(THREE_LINES, [accepted("LIP-01", 2), accepted("BLUSH-3"), accepted("MASK-10", 5)])
    )
    assert order_conflict(THREE_LINES, recorded) is None


@pytest.mark.parametrize(
    "lines",
    [
        (("LIP-01", 2), ("BLUSH-3", 1)),
        (("LIP-01", 2), ("BLUSH-3", 1), ("MASK-10", 5), ("EXTRA", 1)),
        (("LIP-01", 3), ("BLUSH-3", 1), ("MASK-10", 5)),
        (("LIP-01", 2), ("BLUSH-3", 1), ("MASK-11", 5)),
    ],
)
def test_other_skus_or_quantities_under_a_known_order_id_are_a_conflict(
    lines: tuple[tuple[str, int], ...],
) -> None:
    recorded = RecordedOrder(tuple((s, q, LineStatus.RESERVED, "") for s, q in THREE_LINES_PAIRS), True)
    detail = order_conflict(make_order(*lines), recorded)
    assert detail is not None
    assert ORDER_ID in detail


def test_a_record_without_quantities_is_compared_by_skus_only() -> None:
    recorded = RecordedOrder(tuple((s, 0, "", "") for s, _ in THREE_LINES_PAIRS), True)
    assert order_conflict(make_order(("LIP-01", 9), ("BLUSH-3", 9), ("MASK-10", 9)), recorded) is None


def test_a_conflict_rejects_every_line_and_is_not_a_duplicate() -> None:
    decision = conflict_decision(THREE_LINES, "came again with other lines")
    assert (decision.accepted, decision.reason, decision.duplicate) == (False, ORDER_CONFLICT, False)
    assert all(not d.accepted and d.reason == ORDER_CONFLICT for d in decision.lines)


def test_a_recorded_rejection_is_repeated_as_first_decided() -> None:
    first = decide_order(
        make_order(("LIP-01", 2), ("NEW", 1)), [accepted("LIP-01", 2), rejected("NEW", Reason.UNKNOWN_SKU)]
    )
    again = repeat_rejection(make_order(("LIP-01", 2), ("NEW", 1)), record_order(first))
    assert (again.accepted, again.reason, again.failed_sku, again.duplicate) == (
        False,
        Reason.UNKNOWN_SKU,
        "NEW",
        True,
    )
    assert [(d.sku, d.status, d.reason) for d in again.lines] == [
        (d.sku, d.status, d.reason) for d in first.lines
    ]


def test_a_conflicting_message_never_releases_the_first_orders_lines() -> None:
    order = make_order(("LIP-01", 2), ("BLUSH-3", 5), ("MASK-10", 1))
    conflict = Decision("reserve", "BLUSH-3", f"{CHANNEL}/{ORDER_ID}", False, "", 0, 0, ORDER_CONFLICT, "")
    decisions = [accepted("LIP-01", 2, duplicate=True), conflict, accepted("MASK-10")]
    assert compensations_for(order, decisions) == [
        Release(CHANNEL, ORDER_ID, "MASK-10", f"{INCOMPLETE_ORDER}:BLUSH-3")
    ]


def test_only_conflicts_and_recorded_rejections_are_answered_from_the_record() -> None:
    order = make_order(("LIP-01", 2))
    accepted_record = RecordedOrder((("LIP-01", 2, LineStatus.RESERVED, ""),), True)
    rejected_record = RecordedOrder(
        (("LIP-01", 2, LineStatus.REJECTED, Reason.INSUFFICIENT),), False, "insufficient", "LIP-01"
    )
    assert answer_from_record(order, None) is None
    assert answer_from_record(order, accepted_record) is None  # decided again: line records answer
    repeated = answer_from_record(order, rejected_record)
    assert repeated is not None
    assert (repeated.reason, repeated.duplicate) == (Reason.INSUFFICIENT, True)
    other = answer_from_record(make_order(("LIP-01", 3)), None, earlier=order)
    assert other is not None
    assert other.reason == ORDER_CONFLICT
