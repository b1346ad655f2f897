"""``serve_app.ingress``: Ray Serve's settings for each way requests reach the app."""

from __future__ import annotations

from serve_app.ingress import THROUGH_PROXY, default_ingress, direct_ingress_supported, ingress_env


def test_direct_ingress_gives_the_replica_exactly_the_service_port() -> None:
    env = ingress_env("direct", 8123)
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    # Serve hands out ports from range(min, max): the end is exclusive
    assert (env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"], env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]) == (
        "8123",
        "8124",
    )
    # a replica that died leaves its port to its replacement at once
    assert env["RAY_SERVE_PORT_QUARANTINE_S"] == "0"


def test_the_proxy_needs_no_setting() -> None:
    assert ingress_env("proxy", 8123) == {}


def test_direct_is_the_default_where_this_ray_has_it() -> None:
    assert direct_ingress_supported()  # Ray 2.60, as pinned
    assert default_ingress() == "direct"
    assert THROUGH_PROXY == {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}
