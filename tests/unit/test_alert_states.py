"""One alert per SKU through its states (policies/alert_lifecycle.py, via AlertBook):
pending, firing, recovering, resolved; what is told, and what is not."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from policies.alert_book import AlertBook
from policies.alert_lifecycle import Kind, LifecycleSettings, Status
from policies.alert_rules import Level, Verdict

T0 = 1_762_862_400.0
SETTINGS = LifecycleSettings(pending_seconds=30, keep_firing_seconds=300, refire_hold_seconds=900)


def verdict(level: str | None, available: int = 50, eta: float | None = 40.0, **extra: Any) -> Verdict:
    evidence = {"available": available, "eta_minutes": eta, "lead_time_minutes": 60.0, **extra}
    return Verdict("A", level or Level.TREND, level is not None, f"at {level}" if level else "", evidence)


class Clock:
    """Steps one AlertBook through time, collecting (minute, kind, level, status)."""

    def __init__(self, settings: LifecycleSettings = SETTINGS) -> None:
        self.book = AlertBook(settings)
        self.told: list[tuple[float, str, str, str]] = []

    def hold(self, level: str | None, minutes: float, every: float = 10, **evidence: Any) -> None:
        start = self.now if self.told or hasattr(self, "_now") else T0
        end = start + minutes * 60
        t = start
        while t < end:
            for note in self.book.step([verdict(level, **evidence)], t, t):
                self.told.append(((t - T0) / 60, note.kind, note.alert.level, note.alert.status))
            t += every
        self._now = t

    @property
    def now(self) -> float:
        return getattr(self, "_now", T0)

    def kinds(self) -> list[tuple[str, str]]:
        return [(kind, level) for _, kind, level, _ in self.told]


def test_a_condition_must_hold_for_the_pending_time_before_anyone_is_told() -> None:
    clock = Clock()
    clock.hold(Level.THRESHOLD, 0.4)
    assert clock.told == []
    assert clock.book.open["A"].status == Status.PENDING
    clock.hold(None, 1)
    assert clock.told == []
    assert "A" not in clock.book.open


def test_one_alert_moves_up_and_down_its_levels_and_resolves_with_fresh_evidence() -> None:
    clock = Clock()
    clock.hold(Level.TREND, 2)
    clock.hold(Level.EMERGENCY, 2)
    clock.hold(Level.THRESHOLD, 2)  # below the alert's level: recovering, nobody told yet
    assert clock.book.open["A"].status == Status.RECOVERING
    assert clock.book.open["A"].level == Level.EMERGENCY
    clock.hold(Level.THRESHOLD, 4)
    clock.hold(None, 6, available=360, eta=None)

    assert clock.kinds() == [
        (Kind.FIRING, Level.TREND),
        (Kind.ESCALATED, Level.EMERGENCY),
        (Kind.DEESCALATED, Level.THRESHOLD),
        (Kind.RESOLVED, Level.THRESHOLD),
    ]
    assert clock.book.open == {}


def test_the_resolved_notification_carries_the_evidence_at_resolution() -> None:
    book = AlertBook(LifecycleSettings(pending_seconds=0, keep_firing_seconds=0))
    book.step([verdict(Level.EMERGENCY, available=19, eta=2.0)], T0, T0)
    (note,) = book.step([verdict(None, available=360, eta=None)], T0 + 10, T0 + 10)
    assert note.kind == Kind.RESOLVED
    assert note.alert.evidence["available"] == 360
    assert "360 available" in note.alert.reason


def test_noise_around_a_line_does_not_flap_the_alert() -> None:
    clock = Clock()
    for _ in range(10):  # two minutes on, one minute off, for half an hour
        clock.hold(Level.THRESHOLD, 2)
        clock.hold(None, 1)
    assert clock.kinds() == [(Kind.FIRING, Level.THRESHOLD)]


def test_after_resolving_only_a_worse_level_fires_within_the_hold_time() -> None:
    clock = Clock()
    clock.hold(Level.THRESHOLD, 2)
    clock.hold(None, 6)  # a restock: resolved after 5 min clear
    clock.hold(Level.THRESHOLD, 5)  # the same level again: held back
    clock.hold(Level.EMERGENCY, 1)  # worse: told
    assert clock.kinds() == [
        (Kind.FIRING, Level.THRESHOLD),
        (Kind.RESOLVED, Level.THRESHOLD),
        (Kind.FIRING, Level.EMERGENCY),
    ]


def test_eta_updates_come_only_when_a_mark_is_crossed_and_not_more_than_every_ten_minutes() -> None:
    clock = Clock()
    clock.hold(Level.THRESHOLD, 1, eta=90.0)
    clock.hold(Level.THRESHOLD, 5, eta=50.0)  # crosses the 60-minute lead time, 5 min after firing
    clock.hold(Level.THRESHOLD, 10, eta=45.0)  # no new mark
    clock.hold(Level.THRESHOLD, 2, eta=25.0)  # crosses 30
    clock.hold(Level.THRESHOLD, 4, eta=8.0)  # crosses 10: told once 10 min have passed
    told = [(round(minute), kind) for minute, kind, _, _ in clock.told]
    assert [kind for _, kind in told] == [Kind.FIRING, Kind.ETA, Kind.ETA]
    assert told[1][0] >= 10  # the first ETA update waits for the interval after firing
    assert told[2][0] - told[1][0] >= 10


def test_a_new_surge_on_a_firing_alert_is_told_once() -> None:
    clock = Clock()
    clock.hold(Level.THRESHOLD, 11, projected_rate=2.0)
    surge = {"since": clock.now - 60, "before": 2.0, "after": 8.0, "llr": 20.0}
    clock.hold(Level.THRESHOLD, 3, projected_rate=5.0, surge=surge)
    assert clock.kinds() == [(Kind.FIRING, Level.THRESHOLD), (Kind.SURGE, Level.THRESHOLD)]


def test_settling_after_a_restart_resolves_a_contradicted_alert_at_once() -> None:
    book = AlertBook(SETTINGS)
    book.step([verdict(Level.EMERGENCY, available=0)], T0, T0)
    book.step([verdict(Level.EMERGENCY, available=0)], T0 + 40, T0 + 40)
    assert book.open["A"].status == Status.FIRING

    (note,) = book.step([verdict(None, available=1500, eta=None)], T0 + 50, T0 + 50, settle=True)

    assert note.kind == Kind.RESOLVED
    assert note.alert.evidence["available"] == 1500
    assert book.open == {}


@settings(max_examples=60, deadline=None)
# a worse level starts pending within the hold time, falls back to the resolved one, fires
@example([(Level.TREND, 4, 1.0), (None, 31, 1.0), (Level.THRESHOLD, 1, 1.0), (Level.TREND, 3, 1.0)])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, Level.TREND, Level.THRESHOLD, Level.EMERGENCY]),
            st.integers(1, 40),  # how many 10-second evaluations it lasts
            st.floats(1, 200),  # the ETA meanwhile (minutes)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_whatever_the_conditions_updates_are_rate_limited_and_nothing_refires_soon_unless_worse(
    conditions: list[tuple[str | None, int, float]],
) -> None:
    book = AlertBook(SETTINGS)
    t = T0
    told: list[tuple[float, str, str]] = []
    for level, steps, eta in conditions:
        for _ in range(steps):
            for note in book.step([verdict(level, eta=eta)], t, t):
                told.append((t, note.kind, note.alert.level))
            t += 10
    updates = [at for at, kind, _ in told if kind in (Kind.ETA, Kind.SURGE)]
    for at in updates:
        before = [a for a, _, _ in told if a < at]
        assert not before or at - before[-1] >= SETTINGS.renotify_interval_seconds
    for (at, kind, level), (later, next_kind, next_level) in itertools.pairwise(told):
        if kind == Kind.RESOLVED and next_kind == Kind.FIRING and later - at < SETTINGS.refire_hold_seconds:
            assert Level.RANK[next_level] > Level.RANK[level]


def test_a_trend_that_fades_soon_after_firing_resolves_quietly() -> None:
    clock = Clock()
    clock.hold(Level.TREND, 3)
    clock.hold(None, 6, available=900, eta=None)

    assert clock.kinds() == [(Kind.FIRING, Level.TREND), (Kind.RESOLVED, Level.TREND)]
    assert clock.told[-1][3] == Status.RESOLVED
    assert clock.book.open == {}  # the open alerts show the current state


def quiet_flags(settings: LifecycleSettings, *steps: tuple[str | None, float]) -> list[tuple[str, bool]]:
    book = AlertBook(settings)
    t = T0
    flags = []
    for level, minutes in steps:
        end = t + minutes * 60
        while t < end:
            evidence = {"available": 50, "eta_minutes": 40.0, "lead_time_minutes": 60.0}
            verdict = Verdict("A", level or Level.TREND, level is not None, "", evidence)
            flags += [(n.kind, n.quiet) for n in book.step([verdict], t, t)]
            t += 10
    return flags


def test_only_a_short_trend_that_told_nothing_else_resolves_quietly() -> None:
    short = quiet_flags(SETTINGS, (Level.TREND, 3), (None, 6))
    long = quiet_flags(SETTINGS, (Level.TREND, 30), (None, 6))
    escalated = quiet_flags(SETTINGS, (Level.TREND, 1), (Level.THRESHOLD, 1), (None, 6))

    assert short == [(Kind.FIRING, False), (Kind.RESOLVED, True)]
    assert long == [(Kind.FIRING, False), (Kind.RESOLVED, False)]
    assert escalated == [(Kind.FIRING, False), (Kind.ESCALATED, False), (Kind.RESOLVED, False)]
    never = LifecycleSettings(pending_seconds=30, keep_firing_seconds=300, quiet_resolve_seconds=0)
    assert quiet_flags(never, (Level.TREND, 3), (None, 6))[-1] == (Kind.RESOLVED, False)
