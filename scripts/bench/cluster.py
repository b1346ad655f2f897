"""``flashstock bench cluster``: scaling over owner shards, and an owner's recovery.

On a Ray cluster simulated on this machine (``--nodes``, default 4: one node per owner
at 4 shards), with ``--redis server`` (default: an embedded redis-server, AOF
``appendfsync always``, or ``REDIS_URL``) or ``--redis cluster`` (a local Redis Cluster
of 3 primaries with a replica each, every node AOF ``appendfsync always``; each commit
waits for a replica, ``actors.infra.replication``):

1. durable decisions per second with 1, 2 and 4 owner shards (``--shard-counts``):
   single-line orders over ``--skus`` SKUs, in batches of 1,000 lines, 4 batches in
   flight per owner; with the CPU each order cost (``scripts.bench.cluster_cpu``): the
   whole machine, the owners, the driver, Redis' primaries and replicas, and per primary
   its share of the orders, its Redis CPU per order and the ceiling that implies;
2. recovery after a kill (skipped with ``--kills 0``): one owner holding
   ``--recovery-skus`` SKUs (10,000 by default) and their order lines is killed
   ``--kills`` times; each time, the seconds from the kill until a new incarnation has
   loaded its shard from Redis and committed an order (p50 / p99 / max), and how much of
   it the load took.

All simulated nodes and Redis nodes share this machine's cores, so the absolute numbers
are this machine's; the curve shows where the bottleneck is, and CPU per order is what
sizes a real cluster (``docs/cluster.md``, "Sizing").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

from actors.infra.settings import StoreConfig
from actors.infra.wire import unpack_decisions
from actors.owner.client import StockClient, apply_on
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from policies.routing import DEFAULT_PARTITIONS
from scripts.bench.cluster_cpu import RedisNodes, cpu_per_order, cpu_reading, orders_by_partition
from scripts.bench.core import drive_owners
from scripts.bench.runtime import CLUSTER_PRIMARIES, CLUSTER_REPLICAS, bench_redis, bench_redis_cluster
from scripts.loadgen.cluster import simulated_cluster
from scripts.loadgen.machine import machine
from scripts.loadgen.progress import progress_bar, progress_over
from scripts.loadgen.skus import zipf_skus
from scripts.loadgen.stats import quantile

IN_FLIGHT_PER_OWNER = 4
BATCH = 1000
REDIS_KINDS = {
    "server": "one redis-server (embedded, AOF appendfsync always; or REDIS_URL)",
    "cluster": f"a local Redis Cluster: {CLUSTER_PRIMARIES} primaries, {CLUSTER_REPLICAS} replica each "
    "(AOF appendfsync always on every node; each commit waits for a replica)",
}


def _shard_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        hint = " (give several separated by spaces)" if "," in text else ""
        raise argparse.ArgumentTypeError(f"a shard count is a whole number{hint}, got {text!r}") from None
    if not 1 <= value <= DEFAULT_PARTITIONS:
        raise argparse.ArgumentTypeError(
            f"a shard count must be within 1..{DEFAULT_PARTITIONS} "
            f"(an owner holds whole partitions), got {value}"
        )
    return value


def add_parser(suites: Any) -> None:
    parser = suites.add_parser(
        "cluster", help="decisions/s and CPU per order with 1, 2, 4 shards; owner recovery"
    )
    parser.add_argument("--nodes", type=int, default=4, help="simulated Ray nodes")
    parser.add_argument(
        "--redis",
        choices=tuple(REDIS_KINDS),
        default="server",
        help="; ".join(f"{kind}: {what}" for kind, what in REDIS_KINDS.items())
        + ". The recovery part runs on either (skip it with --kills 0)",
    )
    parser.add_argument("--orders", type=int, default=200_000, help="order lines per shard count")
    parser.add_argument("--skus", type=int, default=1000, help="SKUs the orders are drawn from")
    parser.add_argument(
        "--shard-counts", type=_shard_count, nargs="+", default=[1, 2, 4], help="owner shard counts to run"
    )
    parser.add_argument("--recovery-skus", type=int, default=10_000, help="SKUs an owner reloads when killed")
    parser.add_argument(
        "--kills", type=int, default=20, help="owner kills timed for recovery (0: no recovery part)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the counts given (None when all are usable)."""
    for option, value, least in (
        ("--nodes", args.nodes, 1),
        ("--orders", args.orders, 1),
        ("--skus", args.skus, 1),
        ("--recovery-skus", args.recovery_skus, 1),
        ("--kills", args.kills, 0),
    ):
        if value < least:
            return f"{option} must be at least {least}, got {value}"
    return None


