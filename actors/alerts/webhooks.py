"""WebhookSender: alerts out to subscribers' HTTP endpoints, signed, retried, dead-lettered.

A ``Subscription`` (``policies.subscriptions``) names its receiver ``kind``, its endpoint
(``url``), the secret its receiver verifies with, and optionally the alert levels it
wants. ``deliver`` POSTs one digest in the kind's format, signed the kind's way
(``actors.alerts.delivery.formats``: flashstock's own Standard Webhooks signed JSON,
Alertmanager's webhook payload or ``/api/v2/alerts``, DingTalk, WeCom and Feishu group
robots). flashstock's own webhook sends ``User-Agent: flashstock-webhooks`` and the
Standard Webhooks headers: ``webhook-id`` (the event id), ``webhook-timestamp`` (unix
seconds of the attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret,
"{id}.{timestamp}.{body}")>``, so a receiver can refuse a replayed or stale request. For
receivers built before that, ``X-Flashstock-Event`` (the event id) and
``X-Flashstock-Signature`` (``sha256=<hex>`` HMAC of the body alone) are still sent; they
are deprecated, because a body-only signature can be replayed.

Targets (server-side request forgery): a subscription URL is http or https, carries no
credentials (``user:pass@``) and names a public host. A host that is, or resolves to, a
loopback, private, link-local, unspecified, multicast or reserved address is refused
(``policies.webhook_targets``) unless the operator allows it in
``FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE`` (``allowed_targets``). ``url_problem`` checks this
when a subscription is made, whatever its kind; every delivery attempt resolves the host
again, checks every address it resolves to (DNS rebinding) and connects to a checked
address, not to the name. Redirects are never followed (``http.client`` does not follow
them; a 3xx is a failed attempt, not retried). Connections go straight to the target:
proxy environment variables are not used. URLs that reach a log line or a dead letter go
through ``redact``.

Delivery and retry: a 2xx answer is success, except a robot's answer whose body carries an
error code (``formats.response_problem``; a rate-limit code is retried). A 5xx, a timeout
or a connection error is retried, up to ``max_attempts`` attempts in all, after
exponential backoff with full jitter (a uniform delay in ``[0, min(max_delay, base_delay *
2**(attempt-1))]``, waited with the injected ``sleep``). An answer with ``Retry-After``
(seconds or an HTTP date) is retried no sooner than it asks; one that asks for more than
``max_retry_after`` seconds is dead-lettered at once, as waiting that long would hold the
receiver's queue. A 3xx, a refused target, and a 4xx other than 408 and 429 end the
delivery at once. Delivery is at least once within one attempt sequence: a receiver that
handled a request but answered too late, or whose answer was lost, gets the same body
again (with a new timestamp and signature), so receivers dedupe on ``webhook-id``. When
the attempts run out (or the URL is unusable) the event goes to the subscription's dead
letters (``actors.alerts.store.DeadLetters``; in Redis the list
``{namespace}:webhook-dead:{subscription_id}``) with the redacted URL, the payload, the
last error, the attempt count and the time, and ``deliver`` returns False;
``dead_letters`` reads them back for inspection or a manual resend.

Crash: the retry loop lives only in this process. A crash mid-retry loses it with no
dead letter written; the caller's durable alert stream is the source to resend from
(the receiver's dedupe on the event id makes a resend harmless).
"""

from __future__ import annotations

import email.utils
import http.client
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import structlog

from actors.alerts.delivery.formats import MAX_ANSWER_BYTES, Outgoing, build_request, response_problem
from actors.alerts.store import DeadLetters
from actors.infra.settings import current_settings
from policies.subscriptions import ReceiverKind, Subscription
from policies.webhook_targets import Allowance, IPAddress, literal_address, parse_allowance, target_problem

log = structlog.get_logger(__name__)

#: the longest subscription URL accepted
MAX_URL_LENGTH = 2048
#: client errors that say "try again later" rather than "never"
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})
#: receivers whose URL carries their secret
ROBOT_KINDS = frozenset({ReceiverKind.DINGTALK, ReceiverKind.WECOM, ReceiverKind.FEISHU})
#: the operator's explicit allowance of non-public targets (see ``allowed_targets``)
ALLOW_PRIVATE_ENV = "FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE"

