"""``flashstock bench core``: durable decisions per second through one SKU owner.

For 1 and 1,000 SKUs and caller batches of 1, 100 and 1,000 order lines, the driver
keeps several calls in flight to one owner actor (the owner's group commit merges
them), and reports decisions/s, the caller's p50/p99 call latency and the owner's
p50/p99 commit latency (send to durable reply). Every decision is committed to Redis
with AOF ``appendfsync always`` before it is answered.

The same run measures the classic alternative, one Redis Lua decrement per order
(with an idempotency record) pipelined 500 at a time on the same server, and prints
the ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import ray

from actors.infra.redis_client import RedisClient, connect
from actors.infra.redis_server import RedisServer
from actors.infra.runtime import ray_for, redis_for
from actors.infra.settings import StoreConfig, current_settings, tune_gc_for_throughput
from actors.infra.wire import unpack_decisions
from actors.owner.client import apply_on, start_owners
from actors.owner.commit import GroupCommitter
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Operation, Reserve
from scripts.bench.targets import OWNER, add_verdicts, print_verdicts
from scripts.loadgen.machine import machine
from scripts.loadgen.progress import Progress, progress_bar, progress_over

#: The classic flash-sale check-and-decrement, one call per order: KEYS[1] the SKU's
#: stock hash (field ``available``), KEYS[2] the order's idempotency key, optional
#: KEYS[3] a ledger stream that gets the decision (ARGV: quantity, sku, order id).
#: Returns 1 accepted, 0 rejected, 2 already decided (nothing deducted again).
CLASSIC_LUA = """
if redis.call('SET', KEYS[2], ARGV[1], 'NX') == false then return 2 end
local accepted = 1
local left = redis.call('HINCRBY', KEYS[1], 'available', -tonumber(ARGV[1]))
if left < 0 then
  redis.call('HINCRBY', KEYS[1], 'available', tonumber(ARGV[1]))
  redis.call('SET', KEYS[2], 'rejected')
  accepted = 0
end
if KEYS[3] then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '1000000', '*', 'order', ARGV[3], 'sku', ARGV[2],
             'quantity', ARGV[1], 'accepted', accepted)
