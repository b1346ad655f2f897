"""Silence matchers (SKU pattern, level, channel) and what silencing changes: who is
told, never the alert."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.alerts.hub import AlertHub
from actors.alerts.store import MemoryAlertStore
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.silences import Silence, active_silences, apply_silences, sku_pattern

T0 = 1_762_862_400.0


class Labels(NamedTuple):
    sku: str
    level: str
    channel: str = ""


def silence(sku: str = "*", level: str = "*", channel: str = "*", until: float = T0 + 60) -> Silence:
    return Silence("s", sku, level, until, "ops", "", channel, T0)


@pytest.mark.parametrize(
    ("pattern", "sku", "expected"),
    [
        ("*", "HOODIE-01", True),
        ("HOODIE-*", "HOODIE-01", True),
        ("HOODIE-*", "HOODIE-", True),
        ("HOODIE-*", "CAP-01", False),
        ("*-01", "HOODIE-01", True),
        ("HOODIE-0?", "HOODIE-01", True),
        ("HOODIE-0?", "HOODIE-011", False),
        ("HOODIE-01", "HOODIE-01", True),
        ("HOODIE-01", "HOODIE-012", False),
        ("H.ODIE", "HOODIE", False),  # a dot is a dot, not "any character"
        ("卫衣-[A]", "卫衣-[A]", True),  # brackets are themselves
        ("卫衣-[A]", "卫衣-A", False),
    ],
)
def test_sku_pattern_has_star_and_question_mark_only(pattern: str, sku: str, expected: bool) -> None:
    assert silence(sku=pattern).matches(Labels(sku, Level.TREND), T0) is expected


@given(st.text(min_size=1, max_size=30))
def test_a_sku_id_is_its_own_exact_pattern(sku: str) -> None:
    if "*" in sku or "?" in sku:
        return
    assert sku_pattern(sku).fullmatch(sku) is not None
    assert sku_pattern(sku).fullmatch(sku + "x") is None


def glob_matches(pattern: str, sku: str) -> bool:
    """The reference: ``*`` any run, ``?`` one character, by dynamic programming."""
    can = [[False] * (len(sku) + 1) for _ in range(len(pattern) + 1)]
    can[len(pattern)][len(sku)] = True
    for p in range(len(pattern) - 1, -1, -1):
        for s in range(len(sku), -1, -1):
            if pattern[p] == "*":
                can[p][s] = can[p + 1][s] or (s < len(sku) and can[p][s + 1])
            else:
                can[p][s] = s < len(sku) and pattern[p] in ("?", sku[s]) and can[p + 1][s + 1]
    return can[0][0]


@given(st.text(alphabet="ab*?.-", max_size=12), st.text(alphabet="ab.-\n", max_size=14))
def test_sku_pattern_matches_as_the_glob_reference_does(pattern: str, sku: str) -> None:
    assert (sku_pattern(pattern).fullmatch(sku) is not None) == glob_matches(pattern, sku), (pattern, sku)


def test_a_pattern_of_many_stars_does_not_backtrack_for_ever() -> None:
    # plain ".*" per star: 34 s at 10 stars against 40 characters, doubling per star (the
    # first match below would not end before the test run's timeout)
    pattern = "*a" * 63 + "b"  # the longest a silence's 128 characters allow
    assert sku_pattern(pattern).fullmatch("a" * 128) is None
    assert sku_pattern(pattern).fullmatch("a" * 62 + "b") is None  # one a short
    assert sku_pattern(pattern).fullmatch("a" * 127 + "b") is not None
    assert sku_pattern("*a" * 3 + "b").fullmatch("xaxaxab") is not None


def test_level_and_channel_matchers_select_one_value_or_any() -> None:
    stalled = Labels("HOODIE", Level.CHANNEL_STALLED, "douyin")
    trend = Labels("HOODIE", Level.TREND)
    assert silence(level=Level.CHANNEL_STALLED, channel="douyin").matches(stalled, T0)
    assert not silence(level=Level.CHANNEL_STALLED, channel="taobao").matches(stalled, T0)
    assert not silence(level=Level.EMERGENCY).matches(trend, T0)
    assert silence(level=Level.TREND).matches(trend, T0)
    # an alert without a channel is matched only by "any channel"
    assert not silence(channel="douyin").matches(trend, T0)


def test_a_silence_mutes_until_it_ends_and_no_longer() -> None:
    quiet = silence(until=T0 + 60)
    assert quiet.matches(Labels("A", Level.TREND), T0 + 59.9)
    assert not quiet.matches(Labels("A", Level.TREND), T0 + 60)
    ended, later, sooner = silence(until=T0), silence(until=T0 + 90), silence(until=T0 + 30)
    assert active_silences([ended, later, sooner], T0) == [sooner, later]


def test_a_silenced_notification_is_marked_not_dropped() -> None:
    hub = AlertHub(MemoryAlertStore(), settings=LifecycleSettings(pending_seconds=0), clock=lambda: T0)
    (note,) = hub.step([Verdict("HOODIE-01", Level.TREND, True, "why", {})], T0, T0)
    assert not note.silenced
    marked = apply_silences([note], [silence(sku="HOODIE-*", level=Level.TREND)], T0)
    assert [n.silenced for n in marked] == [True]
    assert marked[0].alert == note.alert  # state untouched


def test_a_lifted_silence_stops_muting_and_is_gone_from_the_store() -> None:
    store = MemoryAlertStore()
    hub = AlertHub(store, settings=LifecycleSettings(pending_seconds=0), clock=lambda: T0)
    hub.silence(Silence("quiet", "LIVE-*", "*", T0 + 3600, "ops", "", "*", T0))
    (muted,) = hub.step([Verdict("LIVE-1", Level.TREND, True, "why", {})], T0, T0)
    assert muted.silenced

    assert hub.unsilence("quiet", "ops") is not None
    assert hub.unsilence("quiet", "ops") is None  # already lifted
    assert store.silences() == []
    (heard,) = hub.step([Verdict("LIVE-2", Level.TREND, True, "why", {})], T0 + 1, T0 + 1)
    assert not heard.silenced
