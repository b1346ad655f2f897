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

    def new_sync() -> GrantSync:
        return GrantSync(
            RedisSyncStore(config), RedisGrantStore(config), SHARES, PLATFORMS, resend_after_seconds=0.0
        )

    def connectors() -> None:
        for platform in PLATFORMS:
            for position, update in grants.updates(platform, read[platform]):
                read[platform] = position
                grants.answer(counters[platform].receive(update))

    rng = random.Random(5)
    sync = new_sync()
    for round_ in range(60):
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