end
return accepted
"""
CLASSIC_PIPELINE = 500


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("core", help="SKU owner decisions/s with durable group commit")
    parser.add_argument(
        "--orders", type=int, default=300_000, help="order lines per case with batches of 100 and 1,000"
    )
    parser.add_argument(
        "--single-orders", type=int, default=20_000, help="order lines for the batch-size-1 cases"
    )
    parser.add_argument(
        "--classic-orders", type=int, default=100_000, help="orders for the one-Lua-call-per-order baseline"
    )
    parser.add_argument(
        "--skip-fsync-comparison",
        action="store_true",
        help="do not rerun the main case with appendfsync everysec",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="flashstock-bench-") as tmp:
        with redis_for(Path(tmp)) as redis_url:
            results = _run_cases(args, redis_url)
        if not current_settings().redis_url and not args.skip_fsync_comparison:
            # What fsync on every commit costs: the main case again with fsync once a second.
            with (
                RedisServer(Path(tmp) / "everysec", appendfsync="everysec") as relaxed,
                ray_for(num_cpus=2, log_level=args.log_level),
            ):
                results["everysec_1sku_batch1000"] = _owner_case(relaxed.url, 1, 1000, args.orders)
    verdicts = add_verdicts(OWNER, results)
    _print(results)
    print_verdicts(verdicts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _run_cases(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    cases = []
    with ray_for(num_cpus=2, log_level=args.log_level):
        for sku_count in (1, 1000):
            for batch in (1, 100, 1000):
                orders = args.single_orders if batch == 1 else args.orders
                cases.append(_owner_case(redis_url, sku_count, batch, orders))
    classic = _classic_case(redis_url, args.classic_orders)
    in_process = _in_process_case(redis_url, args.orders)
    best = max(c["decisions_per_s"] for c in cases if c["batch"] == 1000)
    return {
        "machine": machine(),
        "durability": "Redis AOF appendfsync always" if not current_settings().redis_url else "REDIS_URL",
        "cases": cases,
        "classic_lua_per_order": classic,
        "in_process_1sku_batch1000": in_process,
        "ratio_batch1000_vs_classic": round(best / classic["decisions_per_s"], 2),
    }


def _owner_case(redis_url: str, sku_count: int, batch: int, orders: int) -> dict[str, Any]:
    namespace = f"bench{sku_count}x{batch}-{random.randrange(1 << 30):x}"
    config = StoreConfig(redis_url, namespace=namespace, shard_count=1)
    (owner,) = start_owners(config)
    skus = [f"SKU-{n:04d}" for n in range(sku_count)]
    ray.get(apply_on(owner, [DefineSku(SkuSettings(sku), orders) for sku in skus]))
    rng = random.Random(sku_count * 7919 + batch)
    now = time.time()
    ops = [Reserve("bench", f"o{n}", skus[rng.randrange(sku_count)], 1, now) for n in range(orders)]
    batches = [ops[i : i + batch] for i in range(0, orders, batch)]
    in_flight_limit = 256 if batch == 1 else 8
    ray.get(owner.commit_stats.remote(reset=True))
    progress = progress_bar(total=orders, desc=f"{sku_count} sku, batch {batch}", unit="dec", leave=False)
    driven = drive_owners([owner], {0: batches}, in_flight_limit, progress)
    progress.close()
    elapsed, accepted, _, latencies = driven
    stats = ray.get(owner.commit_stats.remote())
    ray.kill(owner, no_restart=True)
    if accepted != orders:
        raise RuntimeError(f"expected every one of {orders} orders accepted, got {accepted}")
    return {
        "skus": sku_count,
        "batch": batch,
        "orders": orders,
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(orders / elapsed),
        "call_ms_p50": round(latencies[len(latencies) // 2] * 1000, 2),
        "call_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "commit_ms_p50": round(stats["commit_ms_p50"], 2),
        "commit_ms_p99": round(stats["commit_ms_p99"], 2),
        "ops_per_commit": round(stats["ops_per_commit"]),
    }


class Driven(NamedTuple):
    seconds: float
    accepted: int  # decisions accepted
    decided: int  # decisions returned, accepted or not
    latencies: list[float]  # seconds of each call, sorted


def drive_owners(
    owners: Sequence[Any],
    batches: Mapping[int, Sequence[Sequence[Operation]]],
    in_flight: int,
    progress: Progress | None = None,
) -> Driven:
    """Send owner ``i`` its ``batches[i]``, one call per batch, keeping ``in_flight`` calls
    outstanding per owner (its group commit merges them) until every one is answered."""
    queues = {index: deque(owner_batches) for index, owner_batches in batches.items()}
    pending: dict[Any, tuple[int, float]] = {}  # call -> owner index, sent at
    outstanding: Counter[int] = Counter()
    latencies: list[float] = []
    accepted = decided = 0
    started = time.perf_counter()
    while pending or any(queues.values()):
        for index, queue in queues.items():
            while queue and outstanding[index] < in_flight:
                pending[apply_on(owners[index], queue.popleft())] = (index, time.perf_counter())
                outstanding[index] += 1
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            index, sent = pending.pop(ref)
            outstanding[index] -= 1
            latencies.append(time.perf_counter() - sent)
            decisions = unpack_decisions(ray.get(ref))
            accepted += sum(1 for d in decisions if d.accepted)
            decided += len(decisions)
            if progress is not None:
                progress.update(len(decisions))
    return Driven(time.perf_counter() - started, accepted, decided, sorted(latencies))


def _in_process_case(redis_url: str, orders: int) -> dict[str, Any]:
    """The owner without Ray: 1,000-line batches straight into a ``GroupCommitter`` in
    this process, to separate the cost of deciding and committing from Ray's."""
    tune_gc_for_throughput()  # as the owner actor does
    config = StoreConfig(redis_url, namespace=f"inproc-{random.randrange(1 << 30):x}", shard_count=1)
    owner = SkuOwner(config, 0, RedisOwnerStore(config))
    owner.apply([DefineSku(SkuSettings("SKU-0000"), orders)])
    now = time.time()
    batches = [
        [Reserve("bench", f"o{n}", "SKU-0000", 1, now) for n in range(i, i + 1000)]
        for i in range(0, orders, 1000)
    ]
    committer = GroupCommitter(owner)
    started = time.perf_counter()
    futures = [committer.submit(batch) for batch in batches]
    accepted = sum(d.accepted for future in futures for d in future.result())
    elapsed = time.perf_counter() - started
    committer.stop()
    if accepted != len(batches) * 1000:
        raise RuntimeError(f"in-process case accepted {accepted}")
    return {"orders": accepted, "seconds": round(elapsed, 3), "decisions_per_s": round(accepted / elapsed)}


