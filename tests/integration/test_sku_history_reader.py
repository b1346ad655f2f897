"""The history endpoint's reader on a real redis-server: a SKU's minutes from the ledger
stream the owner's commit script writes, its alert markers from the notification stream."""

from __future__ import annotations

import time

import pytest
import redis

from actors.alerts.hub import AlertHub
from actors.alerts.store import RedisAlertStore
from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve, Restock
from serve_app import sku_history
from serve_app.sku_history import read_sku_history


def test_minutes_and_markers_of_one_sku_among_others(config: StoreConfig, redis_client: redis.Redis) -> None:
    start = time.time() - 1
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("HOODIE"), 20), DefineSku(SkuSettings("CAP"), 5)])
    for n in range(6):
        owner.apply(
            [Reserve("douyin", f"o{n}", "HOODIE", 2, time.time()), Reserve("douyin", f"c{n}", "CAP", 1)]
        )
    owner.apply([Restock("HOODIE", 10, "t1")])
    hub = AlertHub(
        RedisAlertStore(redis_client, config.namespace), settings=LifecycleSettings(pending_seconds=0)
    )
    hub.step([Verdict("HOODIE", Level.THRESHOLD, True, "under the line", {})], time.time(), time.time())
    hub.step([Verdict("CAP", Level.TREND, True, "faster", {})], time.time(), time.time())

    history = read_sku_history(redis_client, config, "HOODIE", start, time.time() + 1)

    assert history.complete
    last = history.points[-1]
    assert (last.on_hand, last.reserved, last.sold, last.available) == (30, 12, 0, 18)
    assert sum(p.ordered for p in history.points) == 12
    assert [(m["level"], m["kind"]) for m in history.markers] == [(Level.THRESHOLD, "firing")]


def test_a_long_stream_is_read_only_up_to_the_limit(
    config: StoreConfig, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("HOODIE"), 100)])
    for n in range(25):
        owner.apply([Reserve("douyin", f"o{n}", "HOODIE", 1, time.time())])
    monkeypatch.setattr(sku_history, "PAGE", 10)  # a small page and limit, the same code path
    monkeypatch.setattr(sku_history, "MAX_LEDGER_ENTRIES", 20)
    history = read_sku_history(redis_client, config, "HOODIE", 0.0, time.time() + 1)
    assert not history.complete
    assert history.points[-1].reserved == 25
