"""ChannelSync (the plain class) on in-memory stores: it follows the owners' ledger log
and publishes what each platform may show, never more than the pool under ``share``."""

from __future__ import annotations

import pytest

from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from actors.sync.core import ChannelSync
from actors.sync.store import InMemorySyncStore
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve, Restock
from tests.support import FakeClock

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1)
SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


@pytest.fixture
def data() -> MemoryLedgers:
    return MemoryLedgers()


@pytest.fixture
def owner(data: MemoryLedgers) -> SkuOwner:
    owner = SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, data))
    owner.apply([DefineSku(SkuSettings("HOT"), 300)])
    return owner


def shown(store: InMemorySyncStore, sku: str = "HOT") -> dict[str, int]:
    return {channel: store.visible(channel).get(sku, 0) for channel in SHARES}


def test_publishes_the_committed_stock_split_by_share_at_start(owner: SkuOwner, data: MemoryLedgers) -> None:
    store = InMemorySyncStore(data)
    sync = ChannelSync(store, SHARES, max_pushes_per_second=1000, clock=FakeClock())

    assert sync.step(block_ms=0) == 3
    assert shown(store) == {"douyin": 150, "taobao": 90, "kuaishou": 60}


@pytest.mark.parametrize(("policy", "most_shown"), [("share", 1), ("everywhere", 3)])
def test_visible_stock_follows_sales_and_never_exceeds_the_pool_under_share(
    owner: SkuOwner, data: MemoryLedgers, policy: str, most_shown: int
) -> None:
    clock = FakeClock()
    store = InMemorySyncStore(data)
    sync = ChannelSync(store, SHARES, policy=policy, max_pushes_per_second=1000, clock=clock)
    sync.step(block_ms=0)
    assert sum(shown(store).values()) == most_shown * 300

    owner.apply([Reserve("douyin", f"o{n}", "HOT", 1) for n in range(120)])
    clock.now += 1.0
    sync.step(block_ms=0)

    assert sum(shown(store).values()) == most_shown * 180
    if policy == "share":
        assert shown(store)["douyin"] > 180 * SHARES["douyin"]  # douyin sells: it gets more


def test_restocks_are_not_counted_as_a_channel_demand(owner: SkuOwner, data: MemoryLedgers) -> None:
    sync = ChannelSync(InMemorySyncStore(data), SHARES, clock=FakeClock())
    owner.apply([Restock("HOT", 100, "t1")])
    sync.step(block_ms=0)

    assert sync.available["HOT"] == 400
    assert sync.demand == {}


def test_publishes_at_most_once_per_push_interval_and_only_changes(
    owner: SkuOwner, data: MemoryLedgers
) -> None:
    clock = FakeClock()
    store = InMemorySyncStore(data)
    sync = ChannelSync(store, SHARES, max_pushes_per_second=2, clock=clock)
    assert sync.step(block_ms=0) == 3
    owner.apply([Reserve("douyin", "o1", "HOT", 10)])
    assert sync.step(block_ms=0) == 0  # inside the 0.5 s interval
    clock.now += 0.5
    published = sync.step(block_ms=0)
    assert 0 < published <= 3
    assert sync.step(block_ms=0) == 0  # nothing new
    assert len(store.changes) == 3 + published


def test_a_restarted_sync_republishes_the_current_allocation(owner: SkuOwner, data: MemoryLedgers) -> None:
    owner.apply([Reserve("taobao", "o1", "HOT", 100)])
    store = InMemorySyncStore(data)
    ChannelSync(store, SHARES, clock=FakeClock()).step(block_ms=0)

    assert sum(shown(store).values()) == 200


def test_an_unknown_policy_is_refused_with_its_name(data: MemoryLedgers) -> None:
    with pytest.raises(ValueError, match="'magic'"):
        ChannelSync(InMemorySyncStore(data), SHARES, policy="magic")
