"""``flashstock serve``: the whole service on one machine, with no setup.

Starts (or joins, with ``--address`` / ``RAY_ADDRESS``) Ray, uses ``REDIS_URL`` or an
embedded Redis, starts the SKU owners, the forecaster with the alert hub, one ingest
actor per channel, ChannelSync (equal channel shares), and the Ray Serve HTTP app (API, SSE, dashboard) on
``--host``/``--port``. ``--catalog`` loads SKUs from YAML or JSON. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray import serve

from actors.bootstrap import start_system, stop_system
from actors.infra.durability import ALLOW_VOLATILE_OPTION, startup_line
from actors.infra.redis_server import RedisServerError
from actors.infra.runtime import DEFAULT_DATA_DIR, RedisRuntime, keep_redis_alive, ray_for, redis_runtime
from actors.infra.settings import StoreConfig, current_settings
from actors.owner.fences import bucket_span_problem
from actors.upgrade.guard import guard_layout
from policies.channel_modes import channel_modes
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from scripts.catalog import catalog_to_define
from scripts.retention_options import add_retention_options, retention_option_problem
from serve_app.app import application, passthrough_env
from serve_app.auth import TokenBook, is_loopback
from serve_app.backend import AppArgs, channel_secret
from serve_app.guards.checks import LOOPBACK_HOSTS, FrontDoorArgs
from serve_app.ingress import INGRESS_CHOICES, default_ingress, start_http
from serve_app.secrets import SECRETS_FILE_ENV, Secrets


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("serve", help="run the service: HTTP API, SSE and dashboard")
    parser.add_argument("--host", default="127.0.0.1", help="address the HTTP server binds")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port")
    parser.add_argument(
        "--ingress",
        choices=INGRESS_CHOICES,
        default=default_ingress(),
        help="direct: the app's replica serves HTTP itself (Ray Serve's direct ingress, Ray >= 2.60, "
        "chosen where this Ray has it); proxy: through Ray Serve's HTTP proxy",
    )
    parser.add_argument("--address", default=None, help="join this Ray cluster (or RAY_ADDRESS)")
    parser.add_argument(
        "--shards", type=int, default=current_settings().shards, help="SKU owner actors (FLASHSTOCK_SHARDS)"
    )
    parser.add_argument(
        "--namespace", default=current_settings().namespace, help="Redis key namespace (FLASHSTOCK_NAMESPACE)"
    )
    add_retention_options(parser)
    parser.add_argument("--catalog", type=Path, default=None, help="SKUs to load (YAML or JSON)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="embedded Redis data (ignored when REDIS_URL is set)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name clients use to reach the service, besides loopback and --host "
        "(repeatable; '*' accepts any, which gives up the DNS-rebinding check)",
    )
    parser.add_argument(
        "--channel-mode",
        action="append",
        default=[],
        metavar="CHANNEL=MODE",
        help="platform-first: the platform sells, then tells flashstock, so a refusal is an "
        "oversell, counted and cancelled; or reserve-first: it asks first, so a refusal is a "
        "sold-out; repeatable (default: reserve-first for the generic format of the "
        "miniprogram, platform-first for the platforms)",
    )
    parser.add_argument(
        ALLOW_VOLATILE_OPTION,
        action="store_true",
        help="run even on a Redis without the append-only file (appendonly no, appendfsync no, "
        "or CONFIG refused): acknowledged decisions can then be lost; said on every start",
    )
    parser.set_defaults(run=run)


def declared_modes(values: list[str]) -> dict[str, str]:
    """``--channel-mode CHANNEL=MODE`` options as channel -> mode (``ValueError`` names a
    malformed one; the modes themselves are checked against the channels by ``AppArgs``)."""
    modes = {}
    for value in values:
        channel, sep, mode = value.partition("=")
        if not sep or not channel:
            raise ValueError(f"--channel-mode expects CHANNEL=MODE, got {value!r}")
        modes[channel] = mode
    return modes


def allowed_hosts(host: str, extra: list[str]) -> list[str]:
    """The Host names the service answers to: loopback, the bound host (unless it is a
    wildcard address) and ``--allowed-host``; a wildcard bind without any accepts all."""
    wildcard = host in ("0.0.0.0", "::", "")
    if wildcard and not extra:
        return ["*"]
    named = [] if wildcard else [f"[{host}]" if ":" in host else host]
    return [*LOOPBACK_HOSTS, *named, *extra]


def run(args: argparse.Namespace) -> int:
    if not TokenBook.from_env().enabled and not is_loopback(args.host):
        print(
            f"refusing to bind {args.host} without tokens: set FLASHSTOCK_TOKENS "
            "(role:name:token,...) or use --host 127.0.0.1"
        )
        return 2
    problem = retention_option_problem(args)
    if problem:
        print(f"flashstock serve: {problem}", file=sys.stderr)
        return 2
    try:  # the channel modes are checked before anything starts
        channel_modes(AppArgs(redis_url="redis://unused").channels, declared_modes(args.channel_mode))
    except ValueError as error:
        print(f"flashstock serve: {error}", file=sys.stderr)
        return 2
    try:  # the catalogue too: a service never starts with part of it
        catalog = catalog_to_define(args.catalog, time.time()) if args.catalog else []
    except ValueError as error:
        print(f"flashstock serve: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with (
            redis_runtime(args.data_dir, allow_volatile=args.allow_volatile_redis) as redis,
            replica_secrets(args.data_dir),
        ):
            if redis.durability is not None:
                line = startup_line(redis.durability, allow_volatile=args.allow_volatile_redis)
                if line:
                    print(f"flashstock serve: {line}", file=sys.stderr, flush=True)
            guard_layout(redis.url, args.namespace)  # before Ray starts (start_system checks again)
            problem = bucket_span_problem(
                StoreConfig(
                    redis.url,
                    args.namespace,
                    args.shards,
                    retention_seconds=args.retention_seconds,
                    bucket_seconds=args.bucket_seconds,
                )
            )
            if problem:
                print(f"flashstock serve: {problem}", file=sys.stderr)
                return 2
            return serve_until_stopped(args, redis, catalog, stop)
    except RedisServerError as exc:
        print(f"flashstock serve: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def replica_secrets(data_dir: Path) -> Iterator[None]:
    """This process's tokens and webhook secrets in ``data_dir/secrets.json`` (0600,
    tokens as digests) for the replicas, which get only its path: Ray logs what it
    passes to them. Removed when the service stops."""
    secrets = Secrets.from_environment(os.environ)
    if not secrets:
        yield
        return
    path = secrets.write(data_dir.resolve() / "secrets.json")
    os.environ[SECRETS_FILE_ENV] = str(path)
    try:
        yield
    finally:
        os.environ.pop(SECRETS_FILE_ENV, None)
        path.unlink(missing_ok=True)


def serve_until_stopped(
    args: argparse.Namespace,
    redis: RedisRuntime,
    catalog: list[tuple[SkuSettings, int]],
    stop: threading.Event,
) -> int:
    with ray_for(args.address, log_level=args.log_level):
        # ray.init installs a SIGTERM handler of its own (exit 15 at once): a SIGTERM
        # stops the service in order, like Ctrl-C
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        app_args = AppArgs(
            redis_url=redis.url,
            namespace=args.namespace,
            shard_count=args.shards,
            retention_seconds=args.retention_seconds,
            bucket_seconds=args.bucket_seconds,
            channel_modes=declared_modes(args.channel_mode),
            front_door=FrontDoorArgs(allowed_hosts=allowed_hosts(args.host, args.allowed_host)),
            redis_durability=(
                startup_line(redis.durability, allow_volatile=args.allow_volatile_redis)
                if redis.durability is not None
                else None
            ),
        )
        system = start_system(
            app_args.store,
            app_args.channels,
            secrets={c: s for c in app_args.channels if (s := channel_secret(c))},
            modes=app_args.modes,
        )
        if catalog:
            decisions = system.client.submit([DefineSku(settings, units) for settings, units in catalog])
            rejected = [d for d in decisions if not d.accepted]
            for decision in rejected:
                print(f"catalog: {decision.sku}: {decision.reason}: {decision.detail}")
        http = start_http(args.host, args.port, args.ingress)
        serve.run(
            application(app_args, env=passthrough_env() | http.env), name="flashstock", route_prefix="/"
        )
        tokens = "with tokens" if TokenBook.from_env().enabled else "no tokens: loopback only"
        print(
            f"flashstock is serving on http://{args.host}:{args.port}/ ({tokens}); "
            f"API docs at /docs; Ctrl-C stops",
            flush=True,
        )
        # the embedded Redis is restarted if it dies; if it cannot be kept, the service
        # stops rather than answer (and log) errors for ever
        problem = None
        if redis.server is not None:
            problem = keep_redis_alive(redis.server, stop)
        else:
            stop.wait()
        if problem:
            print(f"flashstock serve: {problem}; stopping", file=sys.stderr, flush=True)
        else:
            print("stopping", flush=True)
        serve.shutdown()  # type: ignore[no-untyped-call]  # Ray Serve leaves it unannotated
        stop_system(system)
    return 1 if problem else 0