def _classic_case(redis_url: str, orders: int) -> dict[str, Any]:
    """One Lua check-and-decrement per order, pipelined 500 at a time."""
    client = connect(redis_url)
    prefix = f"classic-{random.randrange(1 << 30):x}"
    stock_key = f"{prefix}:stock"
    client.hset(stock_key, "available", orders)
    started = time.perf_counter()
    results, _ = classic_lua_orders(client, [stock_key] * orders, f"{prefix}:order:")
    elapsed = time.perf_counter() - started
    client.close()
    accepted = results.count(1)
    if accepted != orders:
        raise RuntimeError(f"classic baseline accepted {accepted} of {orders}")
    return {"orders": orders, "seconds": round(elapsed, 3), "decisions_per_s": round(orders / elapsed)}


def classic_lua_orders(
    client: RedisClient,
    stock_keys: Sequence[str],
    order_key_prefix: str,
    ledger: str | None = None,
    skus: Sequence[str] = (),
) -> tuple[list[int], list[float]]:
    """Order ``n`` takes one unit from ``stock_keys[n]`` with one ``CLASSIC_LUA`` call (its
    idempotency key ``order_key_prefix + n``; its decision appended to ``ledger`` when
    given, naming ``skus[n]``), ``CLASSIC_PIPELINE`` calls per round trip. Returns each
    order's result (1 accepted, 0 rejected, 2 duplicate) and the seconds of its round trip."""
    sha = client.script_load(CLASSIC_LUA)
    results: list[int] = []
    round_trips: list[float] = []
    total = len(stock_keys)
    for start in progress_over(
        range(0, total, CLASSIC_PIPELINE), desc="classic lua", unit="pipe", leave=False
    ):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + CLASSIC_PIPELINE, total)):
            if ledger is None:
                pipe.evalsha(sha, 2, stock_keys[n], f"{order_key_prefix}{n}", 1)
            else:
                pipe.evalsha(sha, 3, stock_keys[n], f"{order_key_prefix}{n}", ledger, 1, skus[n], n)
        sent = time.perf_counter()
        replies = pipe.execute()
        results.extend(replies)
        round_trips.extend([time.perf_counter() - sent] * len(replies))
    return results, round_trips


def _print(results: dict[str, Any]) -> None:
    print(f"\nflashstock bench core  ({results['machine']}; {results['durability']})")
    header = (
        f"{'skus':>5} {'batch':>6} {'orders':>8} {'decisions/s':>12} {'call p50':>9} "
        f"{'call p99':>9} {'commit p50':>11} {'commit p99':>11} {'ops/commit':>11}"
    )
    print(header)
    for c in results["cases"]:
        print(
            f"{c['skus']:>5} {c['batch']:>6} {c['orders']:>8} {c['decisions_per_s']:>12,} "
            f"{c['call_ms_p50']:>7.2f}ms {c['call_ms_p99']:>7.2f}ms {c['commit_ms_p50']:>9.2f}ms "
            f"{c['commit_ms_p99']:>9.2f}ms {c['ops_per_commit']:>11,}"
        )
    classic = results["classic_lua_per_order"]
    print(
        f"\nclassic: one Lua decrement per order, pipelined 500: {classic['decisions_per_s']:,} decisions/s"
    )
    print(f"owner (batch 1,000) / classic: {results['ratio_batch1000_vs_classic']}x")
    print(
        f"the owner in-process (no Ray), 1 sku, batch 1,000: "
        f"{results['in_process_1sku_batch1000']['decisions_per_s']:,} decisions/s"
    )
    relaxed = results.get("everysec_1sku_batch1000")
    if relaxed:
        print(
            f"same 1-sku batch-1,000 case with appendfsync everysec: "
            f"{relaxed['decisions_per_s']:,} decisions/s, commit p99 {relaxed['commit_ms_p99']:.2f}ms"
        )
