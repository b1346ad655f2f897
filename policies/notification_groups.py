"""When a receiver is told: Alertmanager's grouping, one group per subscription and show.

Every notification a subscription wants joins its show's group. The group is sent:

- the first time, ``group_wait`` seconds after its first notification (what crosses a
  line together arrives together);
- then, when notifications came in since the last send, ``group_interval`` seconds after
  that send (a busy show gives one message per interval, not one per SKU);
- and, when nothing changed but alerts still fire, ``repeat_interval`` seconds after the
  last send (a reminder).

A sent group carries the notifications since the last send and every alert of the group
as last heard of (firing, or resolved in this send). Resolved alerts leave the group once
sent; a group with nothing left firing is closed, and the next notification opens a new
one with ``group_wait`` again. Times are wall seconds (the receiver's clock, not show time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: a notification as stored and sent (``actors.infra.codec.notification_record``)
Record = Mapping[str, Any]


class Timing(NamedTuple):
    """Seconds: before the first send, between sends with news, between reminders."""

    group_wait: float
    group_interval: float
    repeat_interval: float


class Digest(NamedTuple):
    """What one send tells: the notifications since the last send (empty for a reminder)
    and every alert of the group as last heard of, oldest first."""

    notifications: tuple[Record, ...]
    alerts: tuple[Record, ...]

    @property
    def repeat(self) -> bool:
        return not self.notifications


@dataclass(frozen=True, slots=True)
class NotificationGroup:
    """A group's state: its alerts by id (their latest record), the notifications not yet
    sent, when the first of those arrived and when the group was last sent."""

    alerts: Mapping[str, Record] = field(default_factory=dict)
    pending: tuple[Record, ...] = ()
    opened_at: float | None = None
    sent_at: float | None = None

    @property
    def empty(self) -> bool:
        return not self.alerts and not self.pending


def add_notifications(group: NotificationGroup, records: Sequence[Record], now: float) -> NotificationGroup:
    """``group`` with ``records`` (notifications heard at wall time ``now``) joined."""
    if not records:
        return group
    alerts = dict(group.alerts)
    for record in records:
        alerts[str(record["alert"]["id"])] = record
    opened_at = group.opened_at if group.opened_at is not None else now
    return NotificationGroup(alerts, group.pending + tuple(records), opened_at, group.sent_at)


def next_send(group: NotificationGroup, timing: Timing) -> float | None:
    """The wall time the group is due, or None when there is nothing to send."""
    if group.pending:
        if group.sent_at is None:
            return (group.opened_at or 0.0) + timing.group_wait
        return group.sent_at + timing.group_interval
    if group.sent_at is not None and any(_firing(r) for r in group.alerts.values()):
        return group.sent_at + timing.repeat_interval
    return None


def take_due(group: NotificationGroup, now: float, timing: Timing) -> tuple[NotificationGroup, Digest | None]:
    """At wall time ``now``: the group after sending and what to send, when it is due;
    ``(group, None)`` otherwise."""
    due = next_send(group, timing)
    if due is None or now < due:
        return group, None
    digest = Digest(group.pending, tuple(group.alerts.values()))
    still_firing = {key: r for key, r in group.alerts.items() if _firing(r)}
    if not still_firing:
        return NotificationGroup(), digest  # closed: the next notification opens a new group
    return NotificationGroup(still_firing, (), group.opened_at, now), digest


def _firing(record: Record) -> bool:
    return bool(record["alert"].get("status") != "resolved" and record.get("kind") != "resolved")
