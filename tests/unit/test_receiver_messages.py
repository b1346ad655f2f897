"""What a group chat reads (actors/alerts/delivery/text.py) and how a robot's answer is
judged (formats.response_problem): pure functions, no HTTP."""

from __future__ import annotations

from typing import Any

from actors.alerts.delivery.formats import digest_payload, response_problem
from actors.alerts.delivery.text import digest_markdown, digest_text
from actors.alerts.webhooks import retry_after_seconds
from policies.notification_groups import Digest


def record(sku: str, level: str, kind: str = "firing") -> dict[str, Any]:
    status = "resolved" if kind == "resolved" else "firing"
    return {
        "kind": kind,
        "alert": {
            "id": f"{sku}-1",
            "sku": sku,
            "level": level,
            "status": status,
            "evidence": {"available": 8, "eta_minutes": 4.2},
            "playbook": "立即补货",
        },
    }


def test_a_reminder_lists_what_still_fires_and_says_so() -> None:
    firing = record("HOODIE", "THRESHOLD")
    payload = digest_payload("ops", "show-1", Digest((), (firing,)))

    title, text = digest_markdown(payload)

    assert title == "库存预警提醒 · show-1: 1 条仍在告警"
    assert "**阈值预警·仍在告警** HOODIE 剩余 8 件，约 4 分钟售罄 立即补货" in text


def test_news_is_listed_most_urgent_first_and_a_resolved_alert_has_no_playbook() -> None:
    notes = (record("CAP", "TREND", "resolved"), record("HOODIE", "EMERGENCY"), record("SOCKS", "THRESHOLD"))
    text = digest_text(digest_payload("ops", "show-1", Digest(notes, notes)))

    lines = text.splitlines()
    assert lines[0] == "库存预警 · show-1: 3 条新通知"
    assert [line.split()[2] for line in lines[1:]] == ["HOODIE", "SOCKS", "CAP"]
    assert lines[-1] == "• [趋势预警·已恢复] CAP 剩余 8 件"


def test_a_robots_error_code_is_a_failure_and_its_rate_limit_is_retried() -> None:
    assert response_problem("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}') is None
    assert response_problem("feishu", 200, b'{"code":0,"msg":"success"}') is None
    assert response_problem("feishu", 200, b'{"StatusCode":0,"StatusMessage":"success"}') is None
    assert response_problem("wecom", 200, b'{"errcode":93000,"errmsg":"invalid webhook url"}') == (
        "wecom robot refused: code 93000 invalid webhook url",
        False,
    )
    assert response_problem("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}') == (
        "wecom robot refused: code 45009 api freq out of limit",
        True,
    )
    assert response_problem("feishu", 200, b"<html>busy</html>") == (
        "HTTP 200: the feishu robot's answer is not a JSON object",
        True,
    )
    assert response_problem("feishu", 400, b'{"code":11232,"msg":"frequency limited"}') == (
        "feishu robot refused: code 11232 frequency limited",
        True,
    )
    assert response_problem("feishu", 400, b'{"code":9499,"msg":"Bad Request"}') is None  # the 400 decides
    assert response_problem("dingtalk", 400, b"<html>bad</html>") is None
    assert response_problem("webhook", 200, b"anything") is None  # flashstock's webhook: 2xx is enough


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = 1_762_862_400.0  # Tue, 11 Nov 2025 12:00:00 GMT
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Tue, 11 Nov 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Tue, 11 Nov 2025 11:00:00 GMT", now) == 0.0  # already past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
