"""GrantSync (the plain class) on in-memory stores, with platforms that apply its updates
through their own ``PlatformCounters`` (as a connector would) and sell through the SKU
owner: grants only from free stock, take-backs answered, headroom never negative, and a
restarted sync that resends instead of granting again."""

from __future__ import annotations

from actors.infra.codec import LedgerEntry
from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from actors.sync.grant_store import InMemoryGrantStore
from actors.sync.grants import GrantSync
from actors.sync.store import START, InMemorySyncStore
from policies.grants import PlatformCounters
from policies.ledger import Reason, SkuSettings
from policies.operations import DefineSku, Hold, Reserve, Restock
from tests.support import FakeClock, OwnerDesk

CONFIG = StoreConfig("redis://unused", namespace="unit", shard_count=1)
PLATFORMS = ("douyin", "kuaishou", "taobao")
SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


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


def new_sync(owner: SkuOwner, data: MemoryLedgers, grants: InMemoryGrantStore, clock: FakeClock) -> GrantSync:
    return GrantSync(
        InMemorySyncStore(data),
        grants,
        OwnerDesk(owner),
        SHARES,
        PLATFORMS,
        max_pushes_per_second=1000,
        clock=clock,
    )


def tick(sync: GrantSync, clock: FakeClock, connectors: Connectors, **kw: frozenset[str]) -> None:
    clock.now += 1.0
    sync.step(block_ms=0)
    connectors.run(**kw)
    sync.step(block_ms=0)
    assert all(units >= 0 for units in sync.headroom().values())


def test_the_pool_is_granted_by_share_and_platform_sales_consume_their_grants() -> None:
    owner, data, grants, clock = setup()
    sync, connectors = new_sync(owner, data, grants, clock), Connectors(grants)
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
    sync, connectors = new_sync(owner, data, grants, clock), Connectors(grants)
    tick(sync, clock, connectors)
    owner.apply([Restock("HOT", 50, "t1")])
    tick(sync, clock, connectors, silent=frozenset({"taobao"}))
    counters = connectors.platforms
    assert counters["taobao"].counter("HOT") == 30  # it heard nothing: it keeps its 30
    assert counters["douyin"].counter("HOT") + counters["kuaishou"].counter("HOT") <= 120
    assert sync.book.silent("taobao")
    assert sync.headroom()["HOT"] >= 0


def test_a_restarted_sync_resends_what_was_not_answered_and_grants_nothing_twice() -> None:
    owner, data, grants, clock = setup()
    sync, connectors = new_sync(owner, data, grants, clock), Connectors(grants)
    clock.now += 1.0
    sent = sync.step(block_ms=0)
    assert sum(u.units for u in sent) == 100
    restarted = new_sync(owner, data, grants, clock)  # the answers never came
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


def held_at_owner(owner: SkuOwner) -> int:
    ledger = owner.ledger("HOT")
    assert ledger is not None
    return ledger.held


def test_granted_units_are_held_at_the_owner_and_a_reserve_first_order_cannot_take_them() -> None:
    owner, data, grants, clock = setup()
    owner.apply([Reserve("mini", "m1", "HOT", 10, 1.0, asked_first=True)])
    sync, connectors = new_sync(owner, data, grants, clock), Connectors(grants)
    tick(sync, clock, connectors)
    assert held_at_owner(owner) == sync.book.held_for_platforms("HOT") == 90

    refused = owner.apply([Reserve("mini", "m2", "HOT", 1, 2.0, asked_first=True)])[0]

    assert not refused.accepted
    assert refused.reason == Reason.INSUFFICIENT
    grant = connectors.platforms["kuaishou"].counter("HOT")
    for n in range(grant):  # kuaishou sells its whole grant: the hold shrinks with its orders
        assert connectors.platforms["kuaishou"].sell("HOT", 1)
        owner.apply([Reserve("kuaishou", f"k{n}", "HOT", 1, 1.0)])
    assert held_at_owner(owner) == 90 - grant
    tick(sync, clock, connectors)
    tick(sync, clock, connectors)  # take-backs answered (given back), the freed units granted
    assert held_at_owner(owner) == sync.book.held_for_platforms("HOT")
    assert sum(c.counter("HOT") for c in connectors.platforms.values()) == held_at_owner(owner)


class LaggingStore(InMemorySyncStore):
    """A ledger stream the sync reads late: nothing arrives while ``lagging``."""

    lagging = True

    def read_ledger(self, after: str, block_ms: int = 0) -> list[LedgerEntry]:
        return [] if self.lagging else super().read_ledger(after, block_ms)


def test_the_sync_never_grants_units_a_reserve_first_order_took_before_it_heard() -> None:
    owner, data, grants, clock = setup()
    store = LaggingStore(data)
    sync = GrantSync(
        store, grants, OwnerDesk(owner), SHARES, PLATFORMS, max_pushes_per_second=1000, clock=clock
    )
    connectors = Connectors(grants)
    assert owner.apply([Reserve("mini", "m1", "HOT", 40, 1.0, asked_first=True)])[0].accepted
    clock.now += 1.0

    sent = sync.step(block_ms=0)  # it still believes 100 are available: the owner refuses

    assert sent == []
    assert held_at_owner(owner) == 0
    assert sync.book.held_for_platforms("HOT") == 0
    store.lagging = False
    tick(sync, clock, connectors)
    counters = {p: c.counter("HOT") for p, c in connectors.platforms.items()}
    assert sum(counters.values()) == 60  # ids 1, 2, 3... again: every platform applied its grant
    assert held_at_owner(owner) == 60
    assert sync.headroom() == {"HOT": 0}


def test_a_hold_left_by_a_crash_before_the_save_is_reconciled_at_start() -> None:
    owner, data, grants, clock = setup()
    sync, connectors = new_sync(owner, data, grants, clock), Connectors(grants)
    tick(sync, clock, connectors)
    owner.apply([Hold("HOT", -30, "lost-give-back"), Restock("HOT", 20, "t1"), Hold("HOT", 15, "lost-grant")])
    assert held_at_owner(owner) == 85

    restarted = new_sync(owner, data, grants, clock)
    clock.now += 1.0
    restarted.step(block_ms=0)

    assert held_at_owner(owner) == restarted.book.held_for_platforms("HOT")
