"""Which webhook subscription URLs are accepted (server-side request forgery guard), the
operator's allowance, and the Standard Webhooks signature. No real DNS: host names go
through a resolver function the test passes in."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.alerts.webhooks import (
    ALLOW_PRIVATE_ENV,
    WebhookSender,
    allowed_targets,
    url_problem,
)
from policies.channels.signing import sign_webhook
from policies.subscriptions import Subscription
from policies.webhook_targets import Allowance, IPAddress, address_kind, parse_allowance

NONE = Allowance()


class resolver:
    """A resolver from a table that records its calls; a name missing from it does not resolve."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        if host not in self.table:
            raise OSError(f"{host}: Name or service not known")
        return [ipaddress.ip_address(a) for a in self.table[host]]


def no_dns(host: str, port: int) -> list[IPAddress]:
    raise AssertionError(f"no lookup expected, got {host}:{port}")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hooks", "loopback"),
        ("http://127.9.9.9/", "loopback"),
        ("http://[::1]:9000/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://127.0.1/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0/", "unspecified"),
        ("http://10.1/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://10.0.0.5/", "private"),
        ("http://172.16.3.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://100.64.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
    ],
)
def test_a_non_public_literal_address_is_refused_without_a_lookup(url: str, kind: str) -> None:
    problem = url_problem(url, allow=NONE, resolve=no_dns)
    assert problem is not None
    assert f"a {kind} address" in problem
    assert ALLOW_PRIVATE_ENV in problem


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/hooks", "http://8.8.8.8:8080/x?y=z", "https://[2606:4700:4700::1111]/"],
)
def test_a_public_literal_address_is_accepted(url: str) -> None:
    assert url_problem(url, allow=NONE, resolve=no_dns) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@hooks.example.com/",
        "https://token@hooks.example.com/",
        "https://:pw@hooks.example.com/",
        "http://@hooks.example.com/",
    ],
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    problem = url_problem(url, allow=Allowance(everything=True), resolve=no_dns)
    assert problem is not None
    assert "credentials" in problem


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "file:///etc/passwd", "gopher://x/", "//x/"])
def test_only_http_and_https_are_accepted(url: str) -> None:
    assert url_problem(url, allow=Allowance(everything=True), resolve=no_dns) is not None


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    resolve = resolver({"intranet.example.com": ["10.1.2.3"]})

    problem = url_problem("https://intranet.example.com/hook", allow=NONE, resolve=resolve)

    assert problem is not None
    assert "resolves to 10.1.2.3" in problem
    assert "private" in problem
    assert resolve.calls == [("intranet.example.com", 443)]


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    resolve = resolver({"mixed.example.com": ["93.184.216.34", "127.0.0.1"]})
    assert url_problem("http://mixed.example.com:8080/", allow=NONE, resolve=resolve) is not None
    assert resolve.calls == [("mixed.example.com", 8080)]


def test_localhost_is_refused_by_what_it_resolves_to() -> None:
    resolve = resolver({"localhost": ["127.0.0.1", "::1"]})
    problem = url_problem("http://localhost:9/", allow=NONE, resolve=resolve)
    assert problem is not None
    assert "loopback" in problem


def test_a_name_that_resolves_to_public_addresses_is_accepted() -> None:
    resolve = resolver({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    assert url_problem("https://hooks.example.com/a", allow=NONE, resolve=resolve) is None


def test_a_name_that_does_not_resolve_now_is_accepted_and_checked_at_delivery() -> None:
    assert url_problem("https://not-yet.example.com/", allow=NONE, resolve=resolver({})) is None


def test_without_a_resolver_only_the_spelled_address_is_checked() -> None:
    assert url_problem("https://anything.example.com/", allow=NONE, resolve=None) is None
    assert url_problem("https://127.0.0.1/", allow=NONE, resolve=None) is not None


def test_the_operator_can_allow_every_private_target() -> None:
    everything = parse_allowance("1")
    resolve = resolver({"localhost": ["127.0.0.1"]})
    assert url_problem("http://127.0.0.1:8080/", allow=everything, resolve=no_dns) is None
    assert url_problem("http://169.254.169.254/", allow=everything, resolve=no_dns) is None
    assert url_problem("http://localhost/", allow=everything, resolve=resolve) is None


def test_the_operator_can_allow_some_networks_and_hosts_only() -> None:
    allow = parse_allowance("127.0.0.1, 10.20.0.0/16, [fd00::1], Hooks.Internal.")
    resolve = resolver({"hooks.internal": ["192.168.7.7"], "other.internal": ["192.168.7.7"]})

    assert url_problem("http://127.0.0.1:8080/", allow=allow, resolve=no_dns) is None
    assert url_problem("http://10.20.3.4/", allow=allow, resolve=no_dns) is None
    assert url_problem("http://[fd00::1]/", allow=allow, resolve=no_dns) is None
    assert url_problem("http://hooks.internal/", allow=allow, resolve=resolve) is None
    assert url_problem("http://HOOKS.internal./", allow=allow, resolve=resolve) is None
    # everything else stays refused
    assert url_problem("http://127.0.0.2/", allow=allow, resolve=no_dns) is not None
    assert url_problem("http://10.21.0.1/", allow=allow, resolve=no_dns) is not None
    assert url_problem("http://169.254.169.254/", allow=allow, resolve=no_dns) is not None
    assert url_problem("http://other.internal/", allow=allow, resolve=resolve) is not None


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "none"])
def test_no_allowance_by_default(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    else:
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, value)
    assert allowed_targets() == Allowance()


