"""Each receiver kind against a real HTTP server on loopback that checks the request the
way its platform documents it: DingTalk's 加签 (timestamp in milliseconds and ``sign`` in
the query), Feishu's 签名校验 (``timestamp`` and ``sign`` in the body), WeCom's ``key``,
Alertmanager's webhook payload (version 4) and ``POST /api/v2/alerts``. Each server answers
the way its platform does (HTTP 200 with an error code in the body when it refuses), so
a refusal, a rate limit and a dead receiver are seen as the sender sees them in
production: retried when the platform says "later", dead-lettered when it says "never"
or the attempts run out. The sender's backoff sleep is injected (recorded, not waited)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from actors.alerts.delivery.formats import digest_payload
from actors.alerts.hub import AlertHub
from actors.alerts.store import RedisAlertStore
from actors.alerts.webhooks import ALLOW_PRIVATE_ENV, WebhookSender
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level, Verdict
from policies.notification_groups import Digest
from policies.subscriptions import ReceiverKind, Subscription
from policies.webhook_targets import parse_allowance
from tests.support import fresh_namespace

LOOPBACK = parse_allowance("127.0.0.1")
T0 = 1_762_862_400.0
DING_SECRET = b"SEC0123456789abcdef"
FEISHU_SECRET = b"feishu-robot-secret"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


class Seen(NamedTuple):
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


#: what a platform server answers: status, JSON body, extra headers
Answer = tuple[int, Any, dict[str, str]]


class Platform:
    """A loopback HTTP server that hands each POST to ``judge`` and records it."""

    def __init__(self, judge: Callable[[Seen], Answer]) -> None:
        self.judge = judge
        self.seen: list[Seen] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                seen = Seen(parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                platform.seen.append(seen)
                status, reply, headers = platform.judge(seen)
                data = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02})
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def platform() -> Iterator[Callable[[Callable[[Seen], Answer]], Platform]]:
    started: list[Platform] = []

    def start(judge: Callable[[Seen], Answer]) -> Platform:
        started.append(Platform(judge))
        return started[-1]

    yield start
    for server in started:
        server.close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sender_on(client: redis.Redis, sleeps: Sleeps, **options: Any) -> WebhookSender:
    store = RedisAlertStore(client, fresh_namespace())
    options.setdefault("timeout", 2.0)
    return WebhookSender(store, sleep=sleeps, rng=random.Random(3), allow=LOOPBACK, **options)


def record(sku: str, level: str, kind: str = "firing") -> dict[str, Any]:
    resolved = kind == "resolved"
    return {
        "kind": kind,
        "inhibited": False,
        "silenced": False,
        "alert": {
            "id": f"{sku}-{level.lower()}-1",
            "sku": sku,
            "level": level,
            "channel": "",
            "status": "resolved" if resolved else "firing",
            "opened_wall": T0,
            "updated_wall": T0 + 60,
            "resolved_wall": T0 + 60 if resolved else None,
            "reason": f"{sku} sells faster than it can be restocked",
            "evidence": {"available": 37, "eta_minutes": 12.4, "safety_line": 73},
            "playbook": "补货来不及：主播改话术，引导到替代款或预告下一场",
            "hint": "最后37件，手慢无",
        },
    }


DIGEST = digest_payload(
    "ops",
    "double11",
    Digest(
        (record("HOODIE", Level.EMERGENCY), record("CAP", Level.TREND, "resolved")),
        (record("HOODIE", Level.EMERGENCY), record("CAP", Level.TREND, "resolved")),
    ),
)


# ---- DingTalk ---------------------------------------------------------------------------


def dingtalk_judge(secret: bytes, token: str) -> Callable[[Seen], Answer]:
    """DingTalk's check: the access_token, a timestamp (ms) within one hour, and
    sign = base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)), url-decoded from the query."""

    def judge(seen: Seen) -> Answer:
        if seen.query.get("access_token") != [token]:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}, {}
        timestamp, sign = seen.query.get("timestamp", [""])[0], seen.query.get("sign", [""])[0]
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}, {}
        expected = base64.b64encode(
            hmac.new(secret, f"{timestamp}\n{secret.decode()}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(sign, expected):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}, {}
        message = json.loads(seen.body)
        if message.get("msgtype") != "markdown" or not message["markdown"].get("title"):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown"}, {}
        return 200, {"errcode": 0, "errmsg": "ok"}, {}

    return judge


def test_dingtalk_gets_a_signed_markdown_message(redis_client: redis.Redis, platform: Any) -> None:
    robot = platform(dingtalk_judge(DING_SECRET, "tok-1"))
    sender = sender_on(redis_client, Sleeps())
    sub = Subscription("ding", f"{robot.base}/robot/send?access_token=tok-1", DING_SECRET, kind="dingtalk")

    assert sender.deliver(sub, "evt-d", DIGEST) is True

    [seen] = robot.seen
    text = json.loads(seen.body)["markdown"]["text"]
    assert "紧急预警" in text
    assert "HOODIE" in text
    assert "剩余 37 件" in text
    assert "已恢复" in text
    assert "CAP" in text
    assert text.index("HOODIE") < text.index("CAP")  # the most urgent first
    assert sender.dead_letters("ding") == []


def test_dingtalk_refusing_the_signature_is_dead_lettered_without_retries(
    redis_client: redis.Redis, platform: Any
) -> None:
    robot = platform(dingtalk_judge(DING_SECRET, "tok-1"))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps)
    wrong = Subscription("ding", f"{robot.base}/robot/send?access_token=tok-1", b"SECwrong", kind="dingtalk")

    assert sender.deliver(wrong, "evt-d", DIGEST) is False

    assert len(robot.seen) == 1
    assert sleeps == []
    [letter] = sender.dead_letters("ding")
    assert "310000" in letter["error"]
    assert "sign not match" in letter["error"]
    assert "tok-1" not in json.dumps(letter)  # the robot's URL is its secret
    assert letter["url"] == f"{robot.base}/***"


def test_dingtalk_saying_send_too_fast_is_retried(redis_client: redis.Redis, platform: Any) -> None:
    answers: Iterator[Answer] = iter(
        [(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, {})]
    )
    checked = dingtalk_judge(DING_SECRET, "tok-1")
    robot = platform(lambda seen: next(answers, None) or checked(seen))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps)
    sub = Subscription("ding", f"{robot.base}/robot/send?access_token=tok-1", DING_SECRET, kind="dingtalk")

    assert sender.deliver(sub, "evt-d", DIGEST) is True
    assert len(robot.seen) == 2
    assert len(sleeps) == 1


# ---- Feishu -----------------------------------------------------------------------------


def feishu_judge(secret: bytes) -> Callable[[Seen], Answer]:
    """Feishu's check: body timestamp (s) within one hour and sign =
    base64(HMAC-SHA256(key = timestamp + "\\n" + secret, message = ""))."""

    def judge(seen: Seen) -> Answer:
        message = json.loads(seen.body)
        timestamp, sign = str(message.get("timestamp", "")), str(message.get("sign", ""))
        key = f"{timestamp}\n{secret.decode()}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 3600
        if not fresh or not hmac.compare_digest(sign, expected):
            return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}, {}
        if message.get("msg_type") != "text" or not message["content"].get("text"):
            return 200, {"code": 9499, "msg": "Bad Request"}, {}
        return 200, {"code": 0, "msg": "success", "data": {}}, {}

    return judge


def test_feishu_gets_a_signed_text_message(redis_client: redis.Redis, platform: Any) -> None:
    robot = platform(feishu_judge(FEISHU_SECRET))
    sender = sender_on(redis_client, Sleeps())
    sub = Subscription("fs", f"{robot.base}/open-apis/bot/v2/hook/h-1", FEISHU_SECRET, kind="feishu")

    assert sender.deliver(sub, "evt-f", DIGEST) is True

    [seen] = robot.seen
    text = json.loads(seen.body)["content"]["text"]
    assert "double11" in text
    assert "[紧急预警·触发] HOODIE" in text


def test_feishu_refusing_the_signature_is_dead_lettered(redis_client: redis.Redis, platform: Any) -> None:
    robot = platform(feishu_judge(FEISHU_SECRET))
    sender = sender_on(redis_client, Sleeps())
    sub = Subscription("fs", f"{robot.base}/open-apis/bot/v2/hook/h-1", b"another-secret", kind="feishu")

    assert sender.deliver(sub, "evt-f", DIGEST) is False

    [letter] = sender.dead_letters("fs")
    assert "19021" in letter["error"]
    assert "h-1" not in letter["url"]


# ---- WeCom ------------------------------------------------------------------------------


def wecom_judge(seen: Seen) -> Answer:
    """WeCom's check: the key in the query; a markdown message of at most 4096 bytes."""
    if seen.query.get("key") != [WECOM_KEY]:
        return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, {}
    message = json.loads(seen.body)
    content = message.get("markdown", {}).get("content", "")
    if message.get("msgtype") != "markdown" or not content or len(content.encode()) > 4096:
        return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}, {}
    return 200, {"errcode": 0, "errmsg": "ok"}, {}


