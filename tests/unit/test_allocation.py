"""``policies.allocation``: how much stock each platform may show.

The unit rules of ``allocate_by_share`` and ``show_everywhere``, a property test that
the allocation always adds up to exactly the available units, and a small pure
simulation of platforms that sell against their own (lagging) counters, showing that
allocating by share cannot oversell where showing everything everywhere does.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.allocation import allocate_by_share, show_everywhere

THREE = {"douyin": 1.0, "kuaishou": 1.0, "taobao": 1.0}


# ---- the property ---------------------------------------------------------------------------------


channel_names = st.sampled_from(["douyin", "kuaishou", "taobao", "weixin", "xhs", "jd"])
shares_strategy = st.dictionaries(
    channel_names, st.floats(min_value=0.001, max_value=1_000.0), min_size=1, max_size=5
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    available=st.integers(min_value=0, max_value=10**6),
    shares=shares_strategy,
    demand=st.none()
    | st.dictionaries(channel_names, st.floats(min_value=0.0, max_value=10_000.0), max_size=6),
    shared_pool=st.integers(min_value=0, max_value=50),
    demand_weight=st.floats(min_value=0.0, max_value=1.0),
)
def test_allocation_sums_to_exactly_the_available_units_and_is_never_negative(
    available: int,
    shares: dict[str, float],
    demand: dict[str, float] | None,
    shared_pool: int,
    demand_weight: float,
) -> None:
    visible = allocate_by_share(
        available, shares, demand, shared_pool=shared_pool, demand_weight=demand_weight
    )

    assert set(visible) == set(shares)
    assert sum(visible.values()) == available
    assert all(isinstance(units, int) and units >= 0 for units in visible.values()), visible


@settings(max_examples=100, deadline=None, database=None)
@given(
    available=st.integers(min_value=-(10**6), max_value=0),
    shares=shares_strategy,
    shared_pool=st.integers(min_value=0, max_value=50),
)
def test_allocation_of_no_available_units_is_all_zeros(
    available: int, shares: dict[str, float], shared_pool: int
) -> None:
    visible = allocate_by_share(available, shares, shared_pool=shared_pool)

    assert visible == dict.fromkeys(shares, 0)


# ---- split by share --------------------------------------------------------------------------------


def test_splits_in_proportion_to_shares_without_demand() -> None:
    assert allocate_by_share(100, {"douyin": 1, "kuaishou": 1, "taobao": 2}) == {
        "douyin": 25,
        "kuaishou": 25,
        "taobao": 50,
    }


def test_shares_are_relative_weights_on_any_scale() -> None:
    small = allocate_by_share(1_000, {"douyin": 0.2, "taobao": 0.8})
    large = allocate_by_share(1_000, {"douyin": 20, "taobao": 80})

    assert small == large == {"douyin": 200, "taobao": 800}


def test_leftover_units_of_an_uneven_split_go_to_the_largest_remainders() -> None:
    # 10 * 1/6 = 1.67, 10 * 2/6 = 3.33, 10 * 3/6 = 5: the one unit left goes to douyin
    assert allocate_by_share(10, {"douyin": 1, "kuaishou": 2, "taobao": 3}) == {
        "douyin": 2,
        "kuaishou": 3,
        "taobao": 5,
    }


def test_equal_remainders_are_broken_by_channel_name() -> None:
    assert allocate_by_share(10, THREE) == {"douyin": 4, "kuaishou": 3, "taobao": 3}


def test_one_unit_among_many_channels_goes_to_one_channel() -> None:
    visible = allocate_by_share(1, THREE)

    assert sorted(visible.values()) == [0, 0, 1]


def test_no_channels_gives_an_empty_allocation() -> None:
    assert allocate_by_share(100, {}) == {}


@pytest.mark.parametrize("available", [0, -1, -500])
def test_no_available_units_gives_every_channel_zero(available: int) -> None:
    assert allocate_by_share(available, THREE, {"douyin": 9.0}, shared_pool=5) == dict.fromkeys(THREE, 0)


# ---- demand --------------------------------------------------------------------------------------


def test_demand_moves_units_toward_the_channel_that_sells() -> None:
    shares = {"douyin": 1.0, "taobao": 1.0}

    without = allocate_by_share(100, shares)
    with_demand = allocate_by_share(100, shares, {"douyin": 90.0, "taobao": 10.0})

    assert without == {"douyin": 50, "taobao": 50}
    # weight 0.5 * 1/2 + 0.5 * 9/10 = 0.7
    assert with_demand == {"douyin": 70, "taobao": 30}


def test_demand_weight_zero_ignores_demand_and_one_follows_demand_only() -> None:
    shares = {"douyin": 1.0, "taobao": 1.0}
    demand = {"douyin": 90.0, "taobao": 10.0}

    assert allocate_by_share(100, shares, demand, demand_weight=0.0) == {"douyin": 50, "taobao": 50}
    assert allocate_by_share(100, shares, demand, demand_weight=1.0) == {"douyin": 90, "taobao": 10}


def test_demand_is_relative_on_any_scale() -> None:
    shares = {"douyin": 1.0, "taobao": 3.0}

    per_minute = allocate_by_share(400, shares, {"douyin": 6.0, "taobao": 2.0})
    per_hour = allocate_by_share(400, shares, {"douyin": 360.0, "taobao": 120.0})

    assert per_minute == per_hour


@pytest.mark.parametrize("demand", [None, {}, {"douyin": 0.0, "taobao": 0.0}, {"weixin": 50.0}])
def test_no_demand_on_the_allocated_channels_splits_by_share(demand: Mapping[str, float] | None) -> None:
    assert allocate_by_share(100, {"douyin": 1, "taobao": 3}, demand) == {"douyin": 25, "taobao": 75}


def test_more_demand_never_gives_a_channel_fewer_units() -> None:
    shares = dict(THREE)
    before = allocate_by_share(900, shares, {"douyin": 1.0, "kuaishou": 1.0, "taobao": 1.0})
    after = allocate_by_share(900, shares, {"douyin": 5.0, "kuaishou": 1.0, "taobao": 1.0})

    assert after["douyin"] > before["douyin"]
    assert after["kuaishou"] <= before["kuaishou"]
    assert after["taobao"] <= before["taobao"]


# ---- the shared pool ------------------------------------------------------------------------------


DEMAND = {"kuaishou": 5.0, "taobao": 1.0}  # kuaishou busiest, then taobao, douyin idle


def test_shared_pool_goes_one_unit_per_channel_busiest_first() -> None:
    visible = allocate_by_share(2, THREE, DEMAND, shared_pool=3, demand_weight=0.0)

    assert visible == {"douyin": 0, "kuaishou": 1, "taobao": 1}


def test_shared_pool_goes_round_the_channels_again_when_larger_than_their_number() -> None:
    visible = allocate_by_share(5, THREE, DEMAND, shared_pool=5, demand_weight=0.0)

    assert visible == {"douyin": 1, "kuaishou": 2, "taobao": 2}


def test_shared_pool_is_added_on_top_of_the_split_of_the_rest() -> None:
    # 9 units split 3/3/3 by share; the pool of 2 goes to kuaishou then taobao
    visible = allocate_by_share(11, THREE, DEMAND, shared_pool=2, demand_weight=0.0)

    assert visible == {"douyin": 3, "kuaishou": 4, "taobao": 4}


def test_shared_pool_larger_than_available_hands_out_only_what_is_available() -> None:
    visible = allocate_by_share(2, THREE, DEMAND, shared_pool=50, demand_weight=0.0)

    assert sum(visible.values()) == 2
    assert visible["douyin"] == 0


def test_without_demand_the_pool_goes_by_weight_then_name() -> None:
    visible = allocate_by_share(2, {"douyin": 1.0, "kuaishou": 2.0, "taobao": 3.0}, shared_pool=3)

    assert visible == {"douyin": 0, "kuaishou": 1, "taobao": 1}


def test_negative_shared_pool_is_no_pool() -> None:
    assert allocate_by_share(10, THREE, DEMAND, shared_pool=-3, demand_weight=0.0) == allocate_by_share(
        10, THREE, DEMAND, demand_weight=0.0
    )


# ---- show_everywhere -------------------------------------------------------------------------------


def test_show_everywhere_gives_every_channel_all_available_units() -> None:
    visible = show_everywhere(37, ["douyin", "kuaishou", "taobao"])

    assert visible == {"douyin": 37, "kuaishou": 37, "taobao": 37}


@pytest.mark.parametrize("available", [0, -4])
def test_show_everywhere_shows_zero_when_nothing_is_available(available: int) -> None:
    assert show_everywhere(available, ["douyin", "taobao"]) == {"douyin": 0, "taobao": 0}


# ---- simulation: platforms selling against lagging counters --------------------------------------------


PLATFORMS = ("douyin", "kuaishou", "taobao")
#: how buyers spread over the platforms (douyin busiest); deliberately not the configured shares
BUYER_WEIGHTS = (5, 3, 2)
SHARES = {"douyin": 0.4, "kuaishou": 0.4, "taobao": 0.2}
POOL_UNITS = 1_000
BUYERS = 3_000
#: the platforms' counters are refreshed from the published allocation every K buyers
#: (not a divisor of POOL_UNITS, so the last refresh happens with fewer than K units left)
REFRESH_EVERY = 64

Publisher = Callable[[int, Mapping[str, float]], dict[str, int]]


def by_share(available: int, recent_sales: Mapping[str, float]) -> dict[str, int]:
    return allocate_by_share(available, SHARES, recent_sales, shared_pool=3)


def everywhere(available: int, recent_sales: Mapping[str, float]) -> dict[str, int]:
    del recent_sales
    return show_everywhere(available, PLATFORMS)


@dataclass
class Outcome:
    sold: int = 0
    oversold: int = 0
    turned_away: int = 0
    most_promised: int = 0
    """the largest total of platform counters seen above the pool's stock"""


