"""WebhookSender: alerts out to subscribers' HTTP endpoints, signed, retried, dead-lettered.

A ``Subscription`` names an endpoint (``url``), the HMAC secret its receiver verifies
with, and optionally the alert levels it wants. ``deliver`` POSTs one event as JSON
(keys sorted, UTF-8) with ``X-Flashstock-Event`` (the event id),
``X-Flashstock-Signature`` (``sha256=<hex>`` HMAC of the exact body, see
``policies.channels.signing``) and ``User-Agent: flashstock-webhooks``. Credentials in
the URL (``https://user:pass@host/...``) are sent as HTTP Basic authorization and never
logged nor stored: every URL that reaches a log line or a dead letter goes through
``redact``. Redirects are not followed (a signed POST must not be replayed elsewhere);
a 3xx counts as a failed attempt.

Delivery and retry: a 2xx answer is success. Any other status, a timeout or a
connection error is retried, up to ``max_attempts`` attempts in all, after exponential
backoff with full jitter (a uniform delay in ``[0, min(max_delay, base_delay *
2**(attempt-1))]``, waited with the injected ``sleep``). A 4xx other than 408 and 429
means the receiver rejects the event for good and is not retried. Delivery is at least
once within one attempt sequence: a receiver that handled a request but answered too
late, or whose answer was lost, gets the same body again, so receivers dedupe on
``X-Flashstock-Event``. When the attempts run out (or the URL is unusable) the event
goes to the subscription's dead letters (``actors.alerts.store.DeadLetters``; in Redis
the list ``{namespace}:webhook-dead:{subscription_id}``) with the redacted URL, the
payload, the last error, the attempt count and the time, and ``deliver`` returns False;
``dead_letters`` reads them back for inspection or a manual resend.

Crash: the retry loop lives only in this process. A crash mid-retry loses it with no
dead letter written; the caller's durable alert stream is the source to resend from
(the receiver's dedupe on the event id makes a resend harmless).
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import structlog

from actors.alerts.store import DeadLetters
from policies.alert_lifecycle import Subscription
from policies.channels.signing import sign_body

log = structlog.get_logger(__name__)

#: the longest subscription URL accepted
MAX_URL_LENGTH = 2048
#: client errors that say "try again later" rather than "never"
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})
USER_AGENT = "flashstock-webhooks"


class _Attempt(NamedTuple):
    ok: bool
    error: str
    retryable: bool


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a subscription endpoint, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"url is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() for c in url):
        return "url contains whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"url is malformed: {exc}"
    if parts.scheme not in ("http", "https"):
        return "url scheme must be http or https"
    if not parts.hostname:
        return "url has no host"
    return None


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:  # no authority marker: redact anything credential-like all the same
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{rest[end:]}"


def _without_credentials(parts: SplitResult) -> str:
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        return None  # the 3xx surfaces as an HTTPError: a failed attempt


class WebhookSender:
    """Delivers events to subscriptions; failed deliveries end up in ``dead``."""

    def __init__(
        self,
        dead: DeadLetters,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays must not be negative")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.dead = dead
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.opener = urllib.request.build_opener(_NoRedirects())

    def backoff(self, attempt: int) -> float:
        """The delay after failed attempt number ``attempt`` (1-based): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return self.rng.uniform(0, ceiling)

    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool:
        """POST ``payload`` to the subscription, retrying; True once a 2xx answer came back,
        False when the event was dead-lettered instead. A payload that is not JSON
        serialisable raises TypeError before any attempt."""
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        shown_url = redact(subscription.url)
        dlog = log.bind(subscription=subscription.id, event_id=event_id, url=shown_url)
        problem = url_problem(subscription.url)
        if problem is not None:
            self._dead_letter(dlog, subscription, event_id, shown_url, payload, f"unusable url: {problem}", 0)
            return False
        request = self._request(subscription, event_id, body)
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(request)
            if result.ok:
                if attempt > 1:
                    dlog.info("webhook_delivered", attempts=attempt)
                return True
            dlog.warning(
                "webhook_attempt_failed", attempt=attempt, error=result.error, retryable=result.retryable
            )
            if not result.retryable or attempt >= self.max_attempts:
                self._dead_letter(dlog, subscription, event_id, shown_url, payload, result.error, attempt)
                return False
            self.sleep(self.backoff(attempt))

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        """The dead-lettered deliveries of a subscription, oldest first."""
        return self.dead.dead_letters(subscription_id)

    def _request(self, subscription: Subscription, event_id: str, body: bytes) -> urllib.request.Request:
        parts = urlsplit(subscription.url)
        headers = {
            "Content-Type": "application/json",
            "X-Flashstock-Event": event_id,
            "X-Flashstock-Signature": sign_body(subscription.secret, body),
            "User-Agent": USER_AGENT,
        }
        if parts.username is not None or parts.password is not None:
            userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode("ascii")
        return urllib.request.Request(_without_credentials(parts), data=body, headers=headers, method="POST")

    def _attempt(self, request: urllib.request.Request) -> _Attempt:
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status: int = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            retryable = not (400 <= exc.code < 500) or exc.code in RETRYABLE_CLIENT_STATUSES
            return _Attempt(False, f"HTTP {exc.code} {exc.reason}", retryable)
        except urllib.error.URLError as exc:
            return _Attempt(False, f"connection error: {exc.reason}", True)
        except TimeoutError:
            return _Attempt(False, f"timed out after {self.timeout} s", True)
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(False, f"{type(exc).__name__}: {exc}", True)
        if 200 <= status < 300:
            return _Attempt(True, "", False)
        return _Attempt(False, f"HTTP {status}", True)

    def _dead_letter(
        self,
        dlog: Any,
        subscription: Subscription,
        event_id: str,
        shown_url: str,
        payload: Mapping[str, Any],
        error: str,
        attempts: int,
    ) -> None:
        letter = {
            "event_id": event_id,
            "url": shown_url,
            "payload": payload,
            "error": error,
            "attempts": attempts,
            "failed_at": time.time(),
        }
        self.dead.add_dead_letter(subscription.id, letter)
        dlog.error("webhook_dead_lettered", attempts=attempts, error=error)