#: ``(host, port)`` to the addresses it resolves to; raises OSError when it cannot
Resolver = Callable[[str, int], Sequence[IPAddress]]


class _Attempt(NamedTuple):
    ok: bool
    error: str
    retryable: bool
    #: seconds the receiver asked to wait (``Retry-After``), if it did
    retry_after: float | None = None


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delay-seconds or an HTTP date; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def allowed_targets() -> Allowance:
    """The non-public webhook targets the operator allows, from ``FLASHSTOCK_WEBHOOK_ALLOW_PRIVATE``
    in the environment of this process: ``1`` allows every target; a comma-separated list
    allows those networks, addresses and host names (``127.0.0.1,10.0.0.0/8,hooks.internal``);
    unset or empty allows none. An unreadable value allows none (and says so in the log)."""
    value = current_settings().webhook_allow_private
    try:
        return parse_allowance(value)
    except ValueError as exc:
        log.error("webhook_allowance_unreadable", variable=ALLOW_PRIVATE_ENV, error=str(exc))
        return Allowance()


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (the system resolver), each once, in its order."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = literal_address(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise OSError(f"{host} resolves to no address")
    return found


def url_problem(
    url: str, *, allow: Allowance | None = None, resolve: Resolver | None = resolve_host
) -> str | None:
    """Why ``url`` cannot be a subscription endpoint, or None when it can. ``allow``
    defaults to ``allowed_targets()``. With ``resolve``, a host name is resolved and every
    address checked; a name that does not resolve (now) passes, as every delivery checks
    again. Without it, only addresses spelled in the URL are checked (no DNS)."""
    if len(url) > MAX_URL_LENGTH:
        return f"url is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() for c in url):
        return "url contains whitespace"
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        return f"url is malformed: {exc}"
    if parts.scheme not in ("http", "https"):
        return "url scheme must be http or https"
    if "@" in parts.netloc:
        return "url must not contain credentials (user:password@)"
    host = parts.hostname
    if not host:
        return "url has no host"
    allow = allowed_targets() if allow is None else allow
    address = literal_address(host)
    if address is not None:
        return target_problem(host, [address], allow)
    if resolve is None:
        return None
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return None
    return target_problem(host, addresses, allow)


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


def shown(subscription: Subscription) -> str:
    """The subscription's URL as logs and dead letters show it: credentials redacted, and
    for a group robot, whose URL is its secret (a DingTalk ``access_token``, a WeCom
    ``key``, a Feishu hook id in the path), only the scheme and host."""
    if subscription.kind not in ROBOT_KINDS:
        return redact(subscription.url)
    try:
        parts = urlsplit(subscription.url)
        return f"{parts.scheme}://{parts.hostname}{'' if parts.port is None else f':{parts.port}'}/***"
    except ValueError:
        return "***"