def simulate(publish: Publisher, seed: int) -> Outcome:
    """Buyers arrive one at a time at a platform; the platform accepts only while its own
    counter is above zero and forwards the order at once to the pool, which rejects it
    (an oversold order) when empty. All counters are refreshed together from
    ``publish(pool_stock, sales since the last refresh)`` every REFRESH_EVERY buyers."""
    rng = random.Random(seed)
    pool = POOL_UNITS
    outcome = Outcome()
    recent = dict.fromkeys(PLATFORMS, 0.0)
    counters = publish(pool, recent)
    for buyer in range(BUYERS):
        if buyer and buyer % REFRESH_EVERY == 0:
            counters = publish(pool, recent)
            recent = dict.fromkeys(PLATFORMS, 0.0)
        outcome.most_promised = max(outcome.most_promised, sum(counters.values()) - pool)
        platform = rng.choices(PLATFORMS, weights=BUYER_WEIGHTS)[0]
        if counters[platform] <= 0:
            outcome.turned_away += 1
            continue
        counters[platform] -= 1
        recent[platform] += 1
        if pool > 0:
            pool -= 1
            outcome.sold += 1
        else:
            outcome.oversold += 1
    return outcome


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_allocating_by_share_sells_the_whole_pool_without_overselling(seed: int) -> None:
    outcome = simulate(by_share, seed)

    assert outcome.oversold == 0
    assert outcome.sold == POOL_UNITS
    assert outcome.most_promised <= 0  # the counters never promised more than the pool held


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_showing_everything_everywhere_oversells_when_counters_lag(seed: int) -> None:
    outcome = simulate(everywhere, seed)

    assert outcome.oversold > 0
    assert outcome.sold == POOL_UNITS
    assert outcome.most_promised > 0


def test_simulation_is_deterministic_for_a_seed() -> None:
    assert simulate(everywhere, 7) == simulate(everywhere, 7)
    assert simulate(by_share, 7) == simulate(by_share, 7)
