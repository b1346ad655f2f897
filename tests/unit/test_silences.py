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
