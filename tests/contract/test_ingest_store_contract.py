"""One behaviour for both ingest stores: every test runs against ``MemoryIngestStore`` and
against ``RedisIngestStore`` on a real redis-server and on a real Redis Cluster (where
the publish transaction must stay in the channel's slot), so the in-memory store the
unit tests use cannot drift from the real one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest
import redis

from actors.infra.settings import StoreConfig
from actors.ingest.core import ChannelIngest
from actors.ingest.memory_store import MemoryIngestStore
from actors.ingest.store import (
    SCAN_START,
    DeadLetter,
    InboxMoved,
    InboxRange,
    IngestStore,
    Publication,
    RedisIngestStore,
)
from policies.channels import Unreadable
from policies.ledger import Decision
from policies.operations import Operation
from policies.orders import CancellationRequest, NoticeDecision, OrderDecision, RecordedOrder
from tests.unit.test_ingest_core import PLACED, PureOwner, order


@pytest.fixture(params=["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def store(request: pytest.FixtureRequest) -> Iterator[IngestStore]:
    if request.param == "memory":
        yield MemoryIngestStore()
        return
    config: StoreConfig = request.getfixturevalue(
        "cluster_config" if request.param == "cluster" else "config"
    )
    redis_store = RedisIngestStore.connect(config, "mini")
    yield redis_store
    redis_store.redis.close()


def reserved(sku: str, quantity: int) -> Decision:
    return Decision("reserve", sku, f"mini/o-{sku}", True, "reserved", quantity, 5)


def publication(
    *,
    orders: Sequence[OrderDecision] = (),
    notices: Sequence[NoticeDecision] = (),
    dead: Sequence[Unreadable] = (),
    order_index: Mapping[str, RecordedOrder] | None = None,
    counts: Mapping[str, int] | None = None,
    acknowledged: Sequence[str] = (),
    read_range: InboxRange | None = None,
) -> Publication:
    return Publication(
        orders, notices, dead, order_index or {}, counts or {}, acknowledged, read_range=read_range
    )


def drain(ingest: ChannelIngest) -> None:
    """Poll until two polls in a row handle nothing (the first may only have rewound)."""
    idle = 0
    for _ in range(100):
        idle = 0 if ingest.poll(block_ms=0) else idle + 1
        if idle == 2:
            return
    raise AssertionError("the ingest kept finding entries")


def decided_through(store: IngestStore, entry_ids: Sequence[str], **counts: int) -> None:
    """Publish a batch of the entries ``entry_ids`` read untracked, in order."""
    store.publish(publication(counts=counts, read_range=InboxRange(entry_ids[0], entry_ids[-1])))


# ---- the store ------------------------------------------------------------------------


def test_new_entries_are_delivered_once_and_stay_pending_until_acknowledged(store: IngestStore) -> None:
    ids = store.enqueue([order("o1", ("A", 1)), json.dumps(order("o2", ("A", 2))), b"raw bytes"])
    assert len(ids) == 3
    assert store.inbox_length() == 3
    first = store.read("c1", 2, pending=False)
    assert [e.entry_id for e in first] == ids[:2]
    assert json.loads(first[0].message) == order("o1", ("A", 1))
    assert [e.message for e in store.read("c2", 10, pending=False)] == [b"raw bytes"]
    assert store.read("c1", 10, pending=False) == []
    assert store.pending() == 3
    assert [e.entry_id for e in store.read("c1", 10, pending=True)] == ids[:2]
    store.publish(publication(acknowledged=ids[:1]))
    assert [e.entry_id for e in store.read("c1", 10, pending=True)] == ids[1:2]
    assert store.pending() == 2


def test_claim_hands_idle_entries_of_any_consumer_over(store: IngestStore) -> None:
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(3)])
    store.read("gone", 10, pending=False)
    page = store.claim("rescuer", 0, SCAN_START, 2)
    assert [e.entry_id for e in page.entries] == ids[:2]
    assert page.trimmed == 0
    rest = store.claim("rescuer", 0, page.next_start, 2)
    assert [e.entry_id for e in rest.entries] == ids[2:]
    assert rest.next_start == SCAN_START
    assert [e.entry_id for e in store.read("rescuer", 10, pending=True)] == ids
    assert store.read("gone", 10, pending=True) == []


def test_claim_leaves_entries_that_are_not_idle_long_enough(store: IngestStore) -> None:
    store.enqueue([order("o1", ("A", 1))])
    store.read("busy", 10, pending=False)
    assert store.claim("rescuer", 60_000, SCAN_START, 10).entries == []


def test_publication_writes_decisions_index_dead_letters_and_counters(store: IngestStore) -> None:
    (entry_id,) = store.enqueue([b"x"])
    store.read("c1", 10, pending=False)
    accepted = OrderDecision("mini", "o1", True, "", "", (reserved("A", 2), reserved("B", 1)), False)
    notice = NoticeDecision("payment", "o0", False, "unknown_order", ())
    letter = Unreadable("mini", "message.order_id is missing", '{"type": "order"}', "")
    store.publish(
        publication(
            orders=[accepted],
            notices=[notice],
            dead=[letter],
            order_index={"o1": RecordedOrder((("A", 2, "reserved", ""), ("B", 1, "reserved", "")), True)},
            counts={"orders": 1, "accepted": 1, "notices": 1, "dead": 1},
            acknowledged=[entry_id],
        )
    )
    assert store.published() == [
        ["order", "o1", "1", "", "", "0", "A:2:reserved;B:1:reserved"],
        ["payment", "o0", "0", "unknown_order"],
    ]
    assert store.order_skus(["o1", "o0"]) == {"o1": ["A", "B"]}
    assert store.dead_letters() == [DeadLetter("message.order_id is missing", '{"type": "order"}', "")]
    assert store.counters() == {"orders": 1, "accepted": 1, "notices": 1, "dead": 1}
    store.publish(publication(counts={"orders": 2}))
    assert store.counters()["orders"] == 3
    assert store.pending() == 0


def test_an_order_record_is_written_once_and_never_overwritten(store: IngestStore) -> None:
    first = RecordedOrder((("A", 2, "reserved", ""),), True)
    rejected = RecordedOrder((("X", 1, "", "unknown_sku"),), False, "unknown_sku", "X")
    store.publish(publication(order_index={"o1": first, "o2": rejected}))
    store.publish(publication(order_index={"o1": RecordedOrder((("B", 5, "reserved", ""),), True)}))
    assert store.recorded_orders(["o1", "o2", "o3"]) == {"o1": first, "o2": rejected}
    assert store.order_skus(["o1", "o2"]) == {"o1": ["A"]}  # a rejected order has nothing to pay


def test_one_publication_of_everything_at_once_writes_each_part_whole(store: IngestStore) -> None:
    # every part of a publication together, each several times, with more records and
    # acknowledged entries than the Redis store's script writes in one command (chunks
    # of 2,000 records and of 4,000 ids): the records recorded before stand at a chunk's
    # last and next position and keep their first value
    entry_ids = store.enqueue([b"x"] * 4_500)
    assert len(store.read("c1", 5_000, pending=False)) == 4_500
    before = RecordedOrder((("OLD", 1, "reserved", ""),), True)
    store.publish(publication(order_index={"o1999": before, "o2000": before}))
    records = {f"o{n}": RecordedOrder(((f"S{n}", n % 3 + 1, "reserved", ""),), True) for n in range(4_100)}
    letters = [
        Unreadable("mini", "message.order_id is missing", '{"type": "order"}', ""),
        Unreadable("mini", "message.sku is missing", '{"order_id": "o9"}', "o9"),
    ]
    requests = [
        CancellationRequest("mini", "o1", ("A", "B"), "insufficient", "5 units asked, 3 available"),
        CancellationRequest("mini", "o2", ("X",), "unknown_sku", "sku 'X' is not in the catalogue"),
    ]
    orders = [OrderDecision("mini", "o1", True, "", "", (reserved("A", 2),), False)]
    notices = [NoticeDecision("cancel", "o0", False, "unknown_order", ())]
    store.publish(
        Publication(
            orders,
            notices,
            letters,
            records,
            {"orders": 1, "dead": 2, "cancel_requests": 2},
            entry_ids,
            requests,
        )
    )
    assert store.published() == [
        ["order", "o1", "1", "", "", "0", "A:2:reserved"],
        ["cancel", "o0", "0", "unknown_order"],
    ]
    assert store.dead_letters() == [DeadLetter(u.reason, u.raw, u.order_id) for u in letters]
    assert store.cancellation_requests() == requests
    assert store.counters() == {"orders": 1, "dead": 2, "cancel_requests": 2}
    assert store.recorded_orders(list(records)) == records | {"o1999": before, "o2000": before}
    assert store.pending() == 0


def test_a_lookup_of_thousands_of_ids_finds_each_recorded_one_wherever_it_stands(store: IngestStore) -> None:
    # more ids than one HMGET takes in the store's script (chunks of 4,000): the records
    # stand at the first and last position of a chunk and at the end
    positions = (0, 3999, 4000, 7999, 8000, 9999)
    known = {n: RecordedOrder(((f"S{n}", 1, "reserved", ""),), True) for n in positions}
    store.publish(publication(order_index={f"o{n}": record for n, record in known.items()}))
    ids = [f"o{n}" for n in range(10_000)]
    assert store.recorded_orders(ids) == {f"o{n}": record for n, record in known.items()}
    assert store.order_skus(ids[::-1][:2]) == {"o9999": ["S9999"]}


def test_an_order_record_is_kept_for_one_retention_window_and_at_most_two(store: IngestStore) -> None:
    assert isinstance(store, MemoryIngestStore | RedisIngestStore)
    retention = 600.0
    # 30 s into the window of the real time (Redis expires by its own clock)
    now = [time.time() // retention * retention + 30]
    store.clock, store.retention_seconds = (lambda: now[0]), retention
    first = RecordedOrder((("A", 2, "reserved", ""),), True)
    store.publish(publication(order_index={"o1": first}))

    now[0] += retention - 31  # the last second of the window it was written in
    assert store.recorded_orders(["o1"]) == {"o1": first}
    now[0] += retention  # the last second of the next window: at least one window kept
    store.publish(publication(order_index={"o1": RecordedOrder((("B", 5, "reserved", ""),), True)}))
    assert store.recorded_orders(["o1"]) == {"o1": first}  # the first record still wins
    now[0] += 1  # the window after next: its window has expired
    assert store.recorded_orders(["o1"]) == {"o1": RecordedOrder((("B", 5, "reserved", ""),), True)}
    now[0] += 2 * retention
    assert store.recorded_orders(["o1"]) == {}


@pytest.mark.parametrize("changed_to", [600.0 * 24, 600.0 / 10])
def test_a_redelivered_order_finds_its_first_decision_after_the_retention_window_changes(
    store: IngestStore, changed_to: float
) -> None:
    assert isinstance(store, MemoryIngestStore | RedisIngestStore)
    retention = 600.0
    now = [time.time() // retention * retention + 30]
    store.clock, store.retention_seconds = (lambda: now[0]), retention
    first = RecordedOrder((("A", 2, "reserved", ""),), True)
    store.publish(publication(order_index={"o1": first}))

    store.retention_seconds = changed_to  # the operator changed the window; o1 is 10 s old
    now[0] += 10
    assert store.recorded_orders(["o1"]) == {"o1": first}
    store.publish(publication(order_index={"o1": RecordedOrder((("B", 5, "reserved", ""),), True)}))
    assert store.recorded_orders(["o1"]) == {"o1": first}  # the first record still wins


def test_cancellation_requests_are_recorded_in_order(store: IngestStore) -> None:
    requests = [
        CancellationRequest("mini", "o1", ("A", "B"), "insufficient", "5 units asked, 3 available"),
        CancellationRequest("mini", "o2", ("X",), "unknown_sku", "sku 'X' is not in the catalogue"),
    ]
    store.publish(Publication([], [], [], {}, {}, [], requests[:1]))
    store.publish(Publication([], [], [], {}, {}, [], requests[1:]))
    assert store.cancellation_requests() == requests


def test_an_empty_store_knows_no_orders_and_counts_nothing(store: IngestStore) -> None:
    assert store.order_skus([]) == {}
    assert store.order_skus(["o1"]) == {}
    assert store.counters() == {}
    assert store.published() == []
    assert store.dead_letters() == []
    assert store.cancellation_requests() == []
    assert store.pending() == 0
    assert store.inbox_length() == 0


# ---- the core on each store -----------------------------------------------------------


def test_multi_line_orders_are_all_or_nothing_and_redelivery_decides_once(store: IngestStore) -> None:
    owner = PureOwner({"A": 10, "B": 3})
    ingest = ChannelIngest("mini", "generic", store, owner.submit)
    store.enqueue([order("big", ("A", 2), ("B", 5)), order("ok", ("A", 4)), order("ok", ("A", 4))])
    ingest.poll()
    assert ingest.poll() == 3
    assert [fields[:6] for fields in store.published()] == [
        ["order", "big", "0", "insufficient", "B", "0"],
        ["order", "ok", "1", "", "", "0"],
        ["order", "ok", "1", "", "", "1"],
    ]
    assert owner.held("A") == (4, 0)
    assert ingest.stats() == {"orders": 3, "accepted": 2, "pending": 0}


def test_payments_and_cancels_by_order_id_and_dead_letters(store: IngestStore) -> None:
    owner = PureOwner({"A": 10})
    ingest = ChannelIngest("mini", "generic", store, owner.submit)
    ingest.process([json.dumps(order("o1", ("A", 2))), json.dumps(order("o2", ("A", 3)))])
    result = ingest.process(
        [
            json.dumps({"type": "payment", "order_id": "o1", "paid_at": PLACED + 60}),
            json.dumps({"type": "cancel", "order_id": "o2"}),
            json.dumps({"type": "order"}),
        ]
    )
    assert [(n.kind, n.accepted) for n in result.notices] == [("payment", True), ("cancel", True)]
    assert [letter.reason for letter in store.dead_letters()] == ["message.order_id is missing"]
    assert owner.held("A") == (0, 2)


def test_entries_of_a_consumer_that_died_are_claimed_and_decided_once(store: IngestStore) -> None:
    owner = PureOwner({"A": 10})
    store.enqueue([order("o1", ("A", 3))])
    store.read("doomed", 10, pending=False)
    rescuer = ChannelIngest("mini", "generic", store, owner.submit, consumer="rescuer", claim_idle_ms=0)
    assert rescuer.claim_stale() == 1
    assert rescuer.claim_stale() == 0
    assert owner.held("A") == (3, 0)
    assert rescuer.stats()["pending"] == 0


def test_trimming_removes_only_entries_decided_and_acknowledged(store: IngestStore) -> None:
    assert store.trim_decided() == 0  # no inbox, nothing read yet
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(6)])
    assert store.trim_decided() == 0  # nothing delivered
    store.read("c1", 2, pending=False)
    store.read("c2", 2, pending=False)  # ids 0-3 delivered, 4-5 not
    store.publish(publication(acknowledged=[ids[0], ids[2]]))
    # ids[1] is still pending with c1: it and every later entry stay
    assert store.trim_decided() == 1
    assert store.inbox_length() == 5
    assert [e.entry_id for e in store.read("c1", 10, pending=True)] == [ids[1]]
    assert [e.entry_id for e in store.read("c2", 10, pending=True)] == [ids[3]]
    store.publish(publication(acknowledged=[ids[1], ids[3]]))
    # nothing pending: every delivered entry goes, the undelivered stay
    assert store.trim_decided() == 3
    assert [e.entry_id for e in store.read("c3", 10, pending=False)] == ids[4:]
    assert store.trim_decided() == 0  # delivered but pending
    assert store.inbox_length() == 2
    store.publish(publication(acknowledged=ids[4:]))
    assert store.trim_decided() == 2
    assert store.inbox_length() == 0
    later = store.enqueue([order("late", ("A", 1))])
    assert later[0] not in ids  # ids never repeat after a trim
    assert [e.entry_id for e in store.read("c1", 10, pending=False)] == later


def test_an_ingest_trims_what_it_decided_and_a_redelivery_still_decides_once(store: IngestStore) -> None:
    owner = PureOwner({"A": 10})
    ingest = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1")
    store.enqueue([order("o1", ("A", 2)), order("o2", ("A", 3))])
    assert ingest.poll(block_ms=0) == 0  # first its own pending entries (after a restart): none
    assert ingest.poll(block_ms=0) == 2
    assert ingest.trim_inbox() == 2
    assert store.inbox_length() == 0
    store.enqueue([order("o1", ("A", 2))])  # the platform sends o1 again
    assert ingest.poll(block_ms=0) == 1
    assert owner.held("A") == (5, 0)


def test_backlog_counts_pending_and_undelivered_entries(store: IngestStore) -> None:
    assert store.backlog() == (0, 0)
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(5)])
    store.read("c1", 2, pending=False)
    assert store.backlog() == (2, 3)
    store.publish(publication(acknowledged=ids[:1]))
    assert store.backlog() == (1, 3)
    store.trim_decided()
    assert store.backlog() == (1, 3)  # trimming gives back space, not work


# ---- reading without the pending list: the saved position --------------------------------


def test_untracked_entries_are_read_once_and_a_rewind_delivers_what_follows_the_position(
    store: IngestStore,
) -> None:
    assert store.rewind() is False  # no position saved: nothing to go back to
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(6)])
    first = store.read("c1", 2, pending=False, tracked=False)
    assert [e.entry_id for e in first] == ids[:2]
    assert store.pending() == 0  # nothing on the pending list
    decided_through(store, ids[:2])  # the first publication saves the position
    assert [e.entry_id for e in store.read("c1", 3, pending=False, tracked=False)] == ids[2:5]
    # read and not decided (the reader died): a rewind delivers them again, and the rest
    assert store.rewind() is True
    assert [e.entry_id for e in store.read("c2", 10, pending=False, tracked=False)] == ids[2:]
    decided_through(store, ids[2:])
    assert store.rewind() is True
    assert store.read("c2", 10, pending=False, tracked=False) == []  # every entry decided


def test_a_batch_that_does_not_start_right_after_the_position_is_refused_whole(store: IngestStore) -> None:
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(6)])
    store.read("c1", 2, pending=False, tracked=False)
    decided_through(store, ids[:2], orders=2)
    held = [entry.entry_id for entry in store.read("c9", 2, pending=False)]  # ids[2:4], tracked
    refused = OrderDecision("mini", "late", True, "", "", (reserved("A", 1),), False)
    before = (store.published(), store.counters())
    for stale in (InboxRange(ids[0], ids[1]), InboxRange(ids[1], ids[3]), InboxRange(ids[3], ids[4])):
        # published already / overlapping it / skipping ids[2], which no one decided
        with pytest.raises(InboxMoved, match="does not start with the entry after it"):
            store.publish(
                Publication(
                    [refused],
                    [],
                    [],
                    {"late": RecordedOrder((("A", 1, "reserved", ""),), True)},
                    {"orders": 1},
                    held,
                    [CancellationRequest("mini", "late", ("A",), "insufficient", "")],
                    stale,
                )
            )
    assert (store.published(), store.counters()) == before  # nothing written
    assert store.recorded_orders(["late"]) == {}
    assert store.cancellation_requests() == []
    assert store.pending() == 2  # nor acknowledged
    decided_through(store, ids[2:4], orders=2)  # the position did not move: ids[2] follows it
    assert store.counters() == {"orders": 4}
    assert store.pending() == 0  # the range's publication took them off c9's pending list


def test_entries_read_past_the_position_are_backlog_and_never_trimmed(store: IngestStore) -> None:
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(5)])
    store.read("c1", 2, pending=False, tracked=False)
    decided_through(store, ids[:2])
    store.read("c1", 2, pending=False, tracked=False)  # read, being decided
    assert store.backlog() == (2, 1)
    assert store.trim_decided() == 2  # only the two decided ones
    assert store.inbox_length() == 3
    store.rewind()
    assert store.backlog() == (0, 3)  # Redis keeps the group's lag known across the rewind
    assert [e.entry_id for e in store.read("c1", 10, pending=False, tracked=False)] == ids[2:]
    decided_through(store, ids[2:])
    assert store.trim_decided() == 3
    assert store.inbox_length() == 0


def test_a_restart_decides_the_batch_a_crash_left_read_but_unpublished(store: IngestStore) -> None:
    owner = PureOwner({"A": 100})
    ingest = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=3)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(7)])
    assert ingest.poll(block_ms=0) == 0  # its own pending entries: none; then the rewind
    assert ingest.poll(block_ms=0) == 3  # tracked (no position yet); its publication saves one
    assert store.read("c1", 3, pending=False, tracked=False)  # what the crashed process read
    restarted = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=3)
    drain(restarted)
    assert sorted(fields[1] for fields in store.published()) == [f"o{n}" for n in range(7)]
    assert owner.held("A") == (7, 0)
    assert store.pending() == 0


def test_a_second_reader_deciding_the_same_batch_publishes_it_once(store: IngestStore) -> None:
    # Ray replaced an ingest actor that still runs: both read the channel. The one that
    # publishes second is refused, rewinds and goes on from the position; nothing is
    # published twice and nothing is skipped.
    owner = PureOwner({"A": 100})
    old = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=4)
    new = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=4)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4)])
    old.poll(block_ms=0)
    old.poll(block_ms=0)  # the position is saved
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4, 12)])
    raced = False

    def submit_after_the_new_reader(ops: Sequence[Operation]) -> list[Decision]:
        nonlocal raced
        if not raced:  # while the old reader decides its batch, the new one starts
            raced = True
            new.poll(block_ms=0)  # recovery: rewinds the group to the position
            assert new.poll(block_ms=0) == 4  # the same four entries, published
        return owner.submit(ops)

    old.submit = submit_after_the_new_reader
    with pytest.raises(InboxMoved):
        old.poll(block_ms=0)
    drain(old)
    drain(new)
    published = [fields[1] for fields in store.published()]
    assert sorted(published) == sorted(f"o{n}" for n in range(12))  # each once
    assert owner.held("A") == (12, 0)


def test_a_read_whose_reply_was_lost_is_decided_even_if_the_channel_goes_quiet(
    store: IngestStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = PureOwner({"A": 100})
    ingest = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=4)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4)])
    drain(ingest)  # the position is saved
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4, 8)])
    delivered = store.read

    def reply_lost(*args: object, **kwargs: object) -> list[object]:
        delivered(*args, **kwargs)  # type: ignore[arg-type]  # the group moved on
        raise redis.exceptions.ConnectionError("the reply was lost")

    monkeypatch.setattr(store, "read", reply_lost)
    with pytest.raises(redis.exceptions.ConnectionError):
        ingest.poll(block_ms=0)
    monkeypatch.setattr(store, "read", delivered)
    drain(ingest)
    assert sorted(fields[1] for fields in store.published()) == [f"o{n}" for n in range(8)]


def test_entries_a_vanished_reader_read_past_the_position_are_decided_on_a_quiet_channel(
    store: IngestStore,
) -> None:
    owner = PureOwner({"A": 100})
    ingest = ChannelIngest("mini", "generic", store, owner.submit, consumer="c1", batch_size=4)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4)])
    drain(ingest)
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(4, 8)])
    assert len(store.read("c1", 4, pending=False, tracked=False)) == 4  # then it died
    assert store.read_past() is not None
    ingest.claim_stale()  # the first scan notes where the group stands
    drain(ingest)
    assert len(store.published()) == 4  # not yet: a reader may still be deciding them
    ingest.claim_stale()  # unchanged since the last scan: read again
    drain(ingest)
    assert sorted(fields[1] for fields in store.published()) == [f"o{n}" for n in range(8)]
    assert store.read_past() is None


def test_pending_entries_past_the_position_are_decided_once_through_it(store: IngestStore) -> None:
    # a reader that started before a position existed read o4..o7 onto the pending list and
    # died; the one that saved the position claims them: decided in order through the
    # position, never also from the pending list
    owner = PureOwner({"A": 100})
    ingest = ChannelIngest(
        "mini", "generic", store, owner.submit, consumer="c1", batch_size=4, claim_idle_ms=0
    )
    store.enqueue([order(f"o{n}", ("A", 1)) for n in range(8)])
    assert ingest.poll(block_ms=0) == 0
    assert ingest.poll(block_ms=0) == 4  # tracked; the position is saved at o3
    store.read("c2", 4, pending=False)  # the other reader, still tracked
    ingest.claim_stale()
    drain(ingest)
    store.enqueue([order("o8", ("A", 1))])
    drain(ingest)
    published = [fields[1] for fields in store.published()]
    assert sorted(published) == sorted(f"o{n}" for n in range(9))  # each once
    assert store.pending() == 0


def test_a_range_publication_takes_its_entries_off_another_readers_pending_list(store: IngestStore) -> None:
    ids = store.enqueue([order(f"o{n}", ("A", 1)) for n in range(6)])
    store.read("c1", 2, pending=False)
    decided_through(store, ids[:2])
    store.read("c2", 2, pending=False)  # tracked by another reader: ids[2:4]
    store.rewind()
    store.read("c1", 4, pending=False, tracked=False)
    decided_through(store, ids[2:])
    assert store.pending() == 0
    assert store.read("c2", 10, pending=True) == []  # nothing left for it to publish again
