"""An owner's bookkeeping of a decided batch (``SkuOwner.decide_batch`` after the tight
loop): the encoded line records it hands the store, the lines it closes, its line
records in memory and its expiry schedule are what a plain fold over the batch's
written records gives, with ``encode_record`` called record by record (the reference
for the batch encoder ``encode_records``), on arbitrary runs of batches."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors.infra.codec import encode_record, encode_records
from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from policies.ledger import LineRecord, LineStatus, SkuSettings
from policies.operations import Confirm, DefineSku, Operation, Reserve
from policies.reservations import decide_lines
from tests.unit.test_tight_decide import NOW, SKUS, frozen, operations

RESERVED = LineStatus.RESERVED
#: an int a float holds exactly, but not once multiplied by 1000
BIG = 2**53 - 1

#: expiry times as a batch has them (0 once settled, a clock plus a TTL while open), an
#: int equal to a float among them, and times past 9e12 s, where ``n * 1000`` is no
#: longer exact in a float
expiries = st.sampled_from(
    [
        *(0.0, 0, NOW + 900.0, NOW + 900.0, NOW + 0.5, NOW - 1.0, 1_764_000_900, 1_764_000_900.0),
        *(9e12, 9_000_000_000_001, 9_000_000_000_001.0, -1e13, 1e15 + 0.5, float(BIG), BIG),
    ]
)
times = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18),
    st.integers(-(10**15), 10**15),
    expiries,
)
records = st.builds(
    LineRecord,
    st.sampled_from(sorted(LineStatus.ALL)),
    st.integers(0, 100_000),
    st.sampled_from(["", "insufficient", "over_limit", "expired", "cancelled"]),
    times,
    st.one_of(expiries, times),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.just("A"), st.just("douyin\x1fo1"), records), max_size=40))
@example([("A", "douyin\x1fo1", LineRecord(RESERVED, 1, "", 0.0, value)) for value in (float(BIG), BIG)])
def test_batch_encoder_gives_what_encode_record_gives(written: list[tuple[str, str, LineRecord]]) -> None:
    assert encode_records(written) == [encode_record(record) for _, _, record in written]


def reference_bookkeeping(
    before: Mapping[str, Mapping[str, LineRecord]], written: list[tuple[str, str, LineRecord]]
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, dict[str, LineRecord]]]:
    """The commit's ``records`` and ``closed`` and the records in memory after the batch."""
    lines = frozen(before)
    pairs: dict[str, list[str]] = {}
    closed: dict[str, list[str]] = {}
    for sku, line_field, record in written:
        previous = lines.setdefault(sku, {}).get(line_field)
        if previous is not None and previous.status == RESERVED and record.status != RESERVED:
            closed.setdefault(sku, []).append(line_field)
        lines[sku][line_field] = record
        pairs.setdefault(sku, []).extend((line_field, encode_record(record)))
    return pairs, closed, lines


def open_by_second(lines: Mapping[str, Mapping[str, LineRecord]]) -> dict[int, set[tuple[str, str]]]:
    """Each open reservation under the second after its expiry, as the schedule keeps it."""
    due: dict[int, set[tuple[str, str]]] = {}
    for sku, by_field in lines.items():
        for line_field, record in by_field.items():
            if record.status == RESERVED:
                due.setdefault(int(record.expires_at) + 1, set()).add((sku, line_field))
    return due


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(operations(), min_size=1, max_size=40), min_size=1, max_size=4))
# a reservation closed in the batch that opened it empties its second of the schedule,
# and the next reservation of the same expiry must land in the schedule, not in the
# emptied set the owner's loop had in hand
@example(
    [
        [
            Reserve("douyin", "o1", "A", 1, NOW),
            Confirm("douyin", "o1", "A"),
            Reserve("douyin", "o2", "A", 1, NOW),
        ]
    ]
)
def test_owner_keeps_the_books_of_a_batch_as_the_plain_fold_does(batches: list[list[Operation]]) -> None:
    config = StoreConfig("redis://unused", namespace="books", shard_count=1)
    owner = SkuOwner(config, 0, InMemoryOwnerStore(config, MemoryLedgers()), clock=lambda: NOW)
    owner.apply([DefineSku(SkuSettings(sku, reservation_ttl_seconds=900.0), 6) for sku in SKUS])
    for ops in batches:
        ledgers, sku_settings, before = dict(owner.ledgers), dict(owner.settings), frozen(owner.records)
        expected = decide_lines(
            ops, ledgers, sku_settings, before, NOW, holds=owner.owns, refuse=owner._refusal
        )

        decisions, batch = owner.decide_batch(ops)

        pairs, closed, lines = reference_bookkeeping(before, expected.records)
        assert repr(decisions) == repr(expected.decisions)
        assert batch.records == pairs
        assert batch.closed == closed
        assert frozen(owner.records) == lines
        schedule = {second: set(due) for second, due in owner._expiries._due.items()}
        assert schedule == open_by_second(lines)
        owner.finish(owner.send(batch))
