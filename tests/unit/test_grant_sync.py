"""GrantSync (the plain class) on in-memory stores, with platforms that apply its updates
through their own ``PlatformCounters`` (as a connector would) and sell through the SKU
owner: grants only from free stock, take-backs answered, headroom never negative, and a
restarted sync that resends instead of granting again."""

from __future__ import annotations

from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from actors.sync.grant_store import InMemoryGrantStore
from actors.sync.grants import GrantSync
from actors.sync.store import START, InMemorySyncStore
from policies.grants import PlatformCounters
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve, Restock

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1)
PLATFORMS = ("douyin", "kuaishou", "taobao")
SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Connectors:
    """Each platform's connector: reads the updates sent to it, applies them to the
    platform's counters, writes the answers."""

    def __init__(self, grants: InMemoryGrantStore) -> None:
        self.grants = grants
        self.platforms = {p: PlatformCounters(p) for p in PLATFORMS}
        self.read = dict.fromkeys(PLATFORMS, START)

    def run(self, *, silent: frozenset[str] = frozenset()) -> None:
        for platform, counters in self.platforms.items():
            for position, update in self.grants.updates(platform, self.read[platform]):
                self.read[platform] = position
                if platform not in silent:
                    self.grants.answer(counters.receive(update))


def setup(stock: int = 100) -> tuple[SkuOwner, MemoryLedgers, InMemoryGrantStore, FakeClock]:
    data = MemoryLedgers()
    owner = SkuOwner(CONFIG, 0, InMemoryOwnerStore(CONFIG, data))
    owner.apply([DefineSku(SkuSettings("HOT"), stock)])
    return owner, data, InMemoryGrantStore(data), FakeClock()


def new_sync(data: MemoryLedgers, grants: InMemoryGrantStore, clock: FakeClock) -> GrantSync:
    return GrantSync(
        InMemorySyncStore(data), grants, SHARES, PLATFORMS, max_pushes_per_second=1000, clock=clock
    )


def tick(sync: GrantSync, clock: FakeClock, connectors: Connectors, **kw: frozenset[str]) -> None:
    clock.now += 1.0
    sync.step(block_ms=0)
    connectors.run(**kw)
    sync.step(block_ms=0)
    assert all(units >= 0 for units in sync.headroom().values())


def test_the_pool_is_granted_by_share_and_platform_sales_consume_their_grants() -> None:
    owner, data, grants, clock = setup()
    sync, connectors = new_sync(data, grants, clock), Connectors(grants)
    tick(sync, clock, connectors)
    counters = connectors.platforms
    assert {p: c.counter("HOT") for p, c in counters.items()} == {"douyin": 50, "taobao": 30, "kuaishou": 20}
    assert grants.headroom() == {"HOT": 0}
    for n in range(20):  # kuaishou sells its whole grant, flashstock hears of it
        assert counters["kuaishou"].sell("HOT", 1)
        owner.apply([Reserve("kuaishou", f"k{n}", "HOT", 1, 1.0)])
    assert not counters["kuaishou"].sell("HOT", 1)
    tick(sync, clock, connectors)
    tick(sync, clock, connectors)  # take-backs answered, the freed units granted
    assert counters["kuaishou"].counter("HOT") > 0
    assert sum(c.counter("HOT") for c in counters.values()) == 80
    assert sync.book.outstanding("kuaishou", "HOT") == counters["kuaishou"].counter("HOT")


def test_a_restock_is_granted_and_a_silent_platform_keeps_what_it_holds() -> None:
    owner, data, grants, clock = setup()
    sync, connectors = new_sync(data, grants, clock), Connectors(grants)
    tick(sync, clock, connectors)
    owner.apply([Restock("HOT", 50, "t1")])
    tick(sync, clock, connectors, silent=frozenset({"taobao"}))
    counters = connectors.platforms
    assert counters["taobao"].counter("HOT") == 30  # it heard nothing: it keeps its 30
    assert counters["douyin"].counter("HOT") + counters["kuaishou"].counter("HOT") <= 120
    assert sync.book.silent("taobao")
    assert sync.headroom()["HOT"] >= 0


def test_a_restarted_sync_resends_what_was_not_answered_and_grants_nothing_twice() -> None:
    _, data, grants, clock = setup()
    sync, connectors = new_sync(data, grants, clock), Connectors(grants)
    clock.now += 1.0
    sent = sync.step(block_ms=0)
    assert sum(u.units for u in sent) == 100
    restarted = new_sync(data, grants, clock)  # the answers never came
    clock.now += 1.0
    assert restarted.step(block_ms=0) == []  # nothing new: all 100 units are granted
    clock.now += 10.0
    resent = restarted.step(block_ms=0)
    assert sorted(resent) == sorted(sent)  # the same ids: a connector applies each once
    connectors.run()
    connectors.run()
    assert {p: c.counter("HOT") for p, c in connectors.platforms.items()} == {
        "douyin": 50,
        "taobao": 30,
        "kuaishou": 20,
    }
