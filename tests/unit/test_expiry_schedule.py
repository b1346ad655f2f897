"""An owner's expiry schedule (``actors.owner.expiry_schedule``)."""

from __future__ import annotations

from actors.owner.expiry_schedule import ExpirySchedule


def test_reservations_come_due_earliest_second_first_in_the_order_they_were_made() -> None:
    schedule = ExpirySchedule()
    schedule.add("B", "douyin:2", 105.5)
    schedule.add("A", "douyin:1", 100.2)
    schedule.add("A", "douyin:3", 105.9)

    assert list(schedule.take_due(105.0)) == [("A", "douyin:1")]  # due at 101
    assert len(schedule) == 2
    assert list(schedule.take_due(106.0)) == [("B", "douyin:2"), ("A", "douyin:3")]
    assert len(schedule) == 0
    assert list(schedule.take_due(1e9)) == []


def test_a_settled_reservation_leaves_at_once_and_its_second_with_it() -> None:
    schedule = ExpirySchedule()
    schedule.add("A", "douyin:1", 100.0)
    schedule.add("A", "douyin:2", 100.0)

    schedule.forget("A", "douyin:1", 100.0)
    assert len(schedule) == 1
    schedule.forget("A", "douyin:2", 100.0)
    schedule.forget("A", "douyin:9", 100.0)  # never scheduled: nothing happens
    assert len(schedule) == 0
    assert schedule._due == {}


def test_the_same_reservation_scheduled_twice_comes_due_once() -> None:
    schedule = ExpirySchedule()
    schedule.add("A", "douyin:1", 100.0)
    schedule.add("A", "douyin:1", 100.0)

    assert list(schedule.take_due(200.0)) == [("A", "douyin:1")]
