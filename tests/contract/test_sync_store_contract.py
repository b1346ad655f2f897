"""The ``SyncStore`` contract, run on the in-memory store and on Redis alike: the committed
stock and the ledger log as the owners wrote them, and published visible quantities."""

from __future__ import annotations

from actors.infra.codec import LedgerCounters, encode_record
from actors.owner.store import CommitBatch
from actors.sync.store import START
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from tests.contract.conftest import Backend

SOLD = LineRecord(LineStatus.SOLD, 3, "", 100.0, 0.0)


def write(backend: Backend, *batches: CommitBatch) -> None:
    """Commit ``batches`` as an owner of the backend's deployment would."""
    store = backend.owner_store()
    epoch = store.take_epoch(0)
    for batch in batches:
        store.finish_commit(store.send_commit(epoch, 0, batch))


def define(sku: str, on_hand: int) -> CommitBatch:
    return CommitBatch(
        ledgers={sku: Ledger(sku, on_hand, 0, 0, (), 1)}, settings={sku: SkuSettings(sku)}, new_skus=[sku]
    )


def test_an_empty_deployment_has_no_stock_and_no_entries(backend: Backend) -> None:
    store = backend.sync_store()

    assert store.snapshot() == (START, {})
    assert store.read_ledger(START) == []


def test_the_snapshot_gives_committed_available_units_and_the_newest_position(backend: Backend) -> None:
    write(backend, define("A", 10), CommitBatch(ledgers={"A": Ledger("A", 10, 2, 3, (), 2)}))
    store = backend.sync_store()

    cursor, available = store.snapshot()

    assert available == {"A": 5}
    assert store.read_ledger(cursor) == []  # nothing committed after the snapshot


def test_ledger_entries_tell_each_batch_in_order_with_counters_and_lines(backend: Backend) -> None:
    store = backend.sync_store()
    cursor, _ = store.snapshot()
    sold = CommitBatch(ledgers={"A": Ledger("A", 10, 0, 3, (), 2)})
    sold.records["A"] = ["douyin\x1fo1", encode_record(SOLD)]
    write(backend, define("A", 10), sold)

    entries = store.read_ledger(cursor)

    assert [e.counters for e in entries] == [
        (LedgerCounters("A", 10, 0, 0, 1),),
        (LedgerCounters("A", 10, 0, 3, 2),),
    ]
    assert [e.lines for e in entries] == [(), (("A", "douyin\x1fo1", SOLD),)]
    assert entries[1].epoch == entries[0].epoch >= 1
    assert store.read_ledger(entries[0].entry_id) == entries[1:]
    assert store.read_ledger(entries[1].entry_id) == []


def test_published_quantities_are_visible_per_channel(backend: Backend) -> None:
    store = backend.sync_store()
    store.publish([("douyin", "A", 6), ("taobao", "A", 4), ("douyin", "B", 1)])
    store.publish([("douyin", "A", 5)])

    assert store.visible("douyin") == {"A": 5, "B": 1}
    assert store.visible("taobao") == {"A": 4}
    assert store.visible("kuaishou") == {}


def test_a_store_that_answers_says_so(backend: Backend) -> None:
    assert backend.sync_store().ping()


def test_a_waiting_read_returns_what_is_new_and_nothing_else(backend: Backend) -> None:
    write(backend, define("A", 10))
    store = backend.sync_store()
    cursor, _ = store.snapshot()

    assert store.read_ledger(cursor, block_ms=20) == []  # waits (a cluster polls once more)
    write(backend, CommitBatch(ledgers={"A": Ledger("A", 10, 1, 0, (), 2)}))
    entries = store.read_ledger(cursor, block_ms=20)
    assert [e.counters for e in entries] == [(LedgerCounters("A", 10, 1, 0, 2),)]