def test_wecom_gets_a_markdown_message_within_its_size_limit(
    redis_client: redis.Redis, platform: Any
) -> None:
    robot = platform(wecom_judge)
    sender = sender_on(redis_client, Sleeps())
    sub = Subscription("wc", f"{robot.base}/cgi-bin/webhook/send?key={WECOM_KEY}", b"", kind="wecom")
    many = [record(f"SKU-{n:03d}", Level.THRESHOLD) for n in range(200)]  # a flash sale's worth
    big = digest_payload("wc", "double11", Digest(tuple(many), tuple(many)))

    assert sender.deliver(sub, "evt-w", big) is True

    content = json.loads(robot.seen[0].body)["markdown"]["content"]
    assert "**阈值预警·触发** SKU-000" in content
    assert "请看控制台" in content  # the rest is counted, not cut mid-line


def test_a_wecom_robot_that_keeps_failing_is_retried_then_dead_lettered(
    redis_client: redis.Redis, platform: Any
) -> None:
    robot = platform(lambda seen: (502, {"errmsg": "bad gateway"}, {}))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps, max_attempts=3)
    sub = Subscription("wc", f"{robot.base}/cgi-bin/webhook/send?key={WECOM_KEY}", b"", kind="wecom")

    assert sender.deliver(sub, "evt-w", DIGEST) is False

    assert len(robot.seen) == 3
    assert len(sleeps) == 2
    [letter] = sender.dead_letters("wc")
    assert letter["attempts"] == 3
    assert "502" in letter["error"]
    assert letter["payload"] == DIGEST  # kept whole, for a resend
    assert WECOM_KEY not in json.dumps(letter)


