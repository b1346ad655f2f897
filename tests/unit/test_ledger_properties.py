"""Property tests: random operation sequences never break the ledger's rules.

A tiny pure driver keeps ledgers, settings and line records exactly as
``actors.owner.core.SkuOwner.decide_batch`` does around ``policies.operations.decide``:
the previous record is looked up by ``(sku, op.field)`` when ``op.field`` is truthy,
and a step's ledger / record / settings are stored when they are not None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.ledger import (
    MAX_LINE_QUANTITY,
    Decision,
    Ledger,
    LineRecord,
    LineStatus,
    Reason,
    SkuSettings,
    keeps_invariant,
)
from policies.operations import (
    Adjust,
    Confirm,
    DefineSku,
    Operation,
    ReceiveArrivals,
    Release,
    Reserve,
    Restock,
    decide,
)

T0 = 1_700_000_000.0
#: seconds between two operations of a sequence
TICK = 10.0
SKUS = ("A", "B")
#: never defined: exercises unknown_sku
UNKNOWN_SKU = "Z"

Records = dict[str, dict[str, LineRecord]]


@dataclass
class World:
    """The state one owner keeps for its SKUs."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    settings: dict[str, SkuSettings] = field(default_factory=dict)
    records: Records = field(default_factory=dict)

    def previous(self, op: Operation) -> LineRecord | None:
        line_field = op.field
        lines = self.records.get(op.sku)
        return lines.get(line_field) if lines is not None and line_field else None

    def apply(self, op: Operation, now: float) -> Decision:
        sku = op.sku
        step = decide(op, self.ledgers.get(sku), self.settings.get(sku), self.previous(op), now)
        if step.ledger is not None:
            self.ledgers[sku] = step.ledger
        if step.settings is not None:
            self.settings[sku] = step.settings
        if step.record is not None:
            self.records.setdefault(sku, {})[op.field] = step.record
        return step.decision

    def snapshot(self) -> tuple[dict[str, Ledger], Records]:
        return dict(self.ledgers), {sku: dict(lines) for sku, lines in self.records.items()}


# ---- strategies -------------------------------------------------------------------------

T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``choices``, each drawn about ``weight`` times in ``sum(weights)``."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return _pick(table)


@st.composite
def _pick(draw: st.DrawFn, table: list[st.SearchStrategy[T]]) -> T:
    return draw(table[draw(st.integers(min_value=0, max_value=len(table) - 1))])


# Mostly valid operations on the two defined SKUs, so that lines really get reserved,
# confirmed and released, with invalid input and an unknown SKU mixed in.
skus = weighted((4, st.sampled_from(SKUS)), (1, st.just(UNKNOWN_SKU)))
channels = st.sampled_from(("douyin", "kuaishou"))
own_skus = st.sampled_from(SKUS)
order_ids = st.sampled_from(("o-1", "o-2", "o-3"))
release_reasons = st.sampled_from(("cancelled", "expired"))
coin = st.booleans()
line_quantities = weighted(
    (6, st.integers(min_value=1, max_value=6)),
    (1, st.sampled_from((0, -1, 2.0, True, MAX_LINE_QUANTITY + 1))),
)
placed_ats = weighted((6, st.sampled_from((T0, T0 - 5.0, 0.0))), (1, st.sampled_from((math.nan, math.inf))))
arrivals = weighted(
    (5, st.sampled_from((None, T0 - 1.0, T0 + 55.0, T0 + 400.0))),
    (1, st.just(math.nan)),
)

reserves = st.builds(Reserve, channels, order_ids, skus, line_quantities, placed_ats, st.booleans())
confirms = st.builds(Confirm, channels, order_ids, skus)
releases = st.builds(Release, channels, order_ids, skus, release_reasons)
restocks = st.builds(
    Restock,
    skus,
    weighted((6, st.integers(min_value=1, max_value=12)), (1, st.integers(-1, 0))),
    st.sampled_from(("t-1", "t-2", "t-3", "t-4")),
    st.just("factory"),
    arrivals,
)
adjusts = st.builds(
    Adjust,
    skus,
    st.integers(min_value=-12, max_value=12),
    st.sampled_from(("a-1", "a-2", "a-3")),
    weighted((6, st.just("stock count")), (1, st.just(""))),
    st.just("ops"),
)
# the owner's clock tick; a receipt ``as_of`` a later time is a fact about time too
# (repeated later, it receives what is due by then), so it is not among the redeliveries
arrival_checks = st.builds(ReceiveArrivals, skus, st.none())

