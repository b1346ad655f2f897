"""``policies.channel_modes``: which channels sell before flashstock decides."""

from __future__ import annotations

import pytest

from policies.channel_modes import (
    PLATFORM_FIRST,
    RESERVE_FIRST,
    asks_first,
    channel_modes,
    default_mode,
    invalid_mode,
)

FORMATS = {"douyin": "douyin", "taobao": "taobao", "kuaishou": "kuaishou", "miniprogram": "generic"}


def test_platforms_sell_first_and_the_generic_format_asks_first_by_default() -> None:
    assert channel_modes(FORMATS, {}) == {
        "douyin": PLATFORM_FIRST,
        "taobao": PLATFORM_FIRST,
        "kuaishou": PLATFORM_FIRST,
        "miniprogram": RESERVE_FIRST,
    }
    assert default_mode("generic") == RESERVE_FIRST


def test_a_declared_mode_wins_over_the_default() -> None:
    modes = channel_modes(FORMATS, {"douyin": RESERVE_FIRST, "miniprogram": PLATFORM_FIRST})
    assert (modes["douyin"], modes["miniprogram"], modes["taobao"]) == (
        RESERVE_FIRST,
        PLATFORM_FIRST,
        PLATFORM_FIRST,
    )
    assert asks_first(modes["douyin"])
    assert not asks_first(modes["miniprogram"])


def test_an_unknown_mode_or_channel_is_named() -> None:
    with pytest.raises(ValueError, match="douyin: channel mode must be one of"):
        channel_modes(FORMATS, {"douyin": "sell-first"})
    with pytest.raises(ValueError, match="not configured: tiktok"):
        channel_modes(FORMATS, {"tiktok": RESERVE_FIRST})
    assert invalid_mode(PLATFORM_FIRST) is None
    assert invalid_mode("reserve_first") is not None
