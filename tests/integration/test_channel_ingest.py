"""ChannelIngest against a real redis-server, deciding through a real SkuOwner (no Ray):
streams, consumer groups, redelivery, dead letters, compensation, webhooks. Each test runs
on a redis-server and again on a real Redis Cluster (the channel's keys and the owner's
partitions spread over its primaries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Unpack

import pytest

from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.ingest.core import ChannelIngest, WebhookRejected
from actors.ingest.store import RedisIngestStore
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import DefineSku, Operation
from tests.support import IngestOptions, one_shard_config, signed_headers

PLACED = 1_764_000_000.0
NOW = 1_731_326_400.0  # when the test's webhooks are received (unix seconds)
SECRET = b"douyin-shared-secret"


def order(order_id: str, *lines: tuple[str, int], paid: bool = False) -> dict[str, object]:
    return {
        "type": "order",
        "order_id": order_id,
        "buyer_id": "b1",
        "placed_at": PLACED,
        "paid": paid,
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines],
    }


def douyin_order(order_id: int, sku: str, units: int) -> dict[str, object]:
    data = {
        "p_id": order_id,
        "create_time": 1_764_000_000,
        "buyer_id": "dy-buyer",
        "sku_order_list": [{"out_sku_id": sku, "item_num": units, "pay_amount": 29900}],
    }
    return {"tag": "100", "msg_id": f"m{order_id}", "data": json.dumps(data)}


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def config(request: pytest.FixtureRequest, redis_server: RedisServer) -> StoreConfig:
    """Where the channel's ingest and the owner keep their keys: a redis-server or the
    Redis Cluster."""
    return one_shard_config(request, redis_server.url)


@pytest.fixture
def owner(config: StoreConfig) -> SkuOwner:
    stock = SkuOwner(config, 0, RedisOwnerStore(config))
    stock.apply([DefineSku(SkuSettings("A"), 10), DefineSku(SkuSettings("B"), 3)])
    return stock


def ingest_for(
    config: StoreConfig,
    owner: SkuOwner,
    channel: str = "mini",
    fmt: str = "generic",
    **options: Unpack[IngestOptions],
) -> ChannelIngest:
    store = RedisIngestStore.connect(config, channel)
    return ChannelIngest(channel, fmt, store, owner.apply, **options)


def decisions_stream(ingest: ChannelIngest) -> list[dict[str, str]]:
    names = ("kind", "order_id", "accepted", "reason", "failed_sku", "duplicate", "lines")
    return [dict(zip(names, fields, strict=False)) for fields in ingest.store.published()]


def test_stream_orders_are_decided_published_and_acknowledged(config: StoreConfig, owner: SkuOwner) -> None:
    ingest = ingest_for(config, owner)
    ingest.store.enqueue([order("o1", ("A", 4)), order("o2", ("A", 7))])
    assert ingest.poll() == 0  # first call finishes this consumer's own pending entries
    assert ingest.poll(block_ms=1000) == 2

    published = decisions_stream(ingest)
    assert [(d["order_id"], d["accepted"], d["reason"]) for d in published] == [
        ("o1", "1", ""),
        ("o2", "0", "insufficient"),
    ]
    assert owner.ledger("A") == Ledger("A", 10, 4, 0, (), 2)
    assert ingest.stats() == {"orders": 2, "accepted": 1, "pending": 0}
    # the generic channel asks first (reserve-first): o2 is a sold-out, not an oversell
    assert owner.committed_oversold == {}


def test_redelivered_order_is_decided_once(config: StoreConfig, owner: SkuOwner) -> None:
    ingest = ingest_for(config, owner, "douyin", "douyin")
    ingest.store.enqueue([douyin_order(901, "A", 6), douyin_order(901, "A", 6)])
    ingest.poll()
    ingest.poll(block_ms=1000)
    first, again = decisions_stream(ingest)
    assert (first["accepted"], first["duplicate"]) == ("1", "0")
    assert (again["accepted"], again["duplicate"]) == ("1", "1")
    assert owner.ledger("A") == Ledger("A", 10, 6, 0, (), 2)


def test_entries_of_a_consumer_that_died_before_ack_are_claimed_and_decided_once(
    config: StoreConfig, owner: SkuOwner
) -> None:
    def decide_then_crash(ops: Sequence[Operation]) -> list[Decision]:
        owner.apply(ops)  # the decisions are durable...
        raise RuntimeError("killed before XACK")  # ...but the entries are never acknowledged

    store = RedisIngestStore.connect(config, "mini")
    doomed = ChannelIngest("mini", "generic", store, decide_then_crash, consumer="doomed")
    doomed.store.enqueue([order("o1", ("A", 3)), order("o2", ("B", 2))])
    doomed.poll()
    with pytest.raises(RuntimeError):
        doomed.poll(block_ms=1000)
    assert doomed.stats()["pending"] == 2

    rescuer = ingest_for(config, owner, consumer="rescuer", claim_idle_ms=0)
    assert rescuer.claim_stale() == 2
    published = decisions_stream(rescuer)
    assert [(d["order_id"], d["accepted"], d["duplicate"]) for d in published] == [
        ("o1", "1", "1"),
        ("o2", "1", "1"),
    ]
    assert owner.ledger("A") == Ledger("A", 10, 3, 0, (), 2)
    assert owner.ledger("B") == Ledger("B", 3, 2, 0, (), 2)
    assert rescuer.stats()["pending"] == 0


def test_consumer_restart_finishes_its_own_pending_entries(config: StoreConfig, owner: SkuOwner) -> None:
    first = ingest_for(config, owner, consumer="same")
    first.store.enqueue([order("o1", ("A", 1))])
    first.poll()
    # read but not processed (the process died right after XREADGROUP)
    assert len(first.store.read("same", 10, pending=False)) == 1
    restarted = ingest_for(config, owner, consumer="same")
    assert restarted.poll() == 1
    assert restarted.stats()["pending"] == 0
    assert owner.ledger("A") == Ledger("A", 10, 1, 0, (), 2)


def test_multi_line_order_is_all_or_nothing(config: StoreConfig, owner: SkuOwner) -> None:
    ingest = ingest_for(config, owner)
    result = ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))])
    (decision,) = result.orders
    assert not decision.accepted
    assert (decision.reason, decision.failed_sku) == ("insufficient", "B")
    assert owner.ledger("A") == Ledger("A", 10, 0, 0, (), 3)  # reserved, then released
    assert owner.records["A"]["mini\x1fbig"].reason == "order_incomplete:B"
    # redelivery: same decision, the compensation is recognised as already applied
    again = ingest.process([json.dumps(order("big", ("A", 2), ("B", 5)))]).orders[0]
    assert (again.accepted, again.failed_sku, again.duplicate) == (False, "B", True)
    assert owner.ledger("A") == Ledger("A", 10, 0, 0, (), 3)


def test_payment_and_cancel_that_name_only_the_order_find_its_lines(
    config: StoreConfig, owner: SkuOwner
) -> None:
    ingest = ingest_for(config, owner)
    ingest.process([json.dumps(order("o1", ("A", 2), ("B", 1))), json.dumps(order("o2", ("A", 3)))])
    result = ingest.process(
        [
            json.dumps({"type": "payment", "order_id": "o1", "paid_at": PLACED + 60}),
            json.dumps({"type": "cancel", "order_id": "o2", "reason": "buyer_cancelled"}),
            json.dumps({"type": "payment", "order_id": "never-seen", "paid_at": PLACED}),
        ]
    )
    assert [(n.kind, n.order_id, n.accepted, n.reason) for n in result.notices] == [
        ("payment", "o1", True, ""),
        ("cancel", "o2", True, ""),
        ("payment", "never-seen", False, "unknown_order"),
    ]
    assert owner.ledger("A") == Ledger("A", 10, 0, 2, (), 5)
    assert owner.ledger("B") == Ledger("B", 3, 0, 1, (), 3)


def test_unreadable_messages_are_dead_lettered_with_their_reason(
    config: StoreConfig, owner: SkuOwner
) -> None:
    ingest = ingest_for(config, owner)
    bad: list[bytes | str] = [b"{not json", json.dumps(order("o9", ("A", 0))), json.dumps({"type": "order"})]
    ingest.store.enqueue([*bad, order("ok", ("A", 1))])
    ingest.poll()
    ingest.poll(block_ms=1000)
    letters = ingest.store.dead_letters()
    assert [letter.raw for letter in letters] == [b.decode() if isinstance(b, bytes) else b for b in bad]
    assert "not valid JSON" in letters[0].reason
    assert letters[1].reason == "lines[0].quantity must be between 1 and 100000, got 0"
    assert letters[1].order_id == "o9"
    assert letters[2].reason == "message.order_id is missing"
    assert ingest.stats() == {"orders": 1, "accepted": 1, "dead": 3, "pending": 0}
    assert owner.ledger("A") == Ledger("A", 10, 1, 0, (), 2)


def test_signed_webhook_batch_is_applied(config: StoreConfig, owner: SkuOwner) -> None:
    ingest = ingest_for(config, owner, "douyin", "douyin", secret=SECRET)
    body = json.dumps([douyin_order(1, "A", 2), douyin_order(2, "B", 1)]).encode()
    result = ingest.ingest_signed(body, signed_headers(SECRET, body, NOW), NOW)
    assert [o.accepted for o in result.orders] == [True, True]
    assert owner.ledger("A") == Ledger("A", 10, 2, 0, (), 2)


@pytest.mark.parametrize("signature", [None, "", "v1," + "A" * 44, "not-a-signature"])
def test_tampered_or_unsigned_webhook_is_rejected_and_deducts_nothing(
    config: StoreConfig, owner: SkuOwner, signature: str | None
) -> None:
    ingest = ingest_for(config, owner, "douyin", "douyin", secret=SECRET)
    body = json.dumps([douyin_order(1, "A", 2)]).encode()
    tampered = body.replace(b"29900", b"1")  # the buyer's client lowers the price
    assert tampered != body
    signed = signed_headers(SECRET, body, NOW)
    for sent_body, sent in ((tampered, signed), (body, signed._replace(signature=signature))):
        with pytest.raises(WebhookRejected):
            ingest.ingest_signed(sent_body, sent, NOW)
    assert owner.ledger("A") == Ledger("A", 10, 0, 0, (), 1)
    assert ingest.store.published() == []


def test_a_sold_out_is_an_oversell_only_on_a_platform_first_channel(
    config: StoreConfig, owner: SkuOwner
) -> None:
    platform = ingest_for(config, owner, "douyin", "douyin")  # the platform sold it already
    asking = ingest_for(config, owner, "mini", "generic")  # the mini-program asked first
    assert (platform.mode, asking.mode) == ("platform-first", "reserve-first")
    asking.process([json.dumps(order("m1", ("B", 3))), json.dumps(order("m2", ("B", 1)))])
    assert owner.committed_oversold.get("B", {}) == {}
    assert asking.store.cancellation_requests() == []
    platform.process([douyin_order(7001, "B", 1)])
    platform.process([douyin_order(7001, "B", 1)])  # redelivered: counted and cancelled once
    assert owner.committed_oversold["B"] == {"douyin": 1}
    assert [(c.order_id, c.reason) for c in platform.store.cancellation_requests()] == [
        ("7001", "insufficient")
    ]
    reloaded = SkuOwner(config, 0, RedisOwnerStore(config))
    assert reloaded.committed_oversold["B"] == {"douyin": 1}