operations: st.SearchStrategy[Operation] = weighted(
    (5, reserves),
    (2, confirms),
    (2, releases),
    (2, restocks),
    (2, adjusts),
    (1, arrival_checks),
)
definitions = {
    sku: st.builds(
        lambda on_hand, limit, sku=sku: DefineSku(SkuSettings(sku, purchase_limit=limit), on_hand),
        st.integers(min_value=0, max_value=15),
        weighted((3, st.none()), (1, st.integers(min_value=1, max_value=4))),
    )
    for sku in SKUS
}
follow_up_odds = weighted((1, st.just(True)), (2, st.just(False)))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[DefineSku], list[Operation]]:
    """Both SKUs defined (one possibly redefined), then a sequence of operations in
    which confirms and releases often hit lines that were reserved before them."""
    defined = [draw(definitions[sku]) for sku in SKUS]
    if draw(coin):
        defined.append(draw(definitions[draw(own_skus)]))
    size = draw(st.integers(min_value=10, max_value=30))
    ops: list[Operation] = []
    lines: list[tuple[str, str, str]] = []
    for _ in range(size):
        op: Operation
        if len(lines) > 0 and draw(follow_up_odds):
            # a confirm or release of a line reserved earlier in the sequence
            channel, order_id, sku = lines[draw(st.integers(min_value=0, max_value=len(lines) - 1))]
            if draw(coin):
                op = Confirm(channel, order_id, sku)
            else:
                op = Release(channel, order_id, sku, draw(release_reasons))
        else:
            op = draw(operations)
        if isinstance(op, Reserve):
            lines.append((op.channel, op.order_id, op.sku))
        ops.append(op)
    return defined, ops


# ---- checks -----------------------------------------------------------------------------


def check_ledgers(world: World) -> None:
    for sku, ledger in world.ledgers.items():
        assert keeps_invariant(ledger), ledger
        assert ledger.available >= 0, ledger
        assert ledger.sku == sku


def check_conservation(world: World) -> None:
    """Every reserved / sold unit belongs to exactly one line that holds it."""
    for sku, ledger in world.ledgers.items():
        lines = world.records.get(sku, {}).values()
        reserved = sum(r.quantity for r in lines if r.status == LineStatus.RESERVED)
        sold = sum(r.quantity for r in lines if r.status == LineStatus.SOLD)
        assert (reserved, sold) == (ledger.reserved, ledger.sold), (ledger, sorted(lines))


def setup(defined: list[DefineSku]) -> tuple[World, dict[str, int]]:
    """A world with the defined SKUs, and the stock each started with."""
    world = World()
    for op in defined:
        decision = world.apply(op, T0)
        assert decision.accepted, decision
    return world, {sku: ledger.on_hand for sku, ledger in world.ledgers.items()}


# ---- properties -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, database=None)
@given(scenarios())
def test_every_step_keeps_the_invariant_and_conserves_units(
    scenario: tuple[list[DefineSku], list[Operation]],
) -> None:
    defined, ops = scenario
    world, initial = setup(defined)
    stock_added = dict.fromkeys(initial, 0)
    check_ledgers(world)

    for i, op in enumerate(ops):
        before = world.ledgers.get(op.sku)
        decision = world.apply(op, T0 + i * TICK)

        check_ledgers(world)
        check_conservation(world)
        after = world.ledgers.get(op.sku)
        if after != before:
            assert decision.accepted, decision
            assert before is not None
            assert after is not None
            assert after.version == before.version + 1
        if decision.accepted and isinstance(op, Restock | Adjust) and not decision.duplicate:
            stock_added[op.sku] += decision.quantity

    for sku, ledger in world.ledgers.items():
        # units only enter through restocks (now or inbound) and adjustments
        assert ledger.on_hand + ledger.inbound_units == initial[sku] + stock_added[sku]
    assert UNKNOWN_SKU not in world.ledgers
    assert UNKNOWN_SKU not in world.records


@settings(max_examples=200, deadline=None, database=None)
@given(scenarios())
def test_reapplying_an_operation_at_once_changes_nothing(
    scenario: tuple[list[DefineSku], list[Operation]],
) -> None:
    defined, ops = scenario
    world, _ = setup(defined)

    for i, op in enumerate(ops):
        now = T0 + i * TICK
        first = world.apply(op, now)
        state = world.snapshot()

        again = world.apply(op, now)

        assert world.snapshot() == state, (op, first, again)
        assert again.accepted == first.accepted
        assert again.reason == first.reason
        unrecorded = (Reason.INVALID, Reason.ORDER_CONFLICT)  # refusals that leave the line as it was
        if isinstance(op, Reserve) and first.reason not in unrecorded and world.previous(op) is not None:
            assert again.duplicate, (op, first, again)
            assert (again.status, again.quantity, again.key) == (first.status, first.quantity, first.key)


@settings(max_examples=200, deadline=None, database=None)
@given(scenarios())
def test_redelivering_any_accepted_or_recorded_operation_later_changes_nothing(
    scenario: tuple[list[DefineSku], list[Operation]],
) -> None:
    """A redelivery arrives late, after other operations: once an operation was accepted
    (or its line rejection recorded) it can never be applied a second time."""
    defined, ops = scenario
    world, _ = setup(defined)
    processed: list[tuple[Operation, float]] = []
    for i, op in enumerate(ops):
        now = T0 + i * TICK
        decision = world.apply(op, now)
        if decision.accepted or world.previous(op) is not None:
            processed.append((op, now))
    state = world.snapshot()

    for op, now in processed:
        had_record = world.previous(op) is not None
        again = world.apply(op, now)

        assert world.snapshot() == state, (op, again)
        if (
            isinstance(op, Reserve)
            and had_record
            and again.reason not in (Reason.INVALID, Reason.ORDER_CONFLICT)
        ):
            assert again.duplicate, (op, again)
