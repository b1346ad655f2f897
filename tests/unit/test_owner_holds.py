"""Units held for platform-first platforms' grants: the owner's ``Hold`` decision, and
reservations decided against them (reserve-first against ``free``, platform-first
within the hold), by ``decide`` and by the tight batch loop alike."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from policies.ledger import Ledger, LineRecord, LineStatus, Reason, SkuSettings
from policies.operations import Hold, Operation, Reserve, decide
from policies.reservations import BatchOutcome, decide_batch, decide_lines
from serve_app.routes_stock import sku_view

NOW = 1_764_000_000.0
SETTINGS = SkuSettings("A")


def ledger(on_hand: int = 10, reserved: int = 0, sold: int = 0, held: int = 0) -> Ledger:
    return Ledger("A", on_hand, reserved, sold, (), 1, held)


def both(ops: Sequence[Operation], start: Ledger) -> BatchOutcome:
    """The batch decided by the tight loop, checked equal to the line-by-line reference."""
    ledgers, settings = {"A": start}, {"A": SETTINGS}
    tight = decide_batch(ops, ledgers, settings, {}, NOW)
    reference = decide_lines(ops, ledgers, settings, {}, NOW)
    assert tight == reference
    return tight


def test_free_is_available_less_held_and_never_negative() -> None:
    assert ledger(10, 2, 1, held=4).free == 3
    assert ledger(10, 2, 1, held=9).free == 0


def test_a_hold_of_free_units_is_accepted_and_counted() -> None:
    step = decide(Hold("A", 6, "h1"), ledger(10, reserved=2), SETTINGS, None, NOW)

    assert step.decision.accepted
    assert step.decision.status == LineStatus.APPLIED
    assert step.ledger == Ledger("A", 10, 2, 0, (), 2, held=6)
    assert step.record == LineRecord(LineStatus.APPLIED, 6)


def test_a_hold_of_more_than_the_free_units_is_refused_and_changes_nothing() -> None:
    step = decide(Hold("A", 5, "h1"), ledger(10, reserved=2, held=4), SETTINGS, None, NOW)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INSUFFICIENT
    assert "4 free" in step.decision.detail
    assert step.ledger is None
    assert step.record is None


def test_a_refused_hold_is_not_an_oversold_order() -> None:
    # it was counted as one of channel "": flashstock_oversold_orders{channel=""} grew
    # with every hold the grant sync asked for beyond the free units
    outcome = both([Hold("A", 5, "h1"), Reserve("douyin", "o1", "A", 9, NOW - 5)], ledger(10, 2, held=4))

    assert [d.reason for d in outcome.decisions] == [Reason.INSUFFICIENT, Reason.INSUFFICIENT]
    assert outcome.oversold == [("A", "douyin")]


def test_giving_back_a_hold_never_goes_below_zero_and_is_always_accepted() -> None:
    step = decide(Hold("A", -5, "h2"), ledger(10, held=3), SETTINGS, None, NOW)

    assert step.decision.accepted
    assert step.ledger is not None
    assert step.ledger.held == 0


def test_a_hold_id_counts_once() -> None:
    first = decide(Hold("A", 4, "h1"), ledger(10), SETTINGS, None, NOW)
    assert first.ledger is not None
    assert first.record is not None

    again = decide(Hold("A", 4, "h1"), first.ledger, SETTINGS, first.record, NOW)

    assert again.decision.duplicate
    assert again.decision.accepted
    assert again.ledger is None


@pytest.mark.parametrize(
    ("hold", "problem"),
    [
        (Hold("A", 0, "h1"), "delta must not be 0"),
        (Hold("A", 2, ""), "hold_id"),
        (Hold("A", 10**9, "h1"), "delta must be between"),
    ],
)
def test_a_malformed_hold_is_refused_naming_the_problem(hold: Hold, problem: str) -> None:
    step = decide(hold, ledger(10), SETTINGS, None, NOW)

    assert not step.decision.accepted
    assert step.decision.reason == Reason.INVALID
    assert problem in step.decision.detail
    assert step.ledger is None


def test_a_hold_of_an_unknown_sku_is_refused() -> None:
    step = decide(Hold("Z", 1, "h1"), None, None, None, NOW)

    assert step.decision.reason == Reason.UNKNOWN_SKU


def test_a_reserve_first_order_cannot_take_a_unit_held_for_a_platform() -> None:
    outcome = both(
        [
            Reserve("mini", "o1", "A", 2, NOW - 5, asked_first=True),
            Reserve("mini", "o2", "A", 1, NOW - 4, asked_first=True),
        ],
        ledger(10, reserved=1, held=7),
    )

    first, second = outcome.decisions
    assert first.accepted
    assert not second.accepted
    assert second.reason == Reason.INSUFFICIENT
    assert second.detail == "1 units asked, 0 free"
    assert outcome.ledgers["A"] == Ledger("A", 10, 3, 0, (), 2, held=7)
    assert outcome.oversold == []  # a reserve-first refusal is a sold-out


def test_a_platform_order_sells_within_its_grant_and_the_hold_shrinks() -> None:
    outcome = both(
        [
            Reserve("douyin", "o1", "A", 3, NOW - 5),
            Reserve("douyin", "o2", "A", 2, NOW - 4, paid=True),
        ],
        ledger(10, held=4),
    )

    assert all(d.accepted for d in outcome.decisions)
    assert outcome.ledgers["A"] == Ledger("A", 10, 3, 2, (), 3, held=0)


def test_a_platform_order_is_decided_against_available_not_free() -> None:
    outcome = both([Reserve("douyin", "o1", "A", 5, NOW - 5)], ledger(10, reserved=5, held=5))

    assert outcome.decisions[0].accepted
    assert outcome.ledgers["A"] == Ledger("A", 10, 10, 0, (), 2, held=0)


def test_a_hold_taken_in_a_batch_is_seen_by_the_orders_after_it() -> None:
    outcome = both(
        [
            Hold("A", 8, "h1"),
            Reserve("mini", "o1", "A", 3, NOW - 5, asked_first=True),
            Hold("A", -8, "h2"),
            Reserve("mini", "o2", "A", 3, NOW - 4, asked_first=True),
        ],
        ledger(10),
    )

    accepted = [d.accepted for d in outcome.decisions]
    assert accepted == [True, False, True, True]
    assert outcome.ledgers["A"] == Ledger("A", 10, 3, 0, (), 4, held=0)


def test_the_stock_view_shows_held_and_free_units() -> None:
    view = sku_view(Ledger("A", 10, 2, 1, (), 3, held=4), SETTINGS, None, {})

    assert (view.available, view.held, view.free) == (7, 4, 3)
