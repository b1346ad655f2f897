"""Subscriptions (policies/subscriptions.py): what each receiver kind needs, the timing
rules, and the stored form (old records without a kind read as flashstock webhooks)."""

from __future__ import annotations

import json

import pytest

from actors.infra.codec import decode_subscription, encode_subscription
from policies.subscriptions import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    ReceiverKind,
    Subscription,
    subscription_problem,
)

DING = "https://oapi.dingtalk.com/robot/send?access_token=abc"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/0b3c"


@pytest.mark.parametrize(
    ("kind", "url", "secret"),
    [
        ("webhook", "https://hooks.example.com/a", "s" * 16),
        ("alertmanager", "https://hooks.example.com/am", ""),
        ("alertmanager", "https://hooks.example.com/am", "s" * 16),
        ("alertmanager-api", "https://alertmanager.example.com:9093", ""),
        ("dingtalk", DING, ""),
        ("dingtalk", DING, "SECabc"),
        ("wecom", WECOM, ""),
        ("feishu", FEISHU, ""),
        ("feishu", FEISHU, "feishu-secret"),
    ],
)
def test_each_kind_accepts_what_its_platform_needs(kind: str, url: str, secret: str) -> None:
    assert subscription_problem(kind, url, secret, ["EMERGENCY"]) is None


@pytest.mark.parametrize(
    ("kind", "url", "secret", "levels", "field", "words"),
    [
        ("slack", "https://hooks.example.com/a", "", [], "kind", "unknown receiver kind"),
        ("webhook", "https://hooks.example.com/a", "short", [], "secret", "at least 16"),
        ("wecom", WECOM, "a-secret", [], "secret", "no signature"),
        ("dingtalk", "https://oapi.dingtalk.com/robot/send", "", [], "url", "access_token"),
        ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "", [], "url", "key"),
        ("webhook", "https://hooks.example.com/a", "s" * 16, ["LOW"], "levels", "unknown level 'LOW'"),
    ],
)
def test_a_subscription_a_platform_cannot_take_is_refused_naming_the_field(
    kind: str, url: str, secret: str, levels: list[str], field: str, words: str
) -> None:
    problem = subscription_problem(kind, url, secret, levels)
    assert problem is not None
    assert problem[0] == field
    assert words in problem[1]


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        ((-1, 30, 1800), "group_wait_seconds"),
        ((5, 0, 1800), "group_interval_seconds"),
        ((5, 60, 30), "repeat_interval_seconds"),
        ((5, 30, 86_401), "repeat_interval_seconds"),
    ],
)
def test_timing_out_of_bounds_is_refused(timing: tuple[float, float, float], field: str) -> None:
    problem = subscription_problem("wecom", WECOM, "", [], timing)
    assert problem is not None
    assert problem[0] == field


def test_a_subscription_round_trips_with_its_kind_and_timing() -> None:
    sub = Subscription("s1", FEISHU, b"feishu-secret", ("EMERGENCY",), "ops", ReceiverKind.FEISHU, 1, 10, 600)
    assert decode_subscription(encode_subscription(sub)) == sub


def test_a_subscription_stored_before_receivers_reads_as_a_webhook_with_default_timing() -> None:
    old = json.dumps(
        {"id": "s0", "url": "https://h.example/a", "secret": "s" * 16, "levels": [], "created_by": ""}
    )
    sub = decode_subscription(old)
    assert sub.kind == ReceiverKind.WEBHOOK
    assert (sub.group_wait, sub.group_interval, sub.repeat_interval) == (
        DEFAULT_GROUP_WAIT,
        DEFAULT_GROUP_INTERVAL,
        DEFAULT_REPEAT_INTERVAL,
    )