def _connect(addresses: Sequence[IPAddress], port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to the first of the checked ``addresses`` that answers."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout)
        except TimeoutError:
            raise
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to ``host`` (the Host header) at checked addresses, never resolving again."""

    def __init__(self, host: str, port: int, addresses: Sequence[IPAddress], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS like ``_PinnedHTTP``; the certificate is verified for ``host`` (SNI too)."""

    def __init__(
        self, host: str, port: int, addresses: Sequence[IPAddress], timeout: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self.addresses = addresses
        self.tls = tls

    def connect(self) -> None:
        raw = _connect(self.addresses, self.port, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class WebhookSender:
    """Delivers events to subscriptions; failed deliveries end up in ``dead``. ``allow``
    defaults to ``allowed_targets()`` read at each delivery; ``resolve`` and ``clock``
    (the signature timestamp) are injectable for tests."""

    def __init__(
        self,
        dead: DeadLetters,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        max_retry_after: float = 120.0,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        allow: Allowance | None = None,
        resolve: Resolver = resolve_host,
        clock: Callable[[], float] = time.time,
        tls: ssl.SSLContext | None = None,
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
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.allow = allow
        self.resolve = resolve
        self.clock = clock
        self.tls = tls if tls is not None else ssl.create_default_context()

    def backoff(self, attempt: int) -> float:
        """The delay after failed attempt number ``attempt`` (1-based): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return self.rng.uniform(0, ceiling)

    def deliver(self, subscription: Subscription, event_id: str, payload: Mapping[str, Any]) -> bool:
        """POST ``payload`` (a ``formats.digest_payload``; any JSON object for the webhook
        kind) to the subscription in its kind's format, retrying; True once delivered,
        False when the event was dead-lettered instead. A payload that is not JSON
        serialisable raises TypeError before any attempt."""
        build_request(subscription, event_id, payload, 0.0)  # a payload it cannot send fails here
        shown_url = shown(subscription)
        dlog = log.bind(subscription=subscription.id, event_id=event_id, url=shown_url)
        allow = allowed_targets() if self.allow is None else self.allow
        problem = url_problem(subscription.url, allow=allow, resolve=None)
        if problem is not None:
            self._dead_letter(dlog, subscription, event_id, shown_url, payload, f"unusable url: {problem}", 0)
            return False
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(
                build_request(subscription, event_id, payload, self.clock()), subscription.kind, allow
            )
            if result.ok:
                if attempt > 1:
                    dlog.info("webhook_delivered", attempts=attempt)
                return True
            dlog.warning(
                "webhook_attempt_failed", attempt=attempt, error=result.error, retryable=result.retryable
            )
            error, too_late = result.error, (result.retry_after or 0.0) > self.max_retry_after
            if too_late:
                error += (
                    f" (asked to retry after {result.retry_after:.0f} s, over {self.max_retry_after:g} s)"
                )
            if not result.retryable or attempt >= self.max_attempts or too_late:
                self._dead_letter(dlog, subscription, event_id, shown_url, payload, error, attempt)
                return False
            self.sleep(max(self.backoff(attempt), result.retry_after or 0.0))

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        """The dead-lettered deliveries of a subscription, oldest first."""
        return self.dead.dead_letters(subscription_id)

    def _attempt(self, request: Outgoing, kind: str, allow: Allowance) -> _Attempt:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        literal = literal_address(host)
        try:
            addresses = [literal] if literal is not None else list(self.resolve(host, port))
        except (OSError, UnicodeError) as exc:
            return _Attempt(False, f"connection error: cannot resolve {host}: {exc}", True)
        problem = target_problem(host, addresses, allow)
        if problem is not None:
            return _Attempt(False, f"refused target: {problem}", False)
        connection: http.client.HTTPConnection = (
            _PinnedHTTPS(host, port, addresses, self.timeout, self.tls)
            if https
            else _PinnedHTTP(host, port, addresses, self.timeout)
        )
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection.request("POST", path, request.body, request.headers)
            response = connection.getresponse()
            status, reason, location = response.status, response.reason, response.getheader("Location")
            wait = retry_after_seconds(response.getheader("Retry-After"), time.time())
            answer = response.read(MAX_ANSWER_BYTES)
        except TimeoutError:
            return _Attempt(False, f"timed out after {self.timeout} s", True)
        except OSError as exc:
            return _Attempt(False, f"connection error: {exc}", True)
        except http.client.HTTPException as exc:
            return _Attempt(False, f"{type(exc).__name__}: {exc}", True)
        except ValueError as exc:  # a URL http.client cannot send (control or non-ASCII characters)
            return _Attempt(False, f"unusable url: {exc}", False)
        finally:
            connection.close()
        if 200 <= status < 300 or 400 <= status < 500:  # robots name refusals and limits in the body
            refused = response_problem(kind, status, answer)
            if refused is not None:
                return _Attempt(False, refused[0], refused[1], wait)
        if 200 <= status < 300:
            return _Attempt(True, "", False)
        if 300 <= status < 400:
            shown = redact(location or "")
            return _Attempt(False, f"HTTP {status} {reason}: redirect to {shown!r} not followed", False)
        retryable = not (400 <= status < 500) or status in RETRYABLE_CLIENT_STATUSES
        return _Attempt(False, f"HTTP {status} {reason}", retryable, wait)

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
