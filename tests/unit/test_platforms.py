"""Simulated platforms take orders against their own counters, refreshed late."""

from __future__ import annotations

import pytest

from scripts.sim.platforms import PlatformShelves, visible_stock

SHARES = {"douyin": 0.5, "taobao": 0.3, "kuaishou": 0.2}


def test_quota_never_shows_more_than_the_pool_and_shared_shows_it_everywhere() -> None:
    assert sum(visible_stock("quota", 100, SHARES).values()) == 100
    assert visible_stock("shared", 100, SHARES) == dict.fromkeys(SHARES, 100)


def test_an_unknown_allocation_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="'magic'"):
        PlatformShelves("magic", SHARES)


def test_a_platform_takes_orders_only_while_its_own_counter_covers_them() -> None:
    shelves = PlatformShelves("quota", {"douyin": 1.0})
    shelves.publish(0.0, {"A": 3})
    assert shelves.take(1.0, "douyin", "A", 2)
    assert not shelves.take(2.0, "douyin", "A", 2)
    assert shelves.take(3.0, "douyin", "A", 1)
    assert shelves.shown(3.0, ["douyin"], "A") == {"douyin": 0}


@pytest.mark.parametrize(("allocation", "taken"), [("quota", 10), ("shared", 30)])
def test_shared_counters_let_three_platforms_sell_the_pool_three_times(allocation: str, taken: int) -> None:
    shelves = PlatformShelves(allocation, SHARES)
    shelves.publish(0.0, {"A": 10})
    sold = sum(1 for n in range(60) if shelves.take(1.0 + n, list(SHARES)[n % 3], "A", 1))
    assert sold == taken


def test_a_late_platform_sells_on_the_old_number_until_the_update_arrives() -> None:
    shelves = PlatformShelves("quota", {"douyin": 1.0}, lag_seconds=5.0)
    shelves.publish(0.0, {"A": 5})
    assert not shelves.take(4.9, "douyin", "A", 1)  # the first number has not arrived yet
    assert shelves.take(5.0, "douyin", "A", 1)
    shelves.publish(10.0, {"A": 0})
    assert shelves.take(14.0, "douyin", "A", 1)  # still selling on the old number
    assert not shelves.take(15.0, "douyin", "A", 1)


def test_quota_moves_stock_toward_the_channel_that_sells() -> None:
    shelves = PlatformShelves("quota", {"douyin": 0.5, "taobao": 0.5})
    shelves.publish(0.0, {"A": 100})
    for n in range(40):
        shelves.take(1.0 + n, "douyin", "A", 1)
    shelves.publish(45.0, {"A": 60})
    shown = shelves.shown(45.0, ["douyin", "taobao"], "A")
    assert shown["douyin"] > shown["taobao"]
    assert sum(shown.values()) == 60
