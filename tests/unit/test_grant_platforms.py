"""The simulator's platforms under the grant protocol (``scripts.sim.grant_platforms``),
driven the way the show loop drives them, against a pool that decides like the ledger:
spikes over three platforms with 0 ms, 500 ms and 2 s of lag, a lossy network and a
platform that stops answering never sell a unit the pool does not have."""

from __future__ import annotations

import random

import pytest

from scripts.sim.grant_platforms import GrantedShelves, NetworkFaults

SHARES = {"douyin": 0.6, "taobao": 0.2, "kuaishou": 0.2}
STEP_SECONDS = 10.0


def run_show(
    shelves: GrantedShelves,
    stock: int,
    orders_per_minute: float,
    minutes: float,
    *,
    channels: dict[str, float] = SHARES,
    cancel_ratio: float = 0.0,
    seed: int = 7,
) -> dict[str, int]:
    """Buyers at ``orders_per_minute`` of one unit of SKU ``S``; every step the orders
    the platforms took reach the pool, which refuses what it cannot cover (an oversell);
    some accepted orders are cancelled. The counts of the show."""
    rng = random.Random(seed)
    available, sold, oversold, away, elsewhere = stock, 0, 0, 0, 0
    shelves.publish(0.0, {"S": available})
    second = 0.0
    taken: list[tuple[float, str]] = []
    names, weights = list(channels), list(channels.values())
    step_end = STEP_SECONDS
    while second < minutes * 60.0:
        second += rng.expovariate(orders_per_minute / 60.0)
        if second >= step_end or second >= minutes * 60.0:
            for at, channel in taken:  # the step's orders reach flashstock, in order
                if available < 1:
                    oversold += 1
                    continue
                available -= 1
                sold += 1
                shelves.record(at, channel, "S", 1)
                if rng.random() < cancel_ratio:
                    available += 1  # cancelled: released in the ledger
                    sold -= 1
            taken = []
            shelves.publish(step_end, {"S": available})
            step_end += STEP_SECONDS
        channel = rng.choices(names, weights)[0]
        if shelves.take(second, channel, "S", 1):
            taken.append((second, channel))
        else:
            away += 1
            elsewhere += shelves.units_elsewhere(second, channel, "S")
    return {"sold": sold, "oversold": oversold, "away": away, "elsewhere": elsewhere, "left": available}


@pytest.mark.parametrize("lag", [0.0, 0.5, 2.0])
def test_a_spike_over_three_lagging_platforms_sells_everything_and_oversells_nothing(lag: float) -> None:
    shelves = GrantedShelves(SHARES, lag, seed=1)
    counts = run_show(shelves, stock=1000, orders_per_minute=3 * 3000, minutes=1.0)
    assert counts["oversold"] == 0
    assert counts["sold"] == 1000
    assert counts["elsewhere"] <= 0.1 * counts["away"] + 50


@pytest.mark.parametrize("lag", [0.0, 0.5, 2.0])
def test_a_lossy_reordering_network_and_a_silent_platform_oversell_nothing(lag: float) -> None:
    faults = NetworkFaults(drop=0.2, duplicate=0.2, reorder=0.3)
    shelves = GrantedShelves(SHARES, lag, faults=faults, silent={"kuaishou": 15.0}, seed=2)
    counts = run_show(shelves, stock=600, orders_per_minute=1500, minutes=2.0, cancel_ratio=0.05)
    assert counts["oversold"] == 0
    assert counts["sold"] + counts["left"] == 600
    assert shelves.updates_resent > 0
    # the silent platform kept what it held; nobody was topped up from it
    assert shelves.book.outstanding("kuaishou", "S") >= shelves.platforms["kuaishou"].counter("S")


def test_a_reserve_first_channel_takes_only_from_the_free_pool() -> None:
    channels = {"douyin": 0.5, "miniprogram": 0.5}
    shelves = GrantedShelves(channels, 0.5, seed=3)
    counts = run_show(shelves, stock=300, orders_per_minute=2000, minutes=1.0, channels=channels)
    assert counts["oversold"] == 0
    assert counts["sold"] == 300
