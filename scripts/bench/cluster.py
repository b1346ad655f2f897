"""``flashstock bench cluster``: scaling over owner shards, and an owner's recovery.

On a Ray cluster simulated on this machine (``--nodes``, default 4: one node per owner
at 4 shards), with an embedded Redis (AOF ``appendfsync always``):

1. durable decisions per second with 1, 2 and 4 owner shards: single-line orders over
   ``--skus`` SKUs, in batches of 1,000 lines, 4 batches in flight per owner;
2. recovery after a kill: one owner holding ``--recovery-skus`` SKUs (10,000 by
   default) and their order lines is killed ``--kills`` times; each time, the seconds
   from the kill until a new incarnation has loaded its shard from Redis and committed
   an order (p50 / p99 / max), and how much of it the load took.

All simulated nodes share this machine's cores, so the absolute numbers are this
machine's; the curve shows where the bottleneck is.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import ray

from actors.infra.settings import StoreConfig
from actors.infra.wire import unpack_decisions
from actors.owner.client import StockClient, apply_on
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from scripts.bench.core import drive_owners
from scripts.bench.runtime import bench_redis
from scripts.loadgen.cluster import simulated_cluster
from scripts.loadgen.machine import machine
from scripts.loadgen.progress import progress_bar, progress_over
from scripts.loadgen.skus import zipf_skus
from scripts.loadgen.stats import quantile

IN_FLIGHT_PER_OWNER = 4
BATCH = 1000


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("cluster", help="decisions/s with 1, 2, 4 shards; owner recovery")
    parser.add_argument("--nodes", type=int, default=4, help="simulated Ray nodes")
    parser.add_argument("--orders", type=int, default=200_000, help="order lines per shard count")
    parser.add_argument("--skus", type=int, default=1000, help="SKUs the orders are drawn from")
    parser.add_argument("--recovery-skus", type=int, default=10_000, help="SKUs an owner reloads when killed")
    parser.add_argument("--kills", type=int, default=20, help="owner kills timed for recovery")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with (
        bench_redis() as (redis_url, _),
        simulated_cluster(args.nodes, args.log_level),
    ):
        scaling = [_throughput(redis_url, shards, args.orders, args.skus) for shards in (1, 2, 4)]
        recovery = _recovery(redis_url, args.recovery_skus, args.kills)
    results = {"machine": machine(), "nodes": args.nodes, "scaling": scaling, "recovery": recovery}
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _throughput(redis_url: str, shards: int, orders: int, sku_count: int) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"bc{shards}-{random.randrange(1 << 30):x}", shard_count=shards)
    client = StockClient.start(config)
    skus = [f"SKU-{n:04d}" for n in range(sku_count)]
    client.submit([DefineSku(SkuSettings(sku), orders) for sku in skus])
    now = time.time()
    draws = zipf_skus(sku_count, random.Random(shards), orders)
    by_owner: dict[int, list[Reserve]] = {}
    for n, sku in enumerate(draws):
        by_owner.setdefault(client.owner_index(sku), []).append(Reserve("bench", f"o{n}", sku, 1, now))
    batches = {i: [ops[k : k + BATCH] for k in range(0, len(ops), BATCH)] for i, ops in by_owner.items()}
    progress = progress_bar(total=orders, desc=f"{shards} shard(s)", unit="dec", leave=False)
    seconds, done, _ = drive_owners(client.owners, batches, IN_FLIGHT_PER_OWNER, progress)
    progress.close()
    nodes = {h["node"] for h in ray.get([o.health.remote() for o in client.owners])}
    client.close()
    for owner in client.owners:
        ray.kill(owner, no_restart=True)
    if done != orders:
        raise RuntimeError(f"{shards} shards accepted {done} of {orders} orders")
    return {
        "shards": shards,
        "owner_nodes": len(nodes),
        "orders": orders,
        "seconds": round(seconds, 2),
        "decisions_per_s": round(orders / seconds),
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
    print(f"{'shards':>7} {'owner nodes':>12} {'orders':>9} {'decisions/s':>12}")
    for row in results["scaling"]:
        print(f"{row['shards']:>7} {row['owner_nodes']:>12} {row['orders']:>9} {row['decisions_per_s']:>12,}")
    r = results["recovery"]
    print(
        f"\nowner recovery ({r['skus']:,} SKUs, {r['order_lines']:,} order lines, {r['kills']} kills): "
        f"p50 {r['seconds_p50']} s, p99 {r['seconds_p99']} s, max {r['seconds_max']} s "
        f"(loading from Redis: p50 {r['load_seconds_p50']} s)"
    )
