"""The words a group chat reads: one digest as markdown (DingTalk, WeCom) or plain text
(Feishu), in the operators' language, one line per notification, most urgent first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LEVEL_NAMES = {
    "EMERGENCY": "紧急预警",
    "THRESHOLD": "阈值预警",
    "TREND": "趋势预警",
    "CHANNEL_STALLED": "渠道中断",
}
#: notification kinds, today's and those of the alert redesign (deescalated, eta, surge)
KIND_NAMES = {
    "firing": "触发",
    "escalated": "升级",
    "deescalated": "降级",
    "worsened": "恶化",
    "eta": "售罄提前",
    "surge": "销量激增",
    "resolved": "已恢复",
}
#: most urgent first
LEVEL_ORDER = {"EMERGENCY": 0, "THRESHOLD": 1, "CHANNEL_STALLED": 2, "TREND": 3}
#: WeCom refuses markdown over 4096 bytes; DingTalk and Feishu take more, but a chat
#: message longer than this is not read anyway
MAX_TEXT_BYTES = 4000


def _line(record: Mapping[str, Any], *, markdown: bool) -> str:
    alert = record["alert"]
    level = str(alert.get("level", ""))
    kind = "repeat" if record.get("kind") is None else str(record["kind"])
    resolved = alert.get("status") == "resolved" or kind == "resolved"
    name = LEVEL_NAMES.get(level, level)
    state = "已恢复" if resolved else KIND_NAMES.get(kind, "仍在告警")
    evidence = alert.get("evidence") or {}
    facts = []
    if "available" in evidence:
        facts.append(f"剩余 {evidence['available']} 件")
    if evidence.get("eta_minutes") is not None and not resolved:
        facts.append(f"约 {float(evidence['eta_minutes']):.0f} 分钟售罄")
    if "safety_line" in evidence:
        facts.append(f"安全线 {evidence['safety_line']}")
    what = alert.get("sku", "")
    if alert.get("channel"):
        what = f"{what} {alert['channel']}"
    head = f"**{name}·{state}** {what}" if markdown else f"[{name}·{state}] {what}"
    parts = [head, "，".join(facts)]
    if not resolved:
        parts.append(str(alert.get("playbook", "")))
    return " ".join(p for p in parts if p)


def _ordered(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(records, key=lambda r: LEVEL_ORDER.get(str(r["alert"].get("level")), 9))


def _title(payload: Mapping[str, Any]) -> str:
    show = payload.get("show") or "flashstock"
    if payload.get("repeat"):
        return f"库存预警提醒 · {show}: {len(payload.get('alerts', []))} 条仍在告警"
    return f"库存预警 · {show}: {payload.get('count', 0)} 条新通知"


def _lines(payload: Mapping[str, Any], *, markdown: bool) -> list[str]:
    records = payload.get("notifications") or [
        {**r, "kind": None} for r in payload.get("alerts", []) if r.get("kind") != "resolved"
    ]
    return [_line(r, markdown=markdown) for r in _ordered(records)]


def _fit(head: str, lines: list[str], bullet: str) -> str:
    text = head
    for n, line in enumerate(lines):
        candidate = f"{text}\n{bullet}{line}"
        if len(candidate.encode()) > MAX_TEXT_BYTES:
            return f"{text}\n{bullet}…另有 {len(lines) - n} 条，请看控制台"
        text = candidate
    return text


def digest_markdown(payload: Mapping[str, Any]) -> tuple[str, str]:
    """The digest's title and markdown text."""
    title = _title(payload)
    return title, _fit(f"### {title}", _lines(payload, markdown=True), "- ")


def digest_text(payload: Mapping[str, Any]) -> str:
    """The digest as plain text."""
    return _fit(_title(payload), _lines(payload, markdown=False), "• ")
