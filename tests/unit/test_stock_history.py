"""A SKU's minutes for the chart: counters at each minute's end, quiet minutes carried
forward, units ordered per minute."""

from __future__ import annotations

from policies.stock_history import CounterSnapshot, MinutePoint, minute_series

T0 = 1_764_000_000.0  # a whole minute


def test_each_minute_has_its_last_counters_and_the_units_ordered_in_it() -> None:
    snapshots = [
        CounterSnapshot(T0 + 5, 100, 2, 0),
        CounterSnapshot(T0 + 50, 100, 5, 3),  # the first minute ends here
        CounterSnapshot(T0 + 61, 100, 1, 9),  # reservations paid: no new units
        CounterSnapshot(T0 + 185, 130, 0, 20),  # a restock; minute 2 was quiet
    ]
    points = minute_series(snapshots, T0, T0 + 200, baseline=CounterSnapshot(T0 - 30, 100, 0, 0))
    assert points == [
        MinutePoint(T0, 100, 5, 3, 92, 8),
        MinutePoint(T0 + 60, 100, 1, 9, 90, 2),
        MinutePoint(T0 + 120, 100, 1, 9, 90, 0),  # carried forward
        MinutePoint(T0 + 180, 130, 0, 20, 110, 10),
    ]


def test_without_a_baseline_the_first_minute_counts_from_its_first_snapshot() -> None:
    snapshots = [CounterSnapshot(T0 + 1, 50, 4, 0), CounterSnapshot(T0 + 2, 50, 10, 0)]
    assert [p.ordered for p in minute_series(snapshots, T0, T0 + 59)] == [6]


def test_released_reservations_never_make_a_negative_rate() -> None:
    snapshots = [CounterSnapshot(T0 + 1, 50, 10, 0), CounterSnapshot(T0 + 61, 50, 0, 2)]
    assert [p.ordered for p in minute_series(snapshots, T0, T0 + 100)] == [0, 0]


def test_snapshots_outside_the_window_are_left_out() -> None:
    snapshots = [CounterSnapshot(T0 - 120, 9, 0, 0), CounterSnapshot(T0 + 500, 9, 0, 1)]
    assert minute_series(snapshots, T0, T0 + 300) == []
    (point,) = minute_series([CounterSnapshot(T0 + 10, 9, 0, 1)], T0, T0 + 30)
    assert (point.minute, point.available) == (T0, 8)