@contextlib.contextmanager
def _redis(kind: str) -> Iterator[str]:
    if kind == "cluster":
        with bench_redis_cluster() as url:
            yield url
    else:
        with bench_redis() as (url, _):
            yield url


def run(args: argparse.Namespace) -> int:
    problem = _problem(args)
    if problem:
        print(f"flashstock bench cluster: {problem}", file=sys.stderr)
        return 2
    with _redis(args.redis) as redis_url, simulated_cluster(args.nodes, args.log_level):
        scaling = [_throughput(redis_url, shards, args.orders, args.skus) for shards in args.shard_counts]
        recovery = _recovery(redis_url, args.recovery_skus, args.kills) if args.kills > 0 else None
    results = {
        "machine": machine(),
        "nodes": args.nodes,
        "redis": args.redis,
        "redis_setup": REDIS_KINDS[args.redis],
        "scaling": scaling,
        "recovery": recovery,
    }
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _throughput(redis_url: str, shards: int, orders: int, sku_count: int) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"bc{shards}-{random.randrange(1 << 30):x}", shard_count=shards)
    client = StockClient.start(config)
    redis_nodes = RedisNodes(redis_url)
    skus = [f"SKU-{n:04d}" for n in range(sku_count)]
    client.submit([DefineSku(SkuSettings(sku), orders) for sku in skus])
    now = time.time()
    draws = zipf_skus(sku_count, random.Random(shards), orders)
    by_owner: dict[int, list[Reserve]] = {}
    for n, sku in enumerate(draws):
        by_owner.setdefault(client.owner_index(sku), []).append(Reserve("bench", f"o{n}", sku, 1, now))
    batches = {i: [ops[k : k + BATCH] for k in range(0, len(ops), BATCH)] for i, ops in by_owner.items()}
    progress = progress_bar(total=orders, desc=f"{shards} shard(s)", unit="dec", leave=False)
    before = cpu_reading(redis_nodes, client.owners)
    driven = drive_owners(client.owners, batches, IN_FLIGHT_PER_OWNER, progress)
    after = cpu_reading(redis_nodes, client.owners)
    progress.close()
    cpu = cpu_per_order(redis_nodes, before, after, orders_by_partition(draws, config), config)
    nodes = {h["node"] for h in ray.get([o.health.remote() for o in client.owners])}
    ledgers = client.all_ledgers()
    client.close()
    redis_nodes.close()
    for owner in client.owners:
        ray.kill(owner, no_restart=True)
    if driven.decided != orders or driven.accepted != orders:
        raise RuntimeError(
            f"{shards} shards decided {driven.decided} and accepted {driven.accepted} of {orders} orders"
        )
    return {
        "shards": shards,
        "owner_nodes": len(nodes),
        "orders": orders,
        "decided": driven.decided,
        "accepted": driven.accepted,
        "reserved_in_ledgers": sum(ledger.reserved for ledger in ledgers.values()),
        "oversold_units": sum(max(0, -ledger.available) for ledger in ledgers.values()),
        "seconds": round(driven.seconds, 2),
        "decisions_per_s": round(orders / driven.seconds),
        **cpu,
    }


