"""Alertmanager-style grouping (policies/notification_groups.py): group_wait before the
first send, group_interval between sends with news, repeat_interval for reminders, and
resolved alerts leaving the group once told."""

from __future__ import annotations

from typing import Any

from policies.notification_groups import NotificationGroup, Timing, add_notifications, next_send, take_due

T0 = 1_762_862_400.0
TIMING = Timing(group_wait=5, group_interval=30, repeat_interval=1800)


def note(sku: str, kind: str = "firing", level: str = "THRESHOLD") -> dict[str, Any]:
    status = "resolved" if kind == "resolved" else "firing"
    return {"kind": kind, "alert": {"id": f"{sku}-{level}", "sku": sku, "level": level, "status": status}}


def test_the_first_send_waits_group_wait_and_gathers_what_crossed_together() -> None:
    group = add_notifications(NotificationGroup(), [note("HOODIE")], T0)
    group = add_notifications(group, [note("CAP")], T0 + 3)

    assert take_due(group, T0 + 4.9, TIMING)[1] is None
    group, digest = take_due(group, T0 + 5, TIMING)

    assert digest is not None
    assert [n["alert"]["sku"] for n in digest.notifications] == ["HOODIE", "CAP"]
    assert [a["alert"]["sku"] for a in digest.alerts] == ["HOODIE", "CAP"]
    assert not digest.repeat
    assert group.pending == ()
    assert group.sent_at == T0 + 5


def test_news_after_a_send_waits_group_interval_and_carries_the_whole_group() -> None:
    group, _ = take_due(add_notifications(NotificationGroup(), [note("HOODIE")], T0), T0 + 5, TIMING)
    group = add_notifications(group, [note("CAP")], T0 + 6)

    assert next_send(group, TIMING) == T0 + 35
    assert take_due(group, T0 + 34, TIMING)[1] is None
    group, digest = take_due(group, T0 + 35, TIMING)

    assert digest is not None
    assert [n["alert"]["sku"] for n in digest.notifications] == ["CAP"]
    assert sorted(a["alert"]["sku"] for a in digest.alerts) == ["CAP", "HOODIE"]


def test_a_still_firing_group_is_repeated_after_repeat_interval_with_no_news() -> None:
    group, _ = take_due(add_notifications(NotificationGroup(), [note("HOODIE")], T0), T0 + 5, TIMING)

    assert next_send(group, TIMING) == T0 + 1805
    assert take_due(group, T0 + 1804, TIMING)[1] is None
    group, digest = take_due(group, T0 + 1805, TIMING)

    assert digest is not None
    assert digest.repeat
    assert [a["alert"]["sku"] for a in digest.alerts] == ["HOODIE"]
    assert next_send(group, TIMING) == T0 + 1805 + 1800


def test_a_resolved_alert_is_told_once_and_a_quiet_group_closes_and_waits_again() -> None:
    group, _ = take_due(add_notifications(NotificationGroup(), [note("HOODIE")], T0), T0 + 5, TIMING)
    group = add_notifications(group, [note("HOODIE", "resolved")], T0 + 100)
    group, digest = take_due(group, T0 + 100, TIMING)

    assert digest is not None
    assert [a["alert"]["status"] for a in digest.alerts] == ["resolved"]
    assert group.empty
    assert next_send(group, TIMING) is None  # no reminder of a resolved alert

    reopened = add_notifications(group, [note("CAP")], T0 + 200)
    assert next_send(reopened, TIMING) == T0 + 205  # group_wait again, not group_interval


def test_an_empty_group_is_never_due() -> None:
    assert next_send(NotificationGroup(), TIMING) is None
    assert take_due(NotificationGroup(), T0 + 10_000, TIMING) == (NotificationGroup(), None)
