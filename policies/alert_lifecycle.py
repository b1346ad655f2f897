"""The life of an alert, modelled on Grafana's alert states and Alertmanager.

One alert per SKU whose level moves (TREND, THRESHOLD, EMERGENCY), and one per
(channel) for CHANNEL_STALLED. States: ``pending`` (the condition must hold
``pending_seconds`` of event time before anyone is told), ``firing``, ``recovering`` (the
condition fell below the alert's level; it must stay there ``keep_firing_seconds``
before the alert steps down or resolves, so noise around a line cannot flap it) and
``resolved``. After resolving, the same or a lower level does not fire again for
``refire_hold_seconds`` (a restock that clears a condition is not undone by the next
minute's noise); only a worse level does.

Notification kinds: ``firing`` (opened), ``escalated`` / ``deescalated`` (the level moved),
``eta`` (firing, and the projected stock-out crossed the lead time, 30 or 10 minutes),
``surge`` (a new rise of the sales rate on an alert already firing) and ``resolved``
(carries the evidence at resolution; quiet, not sent to receivers, for a TREND that told
only its firing and resolves within ``quiet_resolve_seconds``: a spike that faded).
``eta`` and ``surge`` come at most once per ``renotify_interval_seconds`` per alert.
Acknowledgement and silences change who is told, never the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from policies.alert_checks import check_settings
from policies.alert_rules import Level, Verdict


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    #: a condition must hold this long (event time) before the alert fires (20 s: three
    #: evaluations 10 s apart; 30 s cost detection ~10 s and spared no false alarm in the
    #: scenario suite, docs/alerts.md)
    pending_seconds: float = 20.0
    #: a level must stay below the alert's level this long before it steps down or resolves
    keep_firing_seconds: float = 300.0
    #: after resolving, only a worse level fires again within this long
    refire_hold_seconds: float = 900.0
    #: ETA marks (minutes) that notify when crossed, besides the SKU's lead time
    eta_marks_minutes: tuple[float, ...] = (30.0, 10.0)
    #: ``eta`` and ``surge`` notifications at most this often per alert (seconds)
    renotify_interval_seconds: float = 600.0
    #: a surge on a firing alert is news when its rate is this many times the rate the
    #: alert last told (when it opened, or its last surge)
    surge_renotify_ratio: float = 1.5
    #: a TREND that told nothing but its firing and resolves within this long of opening
    #: (seconds) resolves quietly: stored and shown, not sent to receivers (a spike that
    #: faded is one notification, not two; 25 min: the change test's 20-minute scan keeps a
    #: spike in view, then the 5-minute hold)
    quiet_resolve_seconds: float = 1500.0

    def __post_init__(self) -> None:
        check_settings(self, positive=("surge_renotify_ratio",))


class Status:
    PENDING: Final = "pending"
    FIRING: Final = "firing"
    RECOVERING: Final = "recovering"
    RESOLVED: Final = "resolved"
    #: the states in which an alert is shown as open to operators
    OPEN: Final = (FIRING, RECOVERING)


class Kind:
    FIRING: Final = "firing"
    ESCALATED: Final = "escalated"
    DEESCALATED: Final = "deescalated"
    ETA: Final = "eta"
    SURGE: Final = "surge"
    RESOLVED: Final = "resolved"


class Alert(NamedTuple):
    """One alert. Times ``*_at`` are event time, ``*_wall`` wall-clock (epoch seconds).
    ``level`` moves; ``notified_eta`` is the smallest ETA mark already told;
    ``cleared_at`` when the condition fell below ``level`` (recovering)."""

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
    #: event time of the last notification
    last_notified_at: float | None = None
    #: the start of the last surge told (or the one the alert opened with)
    surge_since: float | None = None
    #: the sales rate (units/minute) when the alert opened or last told a surge: a new
    #: surge must beat it by the change test's ratio
    surge_rate: float | None = None

    @property
    def key(self) -> str:
        return alert_key(self.sku, self.level, self.channel)


class Notification(NamedTuple):
    """Something to tell subscribers. ``kind``: see ``Kind``. ``inhibited``: a higher
    level fires for the same SKU; ``silenced``: a silence matches; ``quiet``: the
    resolution of a TREND that faded soon after its only notification (stored and
    streamed, so dashboards show the current state, but not sent to receivers)."""

    kind: str
    alert: Alert
    inhibited: bool = False
    silenced: bool = False
    quiet: bool = False

    @property
    def told(self) -> bool:
        """Whether receivers (webhooks, robots) are sent this notification."""
        return not (self.inhibited or self.silenced or self.quiet)


def alert_key(sku: str, level: str, channel: str = "") -> str:
    """One alert per SKU whatever its level; CHANNEL_STALLED alerts per channel."""
    return f"{sku}|{level}|{channel}" if level == Level.CHANNEL_STALLED else sku


#: alert key -> (event time it resolved, its level then): the re-fire guard's memory
Resolved = dict[str, tuple[float, str]]


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
    resolved: Mapping[str, tuple[float, str]] | None = None,
    settle: bool = False,
) -> tuple[dict[str, Alert], list[Notification], Resolved]:
    """Advance the alerts of the verdicts' SKUs to event time ``now``.

    Returns the alerts still open (pending, firing, recovering), the notifications to
    send and the re-fire guard's memory; alerts of other keys are returned unchanged.
    ``settle``: the verdicts come from fresh state after a restart, so an alert the
    current stock contradicts steps down or resolves at once (no hold time).
    """
    alerts = dict(open_alerts)
    memory: Resolved = dict(resolved or {})
    notes: list[Notification] = []
    for verdict in verdicts:
        key = alert_key(verdict.sku, verdict.level, channel)
        target = verdict.level if verdict.active else None
        step = _Step(verdict, now, now_wall, settings, playbooks or {}, hints or {}, channel)
        previous = alerts.get(key)
        # nobody was told yet: within the hold time only a worse level may start (or go on
        # pending: one that started worse and fell back is dropped)
        untold = previous is None or previous.status == Status.PENDING
        if untold and (target is None or _held_back(memory.get(key), target, now, settings)):
            alerts.pop(key, None)
            continue
        if previous is None:
            assert target is not None  # an untold alert without a target went on above
            previous = step.new_alert(target)
        current, note = step.advance(previous, target, settle)
        if current.status == Status.RESOLVED or (current.status == Status.PENDING and target is None):
            alerts.pop(key, None)
            if current.status == Status.RESOLVED:
                memory[key] = (now, previous.level)
        else:
            alerts[key] = current
        if note is not None:
            notes.append(note)
    horizon = now - settings.refire_hold_seconds
    memory = {k: v for k, v in memory.items() if v[0] > horizon}
    return alerts, [_inhibit(n, alerts) for n in notes], memory


def _rank(level: str | None) -> int:
    return Level.RANK.get(level or "", 0)


def _held_back(last: tuple[float, str] | None, target: str, now: float, settings: LifecycleSettings) -> bool:
    """Within the hold time after resolving, only a worse level may fire again."""
    return (
        last is not None and now - last[0] < settings.refire_hold_seconds and _rank(target) <= _rank(last[1])
    )


class _Step:
    """One verdict applied to one alert (the pieces of ``step_alerts``)."""

    def __init__(
        self,
        verdict: Verdict,
        now: float,
        now_wall: float,
        settings: LifecycleSettings,
        playbooks: Mapping[str, str],
        hints: Mapping[str, str],
        channel: str,
    ) -> None:
        self.verdict = verdict
        self.now = now
        self.now_wall = now_wall
        self.settings = settings
        self.playbooks = playbooks
        self.hints = hints
        self.channel = channel
        eta = verdict.evidence.get("eta_minutes")
        self.eta: float | None = eta if isinstance(eta, int | float) else None
        surge = verdict.evidence.get("surge")
        self.surge_since: float | None = surge.get("since") if isinstance(surge, dict) else None
        self.surge_after: float | None = surge.get("after") if isinstance(surge, dict) else None
        rate = verdict.evidence.get("projected_rate")
        self.rate: float | None = rate if isinstance(rate, int | float) else None

    def new_alert(self, level: str) -> Alert:
        v = self.verdict
        return Alert(
            _alert_id(v.sku, level, self.channel, self.now),
            v.sku,
            level,
            self.channel,
            Status.PENDING,
            self.now,
            None,
            None,
            self.now,
            self.now_wall,
            None,
            None,
            None,
            v.reason,
            v.evidence,
            self.playbooks.get(level, ""),
            self.hints.get(level, ""),
            None,
        )

    def advance(self, alert: Alert, target: str | None, settle: bool) -> tuple[Alert, Notification | None]:
        now = self.now
        alert = alert._replace(updated_at=now, updated_wall=self.now_wall, evidence=self.verdict.evidence)
        if alert.status == Status.PENDING:
            if target is None:
                return alert, None
            alert = self._at_level(alert, target)
            if now - alert.since < self.settings.pending_seconds:
                return alert, None
            fired = alert._replace(
                opened_at=now,
                opened_wall=self.now_wall,
                surge_since=self.surge_since,
                surge_rate=max(self.surge_after or 0.0, self.rate or 0.0),
            )
            return self._told(fired, Kind.FIRING)
        if target is not None and _rank(target) > _rank(alert.level):
            return self._told(self._at_level(alert, target), Kind.ESCALATED)
        if target is not None and _rank(target) == _rank(alert.level):
            return self._while_holding(self._at_level(alert, target))
        cleared_at = alert.cleared_at if alert.cleared_at is not None else now
        if not settle and now - cleared_at < self.settings.keep_firing_seconds:
            return alert._replace(status=Status.RECOVERING, cleared_at=cleared_at), None
        if target is not None:
            return self._told(self._at_level(alert, target), Kind.DEESCALATED)
        done = alert._replace(
            status=Status.RESOLVED,
            resolved_at=now,
            resolved_wall=self.now_wall,
            reason=_resolution(self.verdict.evidence),
            last_notified_at=now,
        )
        return done, Notification(Kind.RESOLVED, done, quiet=self._faded(alert))

    def _faded(self, alert: Alert) -> bool:
        """A TREND that told only its firing and clears soon after: a spike that faded."""
        opened = alert.opened_at
        return (
            alert.level == Level.TREND
            and opened is not None
            and alert.last_notified_at == opened
            and self.now - opened <= self.settings.quiet_resolve_seconds
        )

    def _at_level(self, alert: Alert, level: str) -> Alert:
        return alert._replace(
            level=level,
            status=Status.FIRING if alert.status != Status.PENDING else Status.PENDING,
            cleared_at=None,
            reason=self.verdict.reason,
            playbook=self.playbooks.get(level, ""),
            hint=self.hints.get(level, ""),
        )

    def _told(self, alert: Alert, kind: str) -> tuple[Alert, Notification]:
        told = alert._replace(
            status=Status.FIRING,
            last_notified_at=self.now,
            notified_eta=_crossed_mark(self.eta, _marks(alert, self.settings)),
        )
        return told, Notification(kind, told)

    def _while_holding(self, alert: Alert) -> tuple[Alert, Notification | None]:
        """Same level: tell only a new surge or a newly crossed ETA mark, and not often."""
        last = alert.last_notified_at
        if last is not None and self.now - last < self.settings.renotify_interval_seconds:
            return alert, None
        if self.surge_after is not None and self.surge_since is not None:
            told_rate = alert.surge_rate if alert.surge_rate is not None else (self.rate or 0.0)
            told_since = (
                alert.surge_since if alert.surge_since is not None else alert.opened_at or alert.since
            )
            if (
                self.surge_after >= told_rate * self.settings.surge_renotify_ratio
                and self.surge_since > told_since
            ):
                surged = alert._replace(surge_since=self.surge_since, surge_rate=self.surge_after)
                return self._told(surged, Kind.SURGE)
        mark = _crossed_mark(self.eta, _marks(alert, self.settings))
        if mark is not None and (alert.notified_eta is None or mark < alert.notified_eta):
            return self._told(alert, Kind.ETA)
        return alert, None


def _marks(alert: Alert, settings: LifecycleSettings) -> tuple[float, ...]:
    lead = alert.evidence.get("lead_time_minutes")
    extra = (float(lead),) if isinstance(lead, int | float) else ()
    return tuple(sorted(set(settings.eta_marks_minutes + extra)))


def _crossed_mark(eta: float | None, marks: Sequence[float]) -> float | None:
    """The smallest ETA mark (minutes) that ``eta`` is under, None when above them all."""
    if eta is None:
        return None
    return next((m for m in marks if eta < m), None)


def _resolution(evidence: Mapping[str, Any]) -> str:
    parts = [f"cleared: {evidence.get('available', '?')} available"]
    if evidence.get("inbound"):
        parts.append(f"{evidence['inbound']} inbound")
    eta = evidence.get("eta_minutes")
    parts.append("not selling out" if eta is None else f"sells out in {eta:.0f} min")
    return ", ".join(parts)


def _inhibit(note: Notification, alerts: Mapping[str, Alert]) -> Notification:
    rank = _rank(note.alert.level)
    higher = any(
        a.sku == note.alert.sku
        and a.status in Status.OPEN
        and _rank(a.level) > rank
        and a.id != note.alert.id
        for a in alerts.values()
    )
    return note._replace(inhibited=higher)


def _alert_id(sku: str, level: str, channel: str, since: float) -> str:
    if level == Level.CHANNEL_STALLED:
        return f"{sku}-{level.lower()}-{channel}-{int(since)}"
    return f"{sku}-{int(since)}"


def acknowledge(alert: Alert, who: str, now_wall: float) -> Alert:
    """Record that ``who`` has seen the alert (it keeps firing until its condition clears)."""
    return alert._replace(acked_by=who, acked_wall=now_wall)