@pytest.mark.parametrize("value", ["1", "true", "YES", "all", "*"])
def test_the_environment_can_allow_everything(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, value)
    assert allowed_targets().everything


def test_the_environment_lists_networks_and_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1,10.0.0.0/8,hooks.internal")
    allow = allowed_targets()
    assert [str(n) for n in allow.networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert allow.hosts == frozenset({"hooks.internal"})


def test_an_unreadable_environment_value_allows_nothing_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1, not a host!")
    with capture_logs() as logs:
        allow = allowed_targets()
    assert allow == Allowance()
    assert [e["event"] for e in logs] == ["webhook_allowance_unreadable"]


def test_url_problem_reads_the_environment_when_not_given_an_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    assert url_problem("http://127.0.0.1:8080/", resolve=no_dns) is not None
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.0/8")
    assert url_problem("http://127.0.0.1:8080/", resolve=no_dns) is None


def test_address_kinds_cover_embedded_ipv4() -> None:
    assert address_kind(ipaddress.ip_address("2002:7f00:1::")) == "loopback"  # 6to4 of 127.0.0.1
    assert address_kind(ipaddress.ip_address("64:ff9b::a00:1")) == "private"  # NAT64 of 10.0.0.1
    assert address_kind(ipaddress.ip_address("::ffff:169.254.169.254")) == "link-local"
    assert address_kind(ipaddress.ip_address("93.184.216.34")) is None


class Letters:
    def __init__(self) -> None:
        self.letters: dict[str, list[dict[str, Any]]] = {}

    def add_dead_letter(self, subscription_id: str, letter: Any) -> None:
        self.letters.setdefault(subscription_id, []).append(dict(letter))

    def dead_letters(self, subscription_id: str) -> list[dict[str, Any]]:
        return self.letters.get(subscription_id, [])


def test_a_delivery_to_a_name_that_now_resolves_to_a_private_address_is_refused_without_retry() -> None:
    # DNS rebinding: public when subscribed, internal when the alert goes out
    resolve = resolver({"hooks.example.com": ["169.254.169.254"]})
    sleeps: list[float] = []
    sender = WebhookSender(Letters(), allow=NONE, resolve=resolve, sleep=sleeps.append)

    delivered = sender.deliver(Subscription("s", "http://hooks.example.com/h", b"k"), "evt", {"a": 1})

    assert delivered is False
    assert sleeps == []
    [letter] = sender.dead_letters("s")
    assert letter["attempts"] == 1
    assert letter["error"].startswith("refused target:")
    assert "link-local" in letter["error"]


def test_a_stored_subscription_with_a_private_address_is_dead_lettered_without_an_attempt() -> None:
    sender = WebhookSender(Letters(), allow=NONE, resolve=no_dns)
    assert sender.deliver(Subscription("s", "http://10.0.0.1/h", b"k"), "evt", {"a": 1}) is False
    [letter] = sender.dead_letters("s")
    assert letter["attempts"] == 0
    assert "unusable url" in letter["error"]
    assert "private" in letter["error"]


def test_the_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # from the Standard Webhooks spec's test suite: secret whsec_<base64 key>
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign_webhook(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_covers_the_id_the_timestamp_and_the_body() -> None:
    base = sign_webhook(b"k", "evt-1", 1700000000, b"{}")
    assert sign_webhook(b"k", "evt-2", 1700000000, b"{}") != base
    assert sign_webhook(b"k", "evt-1", 1700000001, b"{}") != base
    assert sign_webhook(b"k", "evt-1", 1700000000, b"{ }") != base
    assert sign_webhook(b"other", "evt-1", 1700000000, b"{}") != base
