"""The tight batch loop (``policies.reservations.decide_batch``) gives exactly what
folding ``policies.operations.decide`` over the batch gives (``decide_lines``):
decisions, ledgers, settings, line records, sales and oversold lines, field by field
and in the same order, on arbitrary batches of every kind of operation, well formed or
not, over a few SKUs whose state before the batch is arbitrary too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from policies.ledger import Decision, Ledger, LineRecord, LineStatus, Reason, SkuSettings
from policies.operations import (
    FIELD_SEPARATOR,
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
from policies.reservations import BatchOutcome, decide_batch, decide_lines

NOW = 1_764_000_000.0
SKUS = ("A", "B", "C")
CHANNELS = ("douyin", "taobao")
ORDERS = ("o1", "o2", "o3")


def mostly(common: tuple[Any, ...], rare: tuple[Any, ...], weight: int = 40) -> st.SearchStrategy[Any]:
    """One of ``common`` (each ``weight`` times as likely as each of ``rare``): malformed
    input is there, without crowding out the rest. A common value ends the list too,
    as hypothesis favours the ends of a range."""
    return st.sampled_from(common * weight + rare + common[:1])


skus = mostly(SKUS, ("", "D\x00", None, 7))
channels = mostly(CHANNELS, ("", "bad\u200b", 5))
orders = mostly(ORDERS, ("", "o\x07", None))
quantities = mostly((1, 2, 3), (0, -1, 12, 100_001, True, 2.0, "3"))
event_times = mostly((NOW - 60,), (1.0, 0, float("nan"), float("inf"), "x"), weight=100)
limits = st.sampled_from([None, None, 1, 2, 5, 0])
ttls = st.sampled_from([900.0, 1.0, 0.5, -1.0, 900.0])
#: how often each kind comes, in a sale's proportions
KINDS = ("reserve",) * 6 + ("confirm", "release", "hold") * 2 + ("restock", "adjust", "arrive", "define")


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    """Any operation over the few SKUs and lines, mostly well formed (one draw per field:
    ``st.builds`` over ``one_of`` is several times slower to generate)."""
    kind = draw(st.sampled_from(KINDS))
    sku = draw(skus)
    if kind in ("reserve", "confirm", "release"):
        channel, order_id = draw(channels), draw(orders)
        if kind == "reserve":
            paid, asked_first = draw(st.booleans()), draw(st.booleans())
            return Reserve(channel, order_id, sku, draw(quantities), draw(event_times), paid, asked_first)
        if kind == "confirm":
            return Confirm(channel, order_id, sku)
        return Release(channel, order_id, sku, draw(st.sampled_from(["cancelled", "expired"])))
    if kind == "restock":
        arrives_at = draw(st.sampled_from([None, NOW - 1, NOW + 3600, float("nan")]))
        return Restock(sku, draw(quantities) * 5, draw(st.sampled_from(["t1", "t2", ""])), "dc", arrives_at)
    if kind == "adjust":
        delta = draw(st.sampled_from([-30, -3, 2, 0, 10]))
        return Adjust(
            sku, delta, draw(st.sampled_from(["a1", "a2"])), draw(st.sampled_from(["recount", ""])), "ops"
        )
    if kind == "hold":  # grants held for platforms, and given back
        delta = draw(st.sampled_from([4, 1, -2, 30, -30, 0]))
        return Hold(sku, delta, draw(st.sampled_from(["h1", "h2", "h3", ""])))
    if kind == "arrive":
        return ReceiveArrivals(sku, draw(st.sampled_from([None, NOW + 7200, float("inf")])))
    settings_ = SkuSettings(sku, purchase_limit=draw(limits), reservation_ttl_seconds=draw(ttls))
    return DefineSku(settings_, draw(st.sampled_from([0, 5, 40, -1])))


statuses = st.sampled_from(sorted(LineStatus.ALL))
line_records = st.builds(
    LineRecord, statuses, st.integers(1, 6), st.sampled_from(["", Reason.INSUFFICIENT]), st.just(NOW - 90)
)


@st.composite
def states(
    draw: st.DrawFn,
) -> tuple[dict[str, Ledger], dict[str, SkuSettings], dict[str, dict[str, LineRecord]]]:
    """Ledgers (some SKUs without one, or without settings: one in eight, on a middle
    number, as hypothesis favours the ends of a range) and earlier line records."""
    ledgers: dict[str, Ledger] = {}
    sku_settings: dict[str, SkuSettings] = {}
    records: dict[str, dict[str, LineRecord]] = {}
    for sku in SKUS:
        if draw(st.integers(0, 7)) != 5:
            reserved, sold = draw(st.integers(0, 8)), draw(st.integers(0, 8))
            on_hand = reserved + sold + draw(st.integers(0, 15))
            held = draw(st.integers(0, on_hand - reserved - sold + 2))  # at times more than available
            ledgers[sku] = Ledger(sku, on_hand, reserved, sold, (), draw(st.integers(1, 50)), held)
        if draw(st.integers(0, 7)) != 5:
            sku_settings[sku] = SkuSettings(
                sku, purchase_limit=draw(limits), reservation_ttl_seconds=draw(ttls)
            )
        fields = [f"{c}{FIELD_SEPARATOR}{o}" for c in CHANNELS for o in ORDERS] + [
            "~restock\x1ft1",
            "~hold\x1fh1",
        ]
        chosen = draw(st.lists(st.sampled_from(fields), unique=True, max_size=4))
        if chosen:
            records[sku] = {line_field: draw(line_records) for line_field in chosen}
    return ledgers, sku_settings, records


def assert_same(got: BatchOutcome, expected: BatchOutcome) -> None:
    """Equal field by field, in the same order, with the same types (``repr`` tells
    ``1`` from ``True`` and ``1.0``, and sees a nan as itself)."""
    for name in BatchOutcome._fields:
        assert repr(getattr(got, name)) == repr(getattr(expected, name)), name


def frozen(records: Mapping[str, Mapping[str, LineRecord]]) -> dict[str, dict[str, LineRecord]]:
    return {sku: dict(lines) for sku, lines in records.items()}


@settings(max_examples=600, deadline=None)
@given(st.lists(operations(), min_size=10, max_size=60), states())
def test_tight_loop_decides_like_decide_line_by_line(
    ops: list[Operation],
    state: tuple[dict[str, Ledger], dict[str, SkuSettings], dict[str, dict[str, LineRecord]]],
) -> None:
    ledgers, sku_settings, records = state
    before = (dict(ledgers), dict(sku_settings), frozen(records))

    got = decide_batch(ops, ledgers, sku_settings, records, NOW)

    assert_same(got, decide_lines(ops, ledgers, sku_settings, records, NOW))
    assert (ledgers, sku_settings, frozen(records)) == before  # the state given is only read


def refusal(op: Operation) -> Decision:
    return Decision(op.name, str(op.sku), "", False, reason=Reason.NOT_OWNER, detail="elsewhere")


@settings(max_examples=200, deadline=None)
@given(st.lists(operations(), min_size=5, max_size=30), states())
def test_tight_loop_refuses_what_the_caller_does_not_hold_like_the_reference(
    ops: list[Operation],
    state: tuple[dict[str, Ledger], dict[str, SkuSettings], dict[str, dict[str, LineRecord]]],
) -> None:
    ledgers, sku_settings, records = state
    asked: list[str] = []

    def holds(sku: str) -> bool:
        asked.append(sku)
        return sku != "B"

    got = decide_batch(ops, ledgers, sku_settings, records, NOW, holds=holds, refuse=refusal)

    expected = decide_lines(
        ops, ledgers, sku_settings, records, NOW, holds=lambda sku: sku != "B", refuse=refusal
    )
    assert_same(got, expected)
    assert len(asked) == len(set(asked))  # once per SKU per batch


def test_redelivery_and_payment_in_one_batch_take_the_fast_path_and_agree() -> None:
    ledgers = {"A": Ledger("A", 3, 0, 0, (), 1)}
    sku_settings = {"A": SkuSettings("A", purchase_limit=2)}
    ops: list[Operation] = [
        Reserve("douyin", "o1", "A", 2, NOW - 5),
        Reserve("douyin", "o1", "A", 2, NOW - 5),  # redelivered
        Reserve("douyin", "o2", "A", 3, NOW - 4),  # over the limit
        Reserve("douyin", "o3", "A", 2, NOW - 3),  # one unit left
        Confirm("douyin", "o1", "A"),
        Confirm("douyin", "o1", "A"),
        Release("douyin", "o1", "A", "refunded"),
        Reserve("douyin", "o3", "A", 2, NOW - 3),  # the refused line keeps its answer
    ]

    got = decide_batch(ops, ledgers, sku_settings, {}, NOW)

    assert_same(got, decide_lines(ops, ledgers, sku_settings, {}, NOW))
    assert [(d.accepted, d.duplicate, d.reason) for d in got.decisions] == [
        (True, False, ""),
        (True, True, ""),
        (False, False, Reason.OVER_LIMIT),
        (False, False, Reason.INSUFFICIENT),
        (True, False, ""),
        (True, True, ""),
        (True, False, ""),
        (False, True, Reason.INSUFFICIENT),
    ]
    assert got.ledgers == {"A": Ledger("A", 3, 0, 0, (), 4)}
    assert got.oversold == [("A", "douyin")]


def test_a_reserve_first_refusal_is_a_sold_out_not_an_oversell() -> None:
    ledgers = {"A": Ledger("A", 1, 0, 0, (), 1)}
    sku_settings = {"A": SkuSettings("A")}
    ops: list[Operation] = [
        Reserve("mini", "o1", "A", 1, NOW - 3, asked_first=True),
        Reserve("mini", "o2", "A", 1, NOW - 2, asked_first=True),  # sold out: asked first
        Reserve("douyin", "o3", "A", 1, NOW - 1),  # sold out: the platform had sold it
    ]
    got = decide_batch(ops, ledgers, sku_settings, {}, NOW)
    assert_same(got, decide_lines(ops, ledgers, sku_settings, {}, NOW))
    assert [d.reason for d in got.decisions] == ["", Reason.INSUFFICIENT, Reason.INSUFFICIENT]
    assert got.oversold == [("A", "douyin")]


def test_owner_commits_what_the_reference_decides() -> None:
    config = StoreConfig("redis://unused", namespace="tight", shard_count=1)
    owner = SkuOwner(config, 0, InMemoryOwnerStore(config, MemoryLedgers()), clock=lambda: NOW)
    owner.apply([DefineSku(SkuSettings("A", purchase_limit=3), 4), DefineSku(SkuSettings("B"), 1)])
    ledgers, sku_settings, records = dict(owner.ledgers), dict(owner.settings), frozen(owner.records)
    ops: list[Operation] = [
        Reserve("douyin", f"o{n}", sku, 1 + n % 4, NOW - n) for n in range(12) for sku in ("A", "B")
    ]
    ops += [Confirm("douyin", "o0", "A"), Release("douyin", "o1", "A"), Restock("B", 5, "t1")]

    decisions, batch = owner.decide_batch(ops)

    expected = decide_lines(ops, ledgers, sku_settings, records, NOW)
    assert decisions == expected.decisions
    assert batch.ledgers == expected.ledgers
    assert batch.sales == expected.sales
    assert [(sku, f) for sku, pairs in batch.records.items() for f in pairs[::2]] == [
        (sku, f) for sku, f, _ in sorted(expected.records, key=lambda written: written[0] != "A")
    ]
    assert sum(batch.oversold["A"].values()) == sum(1 for sku, _ in expected.oversold if sku == "A")
