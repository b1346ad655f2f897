"""An owner's memory is bounded by the present: it holds open reservations and the newest
line records, looks older ones up in its store on a miss (one round trip per batch), and
forgets them for good after the retention window. On the in-memory store; the store
side of the same contract runs on Redis in tests/contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from policies.ledger import LineRecord, Reason, SkuSettings
from policies.operations import Confirm, DefineSku, Reserve, Restock

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1, recent_lines=20, recent_seconds=0.0)
START = 1_764_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(InMemoryOwnerStore):
    """The in-memory store, counting the lookups the owner makes and the lines asked."""

    def __init__(self, config: StoreConfig, data: MemoryLedgers) -> None:
        super().__init__(config, data)
        self.lookups: list[int] = []

    def lookup_lines(
        self, wanted: Mapping[tuple[str, str], Sequence[int]]
    ) -> dict[tuple[str, str], LineRecord]:
        self.lookups.append(len(wanted))
        return super().lookup_lines(wanted)


def owner_on(
    data: MemoryLedgers, clock: Clock, config: StoreConfig = CONFIG
) -> tuple[SkuOwner, CountingStore]:
    store = CountingStore(config, data)
    return SkuOwner(config, 0, store, clock=clock), store


def paid(n: int, at: float) -> Reserve:
    return Reserve("douyin", f"o{n}", "A", 1, at, paid=True)


def test_an_owner_keeps_only_its_newest_settled_lines_in_memory() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, _ = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 1000)])
    owner.apply([Reserve("douyin", "open", "A", 1, START)])
    for n in range(10):
        owner.apply([paid(10 * n + i, START) for i in range(10)])

    held = owner.records["A"]
    assert len(held) <= CONFIG.recent_lines + 1
    assert "douyin\x1fopen" in held  # an open reservation is never forgotten
    assert "douyin\x1fo99" in held
    assert "douyin\x1fo0" not in held


def test_lines_of_the_last_recent_seconds_stay_whatever_their_number() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, _ = owner_on(data, clock, replace(CONFIG, recent_seconds=10.0))
    owner.apply([DefineSku(SkuSettings("A"), 1000)])
    for n in range(10):
        owner.apply([paid(10 * n + i, START) for i in range(10)])
    assert "douyin\x1fo0" in owner.records["A"]  # 100 lines, all decided within 10 s

    clock.now += 11
    owner.apply([paid(100, clock.now)])

    assert "douyin\x1fo0" not in owner.records["A"]
    assert len(owner.records["A"]) <= CONFIG.recent_lines + 1


def test_a_forgotten_line_redelivered_is_looked_up_and_keeps_its_decision() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, store = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 60)])
    first = [owner.apply([paid(10 * n + i, START) for i in range(10)]) for n in range(10)]
    assert sum(d.accepted for batch in first for d in batch) == 60

    again = owner.apply([paid(n, START) for n in range(100)])

    assert all(d.duplicate for d in again)
    assert [d.accepted for d in again] == [d.accepted for batch in first for d in batch]
    assert owner.committed["A"].sold == 60
    assert store.lookups  # found in the store, not in memory


def test_a_restarted_owner_loads_no_history_and_looks_up_a_redelivered_line() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, _ = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 10)])
    owner.apply([paid(1, START), Reserve("douyin", "held", "A", 2, START), Restock("A", 5, "t1")])

    clock.now += 30
    restarted, store = owner_on(data, clock)
    assert set(restarted.records["A"]) == {"douyin\x1fheld"}  # open reservations only

    redelivered = restarted.apply([paid(1, START), Restock("A", 5, "t1"), Confirm("douyin", "held", "A")])

    assert [d.duplicate for d in redelivered] == [True, True, False]
    assert all(d.accepted for d in redelivered)
    assert store.lookups == [2]  # one round trip for the batch's two misses
    assert restarted.committed["A"].on_hand == 15


def test_new_orders_after_a_restart_need_no_lookup() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, _ = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 100)])
    owner.apply([paid(1, START)])
    clock.now += 3600 * 2
    restarted, store = owner_on(data, clock)

    decisions = restarted.apply([paid(n, clock.now) for n in range(2, 12)])

    assert all(d.accepted and not d.duplicate for d in decisions)
    assert store.lookups == []  # placed after the restart: nothing older can exist


def test_a_fresh_owner_never_looks_anything_up() -> None:
    clock = Clock()
    owner, store = owner_on(MemoryLedgers(clock=clock), clock, replace(CONFIG, recent_lines=10_000))
    owner.apply([DefineSku(SkuSettings("A"), 100)])
    owner.apply([Reserve("douyin", f"o{n}", "A", 1) for n in range(50)])  # no placed_at
    owner.apply([Confirm("douyin", f"o{n}", "A") for n in range(50)])

    assert store.lookups == []


def test_after_the_retention_window_a_line_is_forgotten_for_good() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, _ = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 10)])
    owner.apply([Reserve("douyin", "old", "A", 1, START, paid=True)])

    clock.now += CONFIG.retention_seconds + 2 * CONFIG.bucket_seconds
    restarted, _ = owner_on(data, clock)
    late = restarted.apply([Confirm("douyin", "old", "A")])[0]

    assert (late.accepted, late.reason) == (False, Reason.UNKNOWN_ORDER)
    assert data.line_records() == {}  # the record expired with its bucket
    assert restarted.committed["A"].sold == 1  # the ledger stays


def test_a_removed_sku_defined_again_keeps_the_first_decisions_of_its_old_lines() -> None:
    clock = Clock()
    data = MemoryLedgers(clock=clock)
    owner, store = owner_on(data, clock)
    owner.apply([DefineSku(SkuSettings("A"), 10)])
    (first,) = owner.apply([paid(1, START)])
    assert owner.remove("A").accepted
    owner.apply([DefineSku(SkuSettings("A"), 3)])

    (again,) = owner.apply([paid(1, START)])

    assert (again.accepted, again.duplicate) == (first.accepted, True)
    assert owner.committed["A"].sold == 0  # the new stock is untouched
    assert store.lookups == [1]