# ---- Alertmanager -----------------------------------------------------------------------

V4_KEYS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


def v4_judge(seen: Seen) -> Answer:
    """What a receiver of Alertmanager's webhook_config reads (payload version 4)."""
    message = json.loads(seen.body)
    if set(message) != V4_KEYS or message["version"] != "4":
        return 400, {"error": f"not a version 4 payload: {sorted(message)}"}, {}
    for alert in message["alerts"]:
        if set(alert) != ALERT_KEYS or alert["status"] not in ("firing", "resolved"):
            return 400, {"error": f"bad alert {alert}"}, {}
        if not alert["labels"].get("alertname"):
            return 400, {"error": "alertname missing"}, {}
    return 200, {}, {}


def test_alertmanager_webhook_gets_a_version_4_payload(redis_client: redis.Redis, platform: Any) -> None:
    receiver = platform(v4_judge)
    sender = sender_on(redis_client, Sleeps())
    sub = Subscription("am", f"{receiver.base}/alerts", b"", kind=ReceiverKind.ALERTMANAGER)

    assert sender.deliver(sub, "evt-a", DIGEST) is True

    message = json.loads(receiver.seen[0].body)
    assert message["status"] == "firing"
    assert message["groupLabels"] == {"show": "double11"}
    assert message["commonLabels"] == {"show": "double11"}
    hoodie, cap = message["alerts"]
    assert hoodie["labels"] == {
        "alertname": "flashstock_emergency",
        "sku": "HOODIE",
        "level": "EMERGENCY",
        "severity": "critical",
        "show": "double11",
    }
    assert hoodie["endsAt"] == "0001-01-01T00:00:00Z"
    assert hoodie["startsAt"] == "2025-11-11T12:00:00Z"
    assert cap["status"] == "resolved"
    assert cap["endsAt"] == "2025-11-11T12:01:00Z"
    assert "webhook-signature" not in receiver.seen[0].headers  # no secret, no signature


def api_judge(seen: Seen) -> Answer:
    """Alertmanager's POST /api/v2/alerts: a list of postableAlerts, each with labels."""
    if seen.path != "/api/v2/alerts":
        return 404, {"error": "not found"}, {}
    alerts = json.loads(seen.body)
    if not isinstance(alerts, list) or not all(a.get("labels") and a.get("startsAt") for a in alerts):
        return 400, {"error": "postableAlerts expected"}, {}
    return 200, {}, {}


