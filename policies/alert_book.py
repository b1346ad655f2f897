"""The open alerts of a show, with their acknowledgements and silences (no I/O).

``AlertBook`` applies ``step_alerts`` to the verdicts it is given and remembers what is
open; the AlertHub wraps it with a durable store, the replay command uses it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from policies.alert_lifecycle import (
    Alert,
    LifecycleSettings,
    Notification,
    Status,
    acknowledge,
    step_alerts,
)
from policies.alert_rules import PLAYBOOK, Level, Verdict, highest
from policies.silences import Silence, apply_silences


class AlertBook:
    def __init__(
        self, settings: LifecycleSettings | None = None, playbooks: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings or LifecycleSettings()
        self.playbooks = dict(PLAYBOOK if playbooks is None else playbooks)
        self.open: dict[str, Alert] = {}
        self.silences: dict[str, Silence] = {}
        #: recently resolved alerts (the re-fire guard), by key
        self.resolved: dict[str, tuple[float, str]] = {}

    def step(
        self,
        verdicts: Sequence[Verdict],
        now: float,
        now_wall: float,
        *,
        hints: Mapping[str, str] | None = None,
        channel: str = "",
        settle: bool = False,
    ) -> list[Notification]:
        """Advance the verdicts' alerts to event time ``now``; the notifications to send
        (silenced ones are marked, not dropped: the caller decides who hears them).
        ``settle``: fresh state after a restart, no hold time (``step_alerts``)."""
        self.open, notes, self.resolved = step_alerts(
            self.open,
            verdicts,
            now,
            now_wall,
            self.settings,
            playbooks=self.playbooks,
            hints=hints,
            channel=channel,
            resolved=self.resolved,
            settle=settle,
        )
        return apply_silences(notes, self.silences.values(), now_wall)

    def acknowledge(self, alert_id: str, who: str, now_wall: float) -> Alert | None:
        for key, alert in self.open.items():
            if alert.id == alert_id:
                self.open[key] = acknowledge(alert, who, now_wall)
                return self.open[key]
        return None

    def silence(self, silence: Silence) -> None:
        self.silences[silence.id] = silence

    def unsilence(self, silence_id: str) -> Silence | None:
        """Lift a silence before it ends; the silence, or None if there is none by that id."""
        return self.silences.pop(silence_id, None)

    def expire_silences(self, now_wall: float) -> list[Silence]:
        expired = [s for s in self.silences.values() if s.until_wall <= now_wall]
        for s in expired:
            del self.silences[s.id]
        return expired

    def firing(self, sku: str | None = None) -> list[Alert]:
        """Open alerts (firing or recovering), of ``sku`` when given."""
        return [a for a in self.open.values() if a.status in Status.OPEN and (sku is None or a.sku == sku)]

    def current_level(self, sku: str) -> str | None:
        """The level ``sku``'s alert holds (firing or recovering: a pending alert holds
        nothing yet, so its condition must hold unloosened), None without one."""
        alert = self.open.get(sku)
        return alert.level if alert is not None and alert.status in Status.OPEN else None

    def highest_level(self, sku: str) -> str | None:
        return highest([a.level for a in self.firing(sku) if a.level != Level.CHANNEL_STALLED])

    def restore(
        self, alerts: Iterable[Alert], silences: Iterable[Silence], resolved: Iterable[Alert] = ()
    ) -> None:
        """Load persisted state (after a restart); ``resolved``: the alerts of recent
        ``resolved`` notifications, oldest first, so the re-fire hold survives too."""
        self.open = {a.key: a for a in alerts}
        self.silences = {s.id: s for s in silences}
        self.resolved = {
            a.key: (a.resolved_at, a.level)
            for a in resolved
            if a.resolved_at is not None and a.key not in self.open
        }