def _recovery(redis_url: str, sku_count: int, kills: int) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"br-{random.randrange(1 << 30):x}", shard_count=1)
    client = StockClient.start(config)
    skus = [f"SKU-{n:05d}" for n in range(sku_count)]
    for start in range(0, sku_count, 2000):
        client.submit(
            [DefineSku(SkuSettings(sku, lead_time_minutes=60), 1000) for sku in skus[start : start + 2000]]
        )
    lines = 2 * sku_count
    for start in range(0, lines, 5000):
        client.submit(
            [
                Reserve("douyin", f"l{n}", skus[n % sku_count], 1, time.time())
                for n in range(start, min(start + 5000, lines))
            ]
        )
    (owner,) = client.owners
    seconds, loads = [], []
    for kill in progress_over(range(kills), desc="owner kills", leave=False):
        before = ray.get(owner.health.remote())["epoch"]
        started = time.perf_counter()
        ray.kill(owner, no_restart=False)
        probe = [Reserve("douyin", f"probe-{kill}", skus[kill % sku_count], 1, time.time())]
        while True:
            try:
                decision = unpack_decisions(ray.get(apply_on(owner, probe), timeout=30))[0]
                health = ray.get(owner.health.remote(), timeout=30)
            except (ray.exceptions.RayError, TimeoutError):
                continue  # the call failed with the dying process: send it again (idempotent)
            if decision.accepted and health["epoch"] > before:
                break
        seconds.append(time.perf_counter() - started)
        loads.append(health["load_seconds"])
    client.close()
    ray.kill(owner, no_restart=True)
    return {
        "skus": sku_count,
        "order_lines": lines,
        "kills": kills,
        "seconds_p50": round(quantile(seconds, 0.5) or 0, 3),
        "seconds_p99": round(quantile(seconds, 0.99) or 0, 3),
        "seconds_max": round(max(seconds), 3),
        "load_seconds_p50": round(quantile(loads, 0.5) or 0, 3),
    }


def _print(results: dict[str, Any]) -> None:
    print(f"\nflashstock bench cluster ({results['machine']}; {results['nodes']} simulated nodes)")
    print(f"Redis: {results['redis_setup']}")
    print("\nCPU per order in us: the machine's busy time, and its owners', driver's and Redis' shares")
    print(
        f"{'shards':>6} {'owner nodes':>11} {'orders':>9} {'decisions/s':>11} {'machine':>8} "
        f"{'owners':>7} {'driver':>7} {'Redis primaries':>15} {'replicas':>8}"
    )
    for row in results["scaling"]:
        cpu = row["cpu_us_per_order"]
        print(
            f"{row['shards']:>6} {row['owner_nodes']:>11} {row['orders']:>9} {row['decisions_per_s']:>11,} "
            f"{_us(cpu['machine']):>8} {_us(cpu['owners']):>7} {_us(cpu['driver']):>7} "
            f"{_us(cpu['redis_primaries']):>15} {_us(cpu['redis_replicas']):>8}"
        )
    print("\nper primary: its orders, its Redis CPU per order, and the orders/s one core of it takes")
    print(
        f"{'shards':>6} {'primary':<21} {'partitions':>10} {'orders':>9} {'Redis us/order':>14} "
        f"{'replicas us/order':>17} {'ceiling orders/s':>16}"
    )
    for row in results["scaling"]:
        for primary in row["primaries"]:
            ceiling = primary["ceiling_orders_per_s"]
            own, replicas = primary["redis_cpu_us_per_order"], primary["replicas_cpu_us_per_order"]
            print(
                f"{row['shards']:>6} {primary['node']:<21} {primary['partitions']:>10} "
                f"{primary['orders']:>9} {_us(own):>14} {_us(replicas):>17} "
                f"{'n/a' if ceiling is None else f'{ceiling:,}':>16}"
            )
    r = results["recovery"]
    if r is None:
        return
    print(
        f"\nowner recovery ({r['skus']:,} SKUs, {r['order_lines']:,} order lines, {r['kills']} kills): "
        f"p50 {r['seconds_p50']} s, p99 {r['seconds_p99']} s, max {r['seconds_max']} s "
        f"(loading from Redis: p50 {r['load_seconds_p50']} s)"
    )


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"
