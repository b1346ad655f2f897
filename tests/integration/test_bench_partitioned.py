"""``flashstock bench partitioned`` (the design-(a) prototype) at a tiny size, on a real
redis-server with real processes: every variant decides and publishes every order of the
workload once, accepts what any oversell-proof seller accepts, and in the routed
variants routers, not the owners, read the channel inboxes."""

from __future__ import annotations

from collections import Counter

import pytest

from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import connect
from actors.infra.redis_server import RedisServer
from scripts.bench.compare import make_workload
from scripts.bench.partitioned import VARIANTS, run_variant
from scripts.loadgen.inbox import CHANNELS, published_orders

ORDERS, SKUS = 1500, 20


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_variant_decides_and_publishes_every_order_once_without_overselling(
    redis_server: RedisServer, variant: str
) -> None:
    workload = make_workload(ORDERS, SKUS, seed=3)
    result = run_variant(redis_server.url, workload, 2, variant)

    assert result["decided"] == ORDERS
    assert result["oversold_units"] == 0
    assert result["stock_mismatches"] == 0
    # the stock is short on the hottest SKUs, so some orders are refused, and exactly as
    # many units accepted as demand and stock allow
    assert result["accepted_units"] == sum(workload.expected_accepted().values()) < ORDERS
    raw = connect(redis_server.url)
    keys = {channel: ChannelKeys.of(result["namespace"], channel) for channel in CHANNELS}
    published = published_orders(raw, keys)
    per_order = Counter((decision.channel, decision.fields[1]) for decision in published)
    assert len(per_order) == ORDERS
    assert set(per_order.values()) == {1}
    accepted = sum(1 for decision in published if decision.fields[2] == "1")
    assert accepted == result["accepted_units"]  # one unit per order
    if variant != "direct":
        assert result["routers_cpu_us_per_order"] > 0
        assert all(raw.exists(f"{result['namespace']}:proto:router:{channel}") for channel in CHANNELS)
    else:
        assert result["routers_cpu_us_per_order"] is None  # no routers
    raw.close()
