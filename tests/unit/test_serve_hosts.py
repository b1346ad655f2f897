"""``flashstock serve``: which Host names the service answers to (DNS-rebinding check)."""

from __future__ import annotations

from scripts.serve import allowed_hosts
from serve_app.guards.checks import LOOPBACK_HOSTS, host_allowed


def test_a_loopback_bind_answers_only_to_loopback_names() -> None:
    hosts = allowed_hosts("127.0.0.1", [])
    assert host_allowed("127.0.0.1:8000", hosts)
    assert host_allowed("localhost:8000", hosts)
    assert not host_allowed("evil.example:8000", hosts)


def test_a_named_bind_adds_its_own_address_and_the_given_names() -> None:
    hosts = allowed_hosts("10.1.2.3", ["stock.shop.internal"])
    assert hosts == [*LOOPBACK_HOSTS, "10.1.2.3", "stock.shop.internal"]
    assert host_allowed("10.1.2.3:8000", hosts)
    assert host_allowed("stock.shop.internal", hosts)
    assert not host_allowed("rebound.evil.example", hosts)


def test_a_wildcard_bind_accepts_any_host_only_when_no_name_is_given() -> None:
    assert allowed_hosts("0.0.0.0", []) == ["*"]
    named = allowed_hosts("0.0.0.0", ["stock.shop.internal"])
    assert "0.0.0.0" not in named
    assert not host_allowed("evil.example", named)
