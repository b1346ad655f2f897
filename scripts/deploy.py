"""``flashstock up`` and ``flashstock down``: the actor system of a deployment on a running
Ray cluster, without the HTTP app.

``up`` starts (or finds) the owners, ingest actors, forecaster and channel sync as
detached actors (``actors.bootstrap``) and loads a catalogue, then exits: the actors keep
running. A Serve app deployed with ``bootstrap: true`` (``serve_app/serve.yaml``) runs the
same bootstrap itself, so ``up`` is for starting the system first, loading a catalogue, or
a deployment whose HTTP app runs elsewhere. ``down`` stops and removes those actors;
durable state stays in Redis. Settings come from the options, else the environment
(``DeploymentSettings``: ``REDIS_URL``, ``FLASHSTOCK_NAMESPACE``, ``FLASHSTOCK_SHARDS``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from actors.bootstrap import kill_system, start_system
from actors.infra.durability import startup_line
from actors.infra.runtime import guard_durability, ray_for
from actors.infra.settings import DeploymentSettings, deployment_settings
from actors.owner.fences import bucket_span_problem
from actors.upgrade.guard import guard_layout
from policies.operations import DefineSku
from scripts.catalog import catalog_to_define, validation_problems
from scripts.retention_options import add_retention_options
from scripts.serve import declared_modes
from serve_app.backend import AppArgs
from serve_app.secrets import webhook_secret


def add_parser(commands: Any) -> None:
    up = commands.add_parser(
        "up", help="start the actor system on a Ray cluster (detached) and load a catalogue"
    )
    _common(up)
    add_retention_options(up, from_settings=False)
    up.add_argument("--catalog", type=Path, default=None, help="SKUs to load (YAML or JSON)")
    up.add_argument(
        "--channel-mode",
        action="append",
        default=[],
        metavar="CHANNEL=MODE",
        help="platform-first or reserve-first, as for flashstock serve; repeatable (default: "
        "reserve-first for the generic format, platform-first for the platforms)",
    )
    up.add_argument(
        "--allow-volatile-redis",
        action="store_true",
        help="start even on a Redis without the append-only file (acknowledged decisions can be lost)",
    )
    up.set_defaults(run=run_up)
    down = commands.add_parser(
        "down", help="stop and remove the actor system started by up or by a Serve app"
    )
    _common(down)
    down.set_defaults(run=run_down)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", default=None, help="the Ray cluster to use (default: RAY_ADDRESS; required)"
    )
    parser.add_argument("--redis-url", default=None, help="the Redis every node reaches (default: REDIS_URL)")
    parser.add_argument(
        "--namespace", default=None, help="key namespace (default: FLASHSTOCK_NAMESPACE, else fs)"
    )
    parser.add_argument(
        "--shards", type=int, default=None, help="SKU owners (default: FLASHSTOCK_SHARDS, else 2)"
    )


def settings_of(args: argparse.Namespace) -> DeploymentSettings:
    given = {
        key: value
        for key, value in {
            "REDIS_URL": args.redis_url,
            "namespace": args.namespace,
            "shards": args.shards,
            "retention_seconds": getattr(args, "retention_seconds", None),
            "bucket_seconds": getattr(args, "bucket_seconds", None),
        }.items()
        if value is not None
    }
    return deployment_settings(**given)


def _prepare(args: argparse.Namespace, command: str) -> tuple[DeploymentSettings, str] | int:
    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:
        print(
            f"flashstock {command}: give the Ray cluster with --address HOST:PORT or RAY_ADDRESS "
            "(a local Ray would stop with this command)",
            file=sys.stderr,
        )
        return 2
    try:
        settings = settings_of(args)
    except ValidationError as error:
        problem = _one_line(error)
        hint = " (set REDIS_URL or --redis-url)" if "REDIS_URL" in problem else ""
        print(f"flashstock {command}: {problem}{hint}", file=sys.stderr)
        return 2
    return settings, address


def run_up(args: argparse.Namespace) -> int:
    prepared = _prepare(args, "up")
    if isinstance(prepared, int):
        return prepared
    settings, address = prepared
    catalog = []
    try:  # the modes and the catalogue are checked before anything starts
        app_args = AppArgs(redis_url=settings.redis_url, channel_modes=declared_modes(args.channel_mode))
        if args.catalog:
            catalog = catalog_to_define(args.catalog, time.time())
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        print(f"flashstock up: {_one_line(error)}", file=sys.stderr)
        return 2
    durability = guard_durability(settings.redis_url, allow_volatile=args.allow_volatile_redis)
    guard_layout(settings.redis_url, settings.namespace)  # before Ray starts (start_system checks again)
    problem = bucket_span_problem(settings.store)
    if problem:
        print(f"flashstock up: {problem}", file=sys.stderr)
        return 2
    line = startup_line(durability, allow_volatile=args.allow_volatile_redis)
    if line:
        print(f"flashstock up: {line}", file=sys.stderr, flush=True)
    channels = app_args.channels
    with ray_for(address, log_level=args.log_level):
        system = start_system(
            settings.store,
            channels,
            secrets={c: s for c in channels if (s := webhook_secret(c))},
            modes=app_args.modes,
            detached=True,
        )
        rejected = 0
        if catalog:
            decisions = system.client.submit([DefineSku(sku, units) for sku, units in catalog])
            for decision in decisions:
                if not decision.accepted:
                    rejected += 1
                    print(f"catalog: {decision.sku}: {decision.reason}: {decision.detail}", file=sys.stderr)
        system.client.close()
    print(
        f"flashstock up: namespace {settings.namespace}, {settings.shards} owners, "
        f"{len(channels)} ingest actors, forecaster and channel sync running on {address}; "
        f"{len(catalog) - rejected} of {len(catalog)} catalogue SKUs defined",
        flush=True,
    )
    return 0


def _one_line(error: Exception) -> str:
    """A validation error's problems on one line."""
    if isinstance(error, ValidationError):
        return validation_problems(error, "settings")
    return " ".join(str(error).split())


def run_down(args: argparse.Namespace) -> int:
    prepared = _prepare(args, "down")
    if isinstance(prepared, int):
        return prepared
    settings, address = prepared
    channels = AppArgs(redis_url=settings.redis_url).channels
    with ray_for(address, log_level=args.log_level):
        removed = kill_system(settings.store, channels)
    print(f"flashstock down: removed {len(removed)} actors of namespace {settings.namespace}", flush=True)
    return 0
