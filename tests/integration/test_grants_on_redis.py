"""The grant protocol on a real redis-server: GrantSync follows the ledger a real SkuOwner
commits, three platforms apply its updates through their connectors (their own
``PlatformCounters``) and sell only what their counters hold, their orders come in
through the channel ingest, and the sync is restarted halfway. Nothing is oversold,
every unit is sold, the headroom never goes negative."""

from __future__ import annotations

import random

from actors.infra.settings import StoreConfig
from actors.ingest.core import ChannelIngest
from actors.ingest.store import RedisIngestStore
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from actors.sync.grant_store import RedisGrantStore
from actors.sync.grants import GrantSync
from actors.sync.store import START, RedisSyncStore
from policies.channels import OrderLine, PlatformOrder
from policies.grants import PlatformCounters
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from tests.support import FakeClock, OwnerDesk

PLATFORMS = ("douyin", "kuaishou", "taobao")
SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


def test_platforms_that_sell_only_their_grants_sell_the_pool_exactly_across_a_sync_restart(
    config: StoreConfig,
) -> None:
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("HOT"), 120)])
    ingest = {
        p: ChannelIngest(
            p, "generic", RedisIngestStore.connect(config, p), owner.apply, mode="platform-first"
        )
        for p in PLATFORMS
    }
    grants = RedisGrantStore(config)
    counters = {p: PlatformCounters(p) for p in PLATFORMS}
    read = dict.fromkeys(PLATFORMS, START)
    clock = FakeClock()  # the sync's pushes and demand follow the rounds, not the machine's speed

    def new_sync() -> GrantSync:
        return GrantSync(
            RedisSyncStore(config),
            RedisGrantStore(config),
            OwnerDesk(owner),
            SHARES,
            PLATFORMS,
            resend_after_seconds=0.0,
            clock=clock,
        )

    def connectors() -> None:
        for platform in PLATFORMS:
            for position, update in grants.updates(platform, read[platform]):
                read[platform] = position
                grants.answer(counters[platform].receive(update))

    rng = random.Random(5)
    sync = new_sync()
    for round_ in range(60):
        clock.now += 1.0
        sync.step(block_ms=0)
        connectors()
        sync.step(block_ms=0)
        assert all(units >= 0 for units in grants.headroom().values())
        for n in range(8):  # buyers, mostly on Douyin: the rebalancing follows them
            platform = rng.choices(PLATFORMS, [0.7, 0.1, 0.2])[0]
            if counters[platform].sell("HOT", 1):
                decision = ingest[platform].decide([_order(platform, f"{round_}-{n}")]).orders[0]
                assert decision.accepted, decision
        if round_ == 30:
            sync = new_sync()  # restarted: the book and the answers' positions are in Redis
    assert owner.committed_oversold == {}
    ledger = owner.ledger("HOT")
    assert ledger is not None
    assert ledger.available == 0
    assert sum(counters[p].sold.get("HOT", 0) for p in PLATFORMS) == 120


def _order(platform: str, suffix: str) -> PlatformOrder:
    return PlatformOrder(platform, f"{platform}-{suffix}", (OrderLine("HOT", 1),), "buyer", 1_764_000_000.0)


def test_a_mini_program_order_never_takes_a_unit_held_for_a_platform_nor_a_grant_one_it_took(
    config: StoreConfig,
) -> None:
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("HOT"), 120)])
    channels = (*PLATFORMS, "mini")
    ingest = {
        c: ChannelIngest(
            c,
            "generic",
            RedisIngestStore.connect(config, c),
            owner.apply,
            mode="reserve-first" if c == "mini" else "platform-first",
        )
        for c in channels
    }
    grants = RedisGrantStore(config)
    counters = {p: PlatformCounters(p) for p in PLATFORMS}
    read = dict.fromkeys(PLATFORMS, START)
    shares = {**SHARES, "mini": 0.25}  # the mini-program keeps a part of the pool free
    clock = FakeClock()
    sync = GrantSync(
        RedisSyncStore(config),
        grants,
        OwnerDesk(owner),
        shares,
        PLATFORMS,
        resend_after_seconds=0.0,
        clock=clock,
    )
    rng = random.Random(7)
    mini_sold = refused_while_held = 0
    for round_ in range(80):
        if round_ % 2 == 0:  # the sync runs every other round: it lags the mini-program
            clock.now += 1.0
            sync.step(block_ms=0)
            for platform in PLATFORMS:
                for position, update in grants.updates(platform, read[platform]):
                    read[platform] = position
                    grants.answer(counters[platform].receive(update))
            sync.step(block_ms=0)
        ledger = owner.ledger("HOT")
        assert ledger is not None
        held_by_platforms = sum(counters[p].counter("HOT") for p in PLATFORMS)
        assert ledger.held >= held_by_platforms  # every unit a platform may sell is held
        assert ledger.reserved + ledger.sold + held_by_platforms <= ledger.on_hand
        assert all(units >= 0 for units in grants.headroom().values())
        for n in range(6):
            channel = rng.choice(channels)
            order = _order(channel, f"{round_}-{n}")
            if channel == "mini":  # it asks first: it gets only free units
                decision = ingest[channel].decide([order]).orders[0]
                mini_sold += decision.accepted
                assert decision.accepted == (ledger.free > 0)  # never a held unit
                refused_while_held += not decision.accepted and ledger.held > 0
            elif counters[channel].sell("HOT", 1):
                assert ingest[channel].decide([order]).orders[0].accepted
            ledger = owner.ledger("HOT")
            assert ledger is not None
    assert owner.committed_oversold == {}
    ledger = owner.ledger("HOT")
    assert ledger is not None
    platform_sold = sum(counters[p].sold.get("HOT", 0) for p in PLATFORMS)
    assert mini_sold > 0
    assert refused_while_held > 0  # the mini-program was sold out while platforms held units
    assert platform_sold + mini_sold == ledger.reserved + ledger.sold
