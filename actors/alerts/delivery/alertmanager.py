"""Prometheus Alertmanager's shapes: the webhook payload (version 4) a tool built for
Alertmanager's ``webhook_config`` reads, and the ``postableAlerts`` its
``POST /api/v2/alerts`` takes.

An alert's labels are ``alertname`` (``flashstock_<level>``), ``sku``, ``level``,
``severity`` (EMERGENCY critical, THRESHOLD and CHANNEL_STALLED warning, TREND info),
``show`` and, for a channel alert, ``channel``; its annotations are the reason
(``description``), a ``summary``, the ``playbook`` and the live-room ``hint``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SEVERITY = {"EMERGENCY": "critical", "THRESHOLD": "warning", "CHANNEL_STALLED": "warning", "TREND": "info"}
#: Alertmanager's "no end time"
ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat().replace("+00:00", "Z")


def labels_of(record: Mapping[str, Any], show: str) -> dict[str, str]:
    alert = record["alert"]
    level = str(alert.get("level", ""))
    labels = {
        "alertname": f"flashstock_{level.lower()}",
        "sku": str(alert.get("sku", "")),
        "level": level,
        "severity": SEVERITY.get(level, "warning"),
    }
    if show:
        labels["show"] = show
    if alert.get("channel"):
        labels["channel"] = str(alert["channel"])
    return labels


def annotations_of(record: Mapping[str, Any]) -> dict[str, str]:
    alert = record["alert"]
    evidence = alert.get("evidence") or {}
    summary = f"{alert.get('sku', '')} {alert.get('level', '')}: available {evidence.get('available', '?')}"
    annotations = {"summary": summary, "description": str(alert.get("reason", ""))}
    for name in ("playbook", "hint"):
        if alert.get(name):
            annotations[name] = str(alert[name])
    return annotations


def _resolved(record: Mapping[str, Any]) -> bool:
    return bool(record["alert"].get("status") == "resolved" or record.get("kind") == "resolved")


def _starts(record: Mapping[str, Any]) -> str:
    alert = record["alert"]
    return rfc3339(float(alert.get("opened_wall") or alert.get("updated_wall") or 0.0))


def _ends(record: Mapping[str, Any]) -> str | None:
    alert = record["alert"]
    if not _resolved(record):
        return None
    return rfc3339(float(alert.get("resolved_wall") or alert.get("updated_wall") or 0.0))


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


def webhook_v4(receiver: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Alertmanager webhook body (version 4) of a ``digest_payload``: one group per
    show, every alert of the group with its status."""
    show = str(payload.get("show", ""))
    records = list(payload.get("alerts") or payload.get("notifications") or [])
    alerts: list[dict[str, Any]] = []
    labels_seen: list[dict[str, str]] = []
    annotations_seen: list[dict[str, str]] = []
    for record in records:
        labels = labels_of(record, show)
        annotations = annotations_of(record)
        labels_seen.append(labels)
        annotations_seen.append(annotations)
        fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
        alerts.append(
            {
                "status": "resolved" if _resolved(record) else "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": _starts(record),
                "endsAt": _ends(record) or ZERO_TIME,
                "generatorURL": "",
                "fingerprint": fingerprint,
            }
        )
    group_labels = {"show": show} if show else {}
    return {
        "version": "4",
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common(labels_seen),
        "commonAnnotations": _common(annotations_seen),
        "externalURL": "",
        "alerts": alerts,
    }


def api_alerts(payload: Mapping[str, Any], now: float, repeat_interval: float) -> list[dict[str, Any]]:
    """The ``postableAlerts`` of a digest for ``POST /api/v2/alerts``. A firing alert's
    ``endsAt`` is two repeat intervals from ``now`` (it is re-sent every repeat interval,
    so Alertmanager keeps it while flashstock does; it lapses if flashstock goes away);
    a resolved one ends when it resolved."""
    show = str(payload.get("show", ""))
    alerts = []
    for record in payload.get("alerts") or payload.get("notifications") or []:
        ends = _ends(record) or rfc3339(now + 2 * repeat_interval)
        alerts.append(
            {
                "labels": labels_of(record, show),
                "annotations": annotations_of(record),
                "startsAt": _starts(record),
                "endsAt": ends,
            }
        )
    return alerts