def test_alerts_are_pushed_to_an_alertmanager_api(redis_client: redis.Redis, platform: Any) -> None:
    alertmanager = platform(api_judge)
    sender = sender_on(redis_client, Sleeps(), clock=lambda: T0 + 100)
    sub = Subscription(
        "am-api", alertmanager.base, b"", kind=ReceiverKind.ALERTMANAGER_API, repeat_interval=600
    )

    assert sender.deliver(sub, "evt-p", DIGEST) is True

    hoodie, cap = json.loads(alertmanager.seen[0].body)
    assert hoodie["labels"]["alertname"] == "flashstock_emergency"
    assert hoodie["endsAt"] == "2025-11-11T12:21:40Z"  # two repeat intervals on: kept while re-sent
    assert cap["endsAt"] == "2025-11-11T12:01:00Z"  # resolved: ends when it resolved


# ---- Retry-After ------------------------------------------------------------------------


def test_retry_after_is_honoured(redis_client: redis.Redis, platform: Any) -> None:
    answers: Iterator[Answer] = iter([(503, {}, {"Retry-After": "7"})])
    receiver = platform(lambda seen: next(answers, None) or (200, {}, {}))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps, base_delay=0.1, max_delay=0.2)
    sub = Subscription("wh", f"{receiver.base}/hook", b"s" * 16)

    assert sender.deliver(sub, "evt-r", DIGEST) is True
    assert sleeps == [7.0]  # not the 0.1 s the backoff alone would wait


def test_a_retry_after_beyond_the_limit_is_dead_lettered_at_once(
    redis_client: redis.Redis, platform: Any
) -> None:
    receiver = platform(lambda seen: (429, {}, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps, max_retry_after=120)
    sub = Subscription("wh", f"{receiver.base}/hook", b"s" * 16)

    assert sender.deliver(sub, "evt-r", DIGEST) is False

    assert sleeps == []
    assert len(receiver.seen) == 1
    [letter] = sender.dead_letters("wh")
    assert "3600 s" in letter["error"]


# ---- through the hub --------------------------------------------------------------------


def test_the_hub_sends_a_show_to_a_feishu_robot_after_group_wait(
    redis_client: redis.Redis, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1")  # the robot is on loopback
    robot = platform(feishu_judge(FEISHU_SECRET))
    store = RedisAlertStore(redis_client, fresh_namespace())
    now = [T0]
    sender = WebhookSender(store, sleep=Sleeps(), allow=LOOPBACK, timeout=2.0)
    hub = AlertHub(store, settings=LifecycleSettings(pending_seconds=0), sender=sender, clock=lambda: now[0])
    hub.subscribe(
        Subscription(
            "fs", f"{robot.base}/open-apis/bot/v2/hook/h-1", FEISHU_SECRET, kind="feishu", group_wait=10
        )
    )
    evidence = {"available": 12, "eta_minutes": 6.0}
    hub.step([Verdict("HOODIE", Level.EMERGENCY, True, "why", evidence)], T0, T0)
    hub.step([Verdict("CAP", Level.THRESHOLD, True, "why", evidence)], T0 + 3, T0 + 3)

    assert hub.flush_digests(T0 + 9) == 0
    assert hub.flush_digests(T0 + 10) == 1

    [seen] = robot.seen
    text = json.loads(seen.body)["content"]["text"]
    assert "HOODIE" in text
    assert "CAP" in text


@pytest.mark.parametrize(
    ("kind", "path", "secret"),
    [
        (ReceiverKind.WEBHOOK, "/hook", b"s" * 16),
        (ReceiverKind.ALERTMANAGER, "/alerts", b""),
        (ReceiverKind.ALERTMANAGER_API, "", b""),
        (ReceiverKind.DINGTALK, "/robot/send?access_token=tok-1", DING_SECRET),
        (ReceiverKind.WECOM, f"/cgi-bin/webhook/send?key={WECOM_KEY}", b""),
        (ReceiverKind.FEISHU, "/open-apis/bot/v2/hook/h-1", FEISHU_SECRET),
    ],
)
def test_every_kind_retries_a_receiver_that_is_down_and_then_dead_letters(
    redis_client: redis.Redis, platform: Any, kind: str, path: str, secret: bytes
) -> None:
    down = platform(lambda seen: (503, {"error": "maintenance"}, {}))
    sleeps = Sleeps()
    sender = sender_on(redis_client, sleeps, max_attempts=3)
    sub = Subscription("sub", f"{down.base}{path}", secret, kind=kind)

    assert sender.deliver(sub, "evt-x", DIGEST) is False

    assert len(down.seen) == 3
    assert len(sleeps) == 2
    [letter] = sender.dead_letters("sub")
    assert letter["attempts"] == 3
    assert "503" in letter["error"]
    assert letter["payload"] == DIGEST
