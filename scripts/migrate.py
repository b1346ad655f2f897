"""``flashstock migrate``: convert a namespace written by the previous storage layout to
the current one (``actors.upgrade.migrate``; the upgrade path in ``docs/storage.md``).
Stop every flashstock process first: the command refuses while other clients are
connected to the Redis. Exit 0 when done (or nothing to do), 2 when refused."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import redis

from actors.infra.redis_client import RedisUrlError, connect, is_cluster_url, without_password
from actors.infra.runtime import DEFAULT_DATA_DIR, redis_runtime
from actors.infra.settings import StoreConfig, current_settings
from actors.upgrade.migrate import MigrationError, Plan, other_clients, plan_migration, run_migration


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="convert data written by the previous storage layout (stop flashstock first)",
        description="Move a namespace's data from flashstock's previous Redis layout to the "
        "current one, in place: SKU by SKU, each in one transaction, channel, grant and alert "
        "keys renamed (streams keep their consumer groups). Restartable; a second run does "
        "nothing. The old ledger stream is kept as NS:legacy-ledger.",
    )
    parser.add_argument(
        "--redis-url", default=None, help="the Redis to migrate (default: REDIS_URL, else the embedded one)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="embedded Redis data (ignored when --redis-url or REDIS_URL is set)",
    )
    parser.add_argument(
        "--namespace", default=current_settings().namespace, help="Redis key namespace (FLASHSTOCK_NAMESPACE)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would move, change nothing")
    parser.add_argument(
        "--allow-other-clients",
        action="store_true",
        help="run although other clients are connected (only when they are not flashstock's)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    url = args.redis_url or current_settings().redis_url
    if url and is_cluster_url(url):
        print(
            "flashstock migrate: a Redis Cluster never held the previous layout; nothing to migrate",
            file=sys.stderr,
        )
        return 2
    try:
        config = StoreConfig(url or "redis://unused", namespace=args.namespace)
    except ValueError as error:
        print(f"flashstock migrate: {error}", file=sys.stderr)
        return 2
    # migrating keeps whatever persistence the Redis has: no durability refusal here
    with redis_runtime(args.data_dir, url, allow_volatile=True) as runtime:
        try:
            client = connect(runtime.url, socket_timeout=30.0, socket_connect_timeout=5.0)
        except RedisUrlError as error:
            print(f"flashstock migrate: the Redis URL cannot be used: {error}", file=sys.stderr)
            return 2
        assert isinstance(client, redis.Redis)  # a cluster URL was refused above
        try:
            return _migrate(client, StoreConfig(runtime.url, config.namespace), args)
        except MigrationError as error:
            print(f"flashstock migrate: {error}; nothing more was changed", file=sys.stderr)
            return 2
        except redis.exceptions.RedisError as error:
            print(f"flashstock migrate: Redis at {without_password(runtime.url)}: {error}", file=sys.stderr)
            return 2
        finally:
            client.close()


def _migrate(client: redis.Redis, config: StoreConfig, args: argparse.Namespace) -> int:
    others = other_clients(client)
    if others and not args.allow_other_clients:
        print(
            f"flashstock migrate: {len(others)} other clients are connected to Redis "
            f"({', '.join(others[:5])}): stop every flashstock process first "
            "(or --allow-other-clients when none of them is flashstock's)",
            file=sys.stderr,
        )
        return 2
    plan = plan_migration(client, config)
    if plan.empty:
        print(f"flashstock migrate: namespace {config.namespace!r} holds nothing of the previous layout")
        return 0
    if args.dry_run:
        for line in describe(plan):
            print(line)
        return 0
    outcome = run_migration(client, config, plan)
    print(
        f"flashstock migrate: namespace {config.namespace!r}: {outcome.skus} SKUs moved into "
        f"{config.partitions} partitions, {outcome.renamed} keys renamed"
    )
    return 0


def describe(plan: Plan) -> list[str]:
    """What ``plan`` moves, a line per SKU and per renamed key."""
    lines = [f"{len(plan.skus)} SKUs, {len(plan.renames)} keys to rename"]
    for sku in plan.skus:
        partition, ledger, opened, settled, oversold = plan.moves[sku]
        lines.append(
            f"sku {sku} -> partition {partition}: {'ledger and settings, ' if ledger else ''}"
            f"{opened} open reservations, {settled} settled lines, {oversold} oversold counts"
        )
    lines.extend(f"rename {old} -> {new}" for old, new in plan.renames)
    return lines
