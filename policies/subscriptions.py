"""Who is told about alerts, in which format, and how often: subscriptions and receivers.

A subscription names a receiver ``kind`` (the message format and signing scheme of the
place it posts to), its ``url``, a ``secret`` where the kind signs, the alert levels it
wants, and its notification timing, Alertmanager style (``group_wait``,
``group_interval``, ``repeat_interval``, seconds; see ``policies.notification_groups``).

Timing defaults are chosen for a live show, not for a data centre. Alertmanager's 30 s /
5 min / 4 h assume incidents that last hours; a show's trend alert buys operators about
ten minutes (the reference double-11 case), so:

- ``group_wait`` 5 s: the first notification of a show waits 5 s, so the SKUs that cross
  a line together when the host says "上链接" arrive as one message, not twenty;
- ``group_interval`` 30 s: a new or changed alert in a show already notified waits at
  most 30 s (5% of the ten minutes), and a group chat gets at most two messages a minute;
- ``repeat_interval`` 30 min: a still-firing alert is repeated twice an hour, which a
  2-6 hour show notices, without flooding the chat.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple
from urllib.parse import parse_qs, urlsplit

from policies.alert_rules import Level


class ReceiverKind:
    """The receivers flashstock can post to."""

    #: flashstock's own JSON digest, signed Standard Webhooks style
    WEBHOOK: Final = "webhook"
    #: Prometheus Alertmanager's webhook payload (version 4), for tools that read it
    ALERTMANAGER: Final = "alertmanager"
    #: a push of the alerts to an Alertmanager's ``/api/v2/alerts`` (url: its base URL)
    ALERTMANAGER_API: Final = "alertmanager-api"
    #: a DingTalk group robot (钉钉自定义机器人), optionally signed (加签)
    DINGTALK: Final = "dingtalk"
    #: a WeCom group robot (企业微信群机器人): the ``key`` in the URL, no signature
    WECOM: Final = "wecom"
    #: a Feishu group robot (飞书自定义机器人), optionally signed (签名校验)
    FEISHU: Final = "feishu"
    ALL: Final = (WEBHOOK, ALERTMANAGER, ALERTMANAGER_API, DINGTALK, WECOM, FEISHU)


#: seconds; why these values: see the module docstring
DEFAULT_GROUP_WAIT: Final = 5.0
DEFAULT_GROUP_INTERVAL: Final = 30.0
DEFAULT_REPEAT_INTERVAL: Final = 1800.0
#: the shortest secret flashstock's own webhook accepts (an HMAC key worth the name)
MIN_WEBHOOK_SECRET: Final = 16
#: the levels a subscription may ask for
SUBSCRIBABLE_LEVELS: Final = (Level.TREND, Level.THRESHOLD, Level.EMERGENCY, Level.CHANNEL_STALLED)
#: the longest a timing may be (seconds): a day
MAX_TIMING_SECONDS: Final = 86_400.0


class Subscription(NamedTuple):
    """A receiver of alert notifications: where, in which format, signed how, which
    levels (empty: every level), and its timing in seconds."""

    id: str
    url: str
    secret: bytes
    #: the alert levels wanted; empty means every level
    levels: tuple[str, ...] = ()
    created_by: str = ""
    kind: str = ReceiverKind.WEBHOOK
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL


def subscription_problem(
    kind: str,
    url: str,
    secret: str,
    levels: Sequence[str],
    timing: Sequence[float] = (DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL),
) -> tuple[str, str] | None:
    """Why a subscription cannot be made, as ``(field, message)``, or None when it can.
    The URL's target (private networks) is checked elsewhere; here: the kind is known,
    the secret fits the kind (flashstock's webhook needs one of at least 16 characters,
    a WeCom robot has no signature so a secret would be false comfort), the URL carries
    what the platform needs (a DingTalk ``access_token``, a WeCom ``key``), the levels
    are known, and the timing (seconds) is within 0..1 day, with ``group_interval`` and
    ``repeat_interval`` positive and ``repeat_interval >= group_interval``."""
    if kind not in ReceiverKind.ALL:
        return "kind", f"unknown receiver kind {kind!r}: one of {', '.join(ReceiverKind.ALL)}"
    if kind == ReceiverKind.WEBHOOK and len(secret) < MIN_WEBHOOK_SECRET:
        return "secret", f"a webhook needs a secret of at least {MIN_WEBHOOK_SECRET} characters"
    if kind == ReceiverKind.WECOM and secret:
        return "secret", "a WeCom group robot has no signature: the key in the url is its secret"
    query = parse_qs(urlsplit(url).query) if "?" in url else {}
    if kind == ReceiverKind.DINGTALK and not query.get("access_token"):
        return "url", "a DingTalk robot url carries its access_token (…/robot/send?access_token=…)"
    if kind == ReceiverKind.WECOM and not query.get("key"):
        return "url", "a WeCom robot url carries its key (…/cgi-bin/webhook/send?key=…)"
    unknown = [level for level in levels if level not in SUBSCRIBABLE_LEVELS]
    if unknown:
        return "levels", f"unknown level {unknown[0]!r}: one of {', '.join(SUBSCRIBABLE_LEVELS)}"
    wait, interval, repeat = timing
    for name, value in (("group_wait", wait), ("group_interval", interval), ("repeat_interval", repeat)):
        if not 0 <= value <= MAX_TIMING_SECONDS:
            return f"{name}_seconds", f"{name} must be within 0..{MAX_TIMING_SECONDS:g} seconds"
    if interval <= 0 or repeat <= 0:
        return "group_interval_seconds", "group_interval and repeat_interval must be positive"
    if repeat < interval:
        return "repeat_interval_seconds", "repeat_interval must not be shorter than group_interval"
    return None
