"""The life of an alert, modelled on Prometheus Alertmanager and Grafana.

An alert's identity is its labels (sku, level, channel), so one condition is one alert.
A condition must hold for ``pending_seconds`` of event time before the alert fires, and
must stay clear for ``keep_firing_seconds`` before it resolves: minute-level sales are
noisy and an alert that flaps is an alert operators learn to ignore. While a higher
level fires for a SKU, notifications of its lower levels are marked inhibited (they stay
visible as context). A firing alert notifies again when it escalates or when its
projected stock-out moves earlier by ``renotify_eta_margin``; clearing sends an explicit
resolved notification. Acknowledgement and silences change who is told, never the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from policies.alert_rules import Level, Verdict


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    #: a condition must hold this long (event time) before the alert fires
    pending_seconds: float = 30.0
    #: a cleared condition must stay clear this long before the alert resolves
    keep_firing_seconds: float = 300.0
    #: notify again when the ETA shrinks by this fraction of the last notified ETA
    renotify_eta_margin: float = 0.25


class Status:
    PENDING: Final = "pending"
    FIRING: Final = "firing"
    RESOLVED: Final = "resolved"


class Alert(NamedTuple):
    """One alert. Times ``*_at`` are event time, ``*_wall`` wall-clock (epoch seconds)."""

    id: str
    sku: str
    level: str
    channel: str
    status: str
    since: float
    opened_at: float | None
    opened_wall: float | None
    updated_at: float
    updated_wall: float
    resolved_at: float | None
    resolved_wall: float | None
    cleared_at: float | None
    reason: str
    evidence: dict[str, Any]
    playbook: str
    hint: str
    notified_eta: float | None
    acked_by: str = ""
    acked_wall: float | None = None

    @property
    def key(self) -> str:
        return alert_key(self.sku, self.level, self.channel)


class Notification(NamedTuple):
    """Something to tell subscribers. ``kind``: firing, escalated, worsened, resolved.
    ``inhibited``: a higher level fires for the same SKU; ``silenced``: a silence matches."""

    kind: str
    alert: Alert
    inhibited: bool = False
    silenced: bool = False


def alert_key(sku: str, level: str, channel: str = "") -> str:
    return f"{sku}|{level}|{channel}"


def step_alerts(
    open_alerts: Mapping[str, Alert],
    verdicts: Sequence[Verdict],
    now: float,
    now_wall: float,
    settings: LifecycleSettings,
    *,
    playbooks: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
    channel: str = "",
) -> tuple[dict[str, Alert], list[Notification]]:
    """Advance the alerts of the verdicts' labels to event time ``now``.

    Returns the alerts still open (pending or firing) for those labels and the
    notifications to send; alerts of other labels are returned unchanged.
    """
    alerts = dict(open_alerts)
    notifications: list[Notification] = []
    for verdict in verdicts:
        key = alert_key(verdict.sku, verdict.level, channel)
        previous = alerts.get(key)
        playbook = (playbooks or {}).get(verdict.level, "")
        hint = (hints or {}).get(verdict.level, "")
        if verdict.active:
            updated, note = _while_active(
                previous, verdict, now, now_wall, settings, playbook, hint, channel, alerts
            )
            alerts[key] = updated
        else:
            updated_or_none, note = _while_clear(previous, now, now_wall, settings)
            if updated_or_none is None:
                alerts.pop(key, None)
            else:
                alerts[key] = updated_or_none
        if note is not None:
            notifications.append(note)
    return alerts, [_inhibit(n, alerts) for n in notifications]


def _while_active(
    previous: Alert | None,
    verdict: Verdict,
    now: float,
    now_wall: float,
    settings: LifecycleSettings,
    playbook: str,
    hint: str,
    channel: str,
    alerts: Mapping[str, Alert],
) -> tuple[Alert, Notification | None]:
    eta = verdict.evidence.get("eta_minutes")
    if previous is None:
        previous = Alert(
            _alert_id(verdict.sku, verdict.level, channel, now),
            verdict.sku,
            verdict.level,
            channel,
            Status.PENDING,
            now,
            None,
            None,
            now,
            now_wall,
            None,
            None,
            None,
            verdict.reason,
            verdict.evidence,
            playbook,
            hint,
            None,
        )
    current = previous._replace(
        updated_at=now,
        updated_wall=now_wall,
        cleared_at=None,
        reason=verdict.reason,
        evidence=verdict.evidence,
        playbook=playbook,
        hint=hint,
    )
    if current.status == Status.PENDING:
        if now - current.since < settings.pending_seconds:
            return current, None
        fired = current._replace(status=Status.FIRING, opened_at=now, opened_wall=now_wall, notified_eta=eta)
        lower_firing = any(
            a.sku == verdict.sku
            and a.status == Status.FIRING
            and Level.RANK[a.level] < Level.RANK[verdict.level]
            for a in alerts.values()
        )
        return fired, Notification("escalated" if lower_firing else "firing", fired)
    if (
        eta is not None
        and current.notified_eta is not None
        and eta < current.notified_eta * (1 - settings.renotify_eta_margin)
    ):
        worse = current._replace(notified_eta=eta)
        return worse, Notification("worsened", worse)
    return current, None


def _while_clear(
    previous: Alert | None, now: float, now_wall: float, settings: LifecycleSettings
) -> tuple[Alert | None, Notification | None]:
    if previous is None or previous.status == Status.PENDING:
        return None, None  # never fired: nothing to tell
    cleared_at = previous.cleared_at if previous.cleared_at is not None else now
    if now - cleared_at < settings.keep_firing_seconds:
        return previous._replace(cleared_at=cleared_at), None
    resolved = previous._replace(
        status=Status.RESOLVED, resolved_at=now, resolved_wall=now_wall, updated_at=now, updated_wall=now_wall
    )
    return None, Notification("resolved", resolved)


def _inhibit(note: Notification, alerts: Mapping[str, Alert]) -> Notification:
    rank = Level.RANK[note.alert.level]
    higher = any(
        a.sku == note.alert.sku and a.status == Status.FIRING and Level.RANK[a.level] > rank
        for a in alerts.values()
    )
    return note._replace(inhibited=higher)


def _alert_id(sku: str, level: str, channel: str, since: float) -> str:
    suffix = f"-{channel}" if channel else ""
    return f"{sku}-{level.lower()}{suffix}-{int(since)}"


def acknowledge(alert: Alert, who: str, now_wall: float) -> Alert:
    """Record that ``who`` has seen the alert (it keeps firing until its condition clears)."""
    return alert._replace(acked_by=who, acked_wall=now_wall)
