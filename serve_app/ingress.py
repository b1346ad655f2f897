"""How HTTP requests reach the app's replica: straight in (Ray Serve's direct ingress)
or through Ray Serve's proxy.

Through the proxy, every request crosses two processes: the proxy parses it and hands
it to the replica as a Ray call, and the answer comes back the same way; on a small
machine that hop costs more CPU than a stock query. With direct ingress (Ray Serve's
throughput-optimized mode, ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``, in Ray 2.60) the
replica runs an HTTP server of its own on a port Serve's controller hands out from a
range: the range is made exactly the service's port, so clients keep the address they
know. flashstock runs one replica, so the port is never contended. Serve's proxy still
runs (Serve needs it), on a free port of its own on the same host.

The settings are Ray Serve's environment variables, given to Serve's controller (and so
to the proxy it starts) and to the replicas (``application(args, env=...)``); the
process that starts Serve keeps its own environment.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import ray
from ray import serve
from ray.serve._private import constants as serve_constants

from actors.infra.redis_server import free_port

Ingress = Literal["direct", "proxy"]
INGRESS_CHOICES: tuple[str, ...] = get_args(Ingress)
#: seconds a stopping replica keeps serving for a load balancer to notice (Ray's default
#: is 30: Ctrl-C would take that long; nothing balances flashstock's single replica)
DRAINING_SECONDS = 1
#: the replica environment of another application on the same Serve (a test's second
#: deployment): reached through the proxy, as the service's port is the first one's
THROUGH_PROXY = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}


class ServeHttp(NamedTuple):
    """Serve's HTTP side as started: the environment the app's replicas need (pass it to
    ``application``), and the port of Serve's proxy (the service's port without direct
    ingress)."""

    env: dict[str, str]
    proxy_port: int


def direct_ingress_supported() -> bool:
    """Whether this Ray Serve has direct ingress with a configurable port range."""
    return all(
        hasattr(serve_constants, name)
        for name in (
            "RAY_SERVE_THROUGHPUT_OPTIMIZED",
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT",
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT",
        )
    )


def default_ingress() -> Ingress:
    """Direct where this Ray supports it (measured: ``docs/benchmarks.md``), else the proxy."""
    return "direct" if direct_ingress_supported() else "proxy"


def ingress_env(ingress: Ingress, port: int) -> dict[str, str]:
    """Ray Serve's settings for ``ingress`` with the app on ``port``: for its controller
    and for the replicas; none for the proxy."""
    if ingress == "proxy":
        return {}
    if not direct_ingress_supported():
        raise ValueError(
            "direct ingress needs Ray Serve's throughput-optimized mode (Ray >= 2.60), "
            f"not Ray {ray.__version__}"
        )
    return {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        # the replica's HTTP port, from a range whose end is exclusive
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(DRAINING_SECONDS),
        # a port a dead replica held is kept from new replicas this long, for HAProxy's
        # sake (not used here): the replica Serve starts instead must get it at once
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
    }


def start_http(host: str, port: int, ingress: Ingress) -> ServeHttp:
    """Start Ray Serve so that the app deployed next answers on ``host:port`` by
    ``ingress``. A replica that dies is replaced on the same port (in about 10 s here)."""
    env = ingress_env(ingress, port)
    if not env:
        serve.start(http_options={"host": host, "port": port})
        return ServeHttp(env, port)
    proxy_port = free_port()
    serve.start(
        http_options={"host": host, "port": proxy_port},
        controller_options={"runtime_env": {"env_vars": env}},
    )
    return ServeHttp(env, proxy_port)
