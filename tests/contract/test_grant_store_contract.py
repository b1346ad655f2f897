"""The ``GrantStore`` contract, on the in-memory store and on Redis alike: the book and the
updates it counts saved together, platforms' answers read back in order from a position,
and the committed line records the book's consumption is rebuilt from."""

from __future__ import annotations

from actors.infra.codec import encode_record
from actors.owner.store import CommitBatch
from actors.sync.store import START
from policies.grants import ADD, TAKE, GrantUpdate, UpdateAnswer
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from tests.contract.conftest import Backend

BOOK = {"platforms": ["douyin"], "granted": [["douyin", "A", 5]], "answered": {"douyin": START}}


def test_nothing_is_saved_before_the_first_book(backend: Backend) -> None:
    store = backend.grant_store()
    assert store.load_book() is None
    assert store.updates("douyin", START) == []
    assert store.answers("douyin", START) == []
    assert store.headroom() == {}


def test_the_book_its_headroom_and_its_updates_are_saved_together(backend: Backend) -> None:
    store = backend.grant_store()
    first = GrantUpdate("douyin", 1, "A", ADD, 5)
    second = GrantUpdate("douyin", 2, "A", TAKE, 2)
    store.save(BOOK, {"A": 3}, [first])
    store.save({**BOOK, "taking": [["douyin", "A", 2]]}, {"A": 3}, [second])
    assert store.load_book() == {**BOOK, "taking": [["douyin", "A", 2]]}
    assert store.headroom() == {"A": 3}
    updates = store.updates("douyin", START)
    assert [u for _, u in updates] == [first, second]
    assert [u for _, u in store.updates("douyin", updates[0][0])] == [second]
    assert store.updates("taobao", START) == []


def test_answers_are_read_in_order_after_a_position(backend: Backend) -> None:
    store = backend.grant_store()
    answers = [UpdateAnswer("douyin", 1, "A", ADD, 5), UpdateAnswer("douyin", 2, "A", TAKE, 1)]
    store.answer(answers[:1])
    store.answer([*answers[1:], UpdateAnswer("taobao", 1, "B", ADD, 4)])
    read = store.answers("douyin", START)
    assert [a for _, a in read] == answers
    assert [a for _, a in store.answers("douyin", read[0][0])] == answers[1:]
    assert [a for _, a in store.answers("taobao", START)] == [UpdateAnswer("taobao", 1, "B", ADD, 4)]


def test_line_records_are_the_committed_ones(backend: Backend) -> None:
    owner = backend.owner_store()
    epoch = owner.take_epoch(0)
    record = LineRecord(LineStatus.RESERVED, 2, "", 100.0, 900.0)
    batch = CommitBatch(
        ledgers={"A": Ledger("A", 10, 2, 0, (), 2)},
        settings={"A": SkuSettings("A")},
        new_skus=["A"],
        records={"A": ["douyin\x1fo1", encode_record(record)]},
    )
    owner.finish_commit(owner.send_commit(epoch, 0, batch))
    assert backend.grant_store().line_records() == {"A": {"douyin\x1fo1": record}}
