"""``flashstock bench retention``: Redis memory per retained order line, and whether it
stays flat once the retention window has passed (issue 17).

One owner runs in this process (as ``bench restart`` runs one per process: no Ray) on the
bench's Redis, with a short ``--bucket-seconds`` and ``--retention-seconds``, and takes a
steady stream of orders at ``--rate`` lines/s for ``--seconds``: each batch reserves new
lines, the next pays them, so every line settles into the current line bucket, which
expires ``--retention-seconds`` after it ends. Every ``--sample`` seconds it records Redis
``used_memory``, the sum of ``MEMORY USAGE`` of the owner's partition keys, this
process's resident memory (the owner's), the live line buckets, the lines they hold and
the ledger logs' length.

The plateau starts after ``2 x (bucket + retention)`` seconds of load: by then buckets
expire as fast as new ones fill. Reported: bytes per retained line (growth of
``used_memory`` over the empty store, divided by the lines retained, both averaged over
the plateau) and the growth from the plateau's mean to the mean of its last samples.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import fmean
from typing import Any

import redis

from actors.infra.codec import text
from actors.infra.settings import StoreConfig
from actors.owner.core import SkuOwner
from actors.owner.reads import partition_keys
from actors.owner.store import RedisOwnerStore
from policies.ledger import SkuSettings
from policies.operations import Confirm, DefineSku, Reserve
from scripts.bench.restart import rss_mb
from scripts.bench.runtime import bench_redis
from scripts.loadgen.machine import machine

#: seconds between two batches of the load
STEP_SECONDS = 0.05
#: units of each SKU: the most a SKU may hold, far more than a run sells
STOCK = 10_000_000
#: how many of the plateau's samples are "the last ones" compared with its mean
LAST_SAMPLES = 3
COLUMNS = (
    "t_s",
    "used_memory_mb",
    "keys_mb",
    "rss_mb",
    "buckets",
    "retained_lines",
    "log_entries",
    "lines_paid",
)


def add_parser(suites: Any) -> None:
    parser = suites.add_parser(
        "retention", help="Redis memory per retained order line, and flat after the retention window"
    )
    parser.add_argument(
        "--rate", type=int, default=2000, help="order lines per second (each reserved, then paid)"
    )
    parser.add_argument("--seconds", type=float, default=90.0, help="seconds of load")
    parser.add_argument(
        "--bucket-seconds", type=int, default=5, help="seconds of commit time per line bucket"
    )
    parser.add_argument(
        "--retention-seconds", type=float, default=20.0, help="seconds a bucket is kept after it ends"
    )
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between two samples")
    parser.add_argument("--skus", type=int, default=100, help="SKUs the orders are spread over")
    parser.add_argument(
        "--recent-lines",
        type=int,
        default=20_000,
        help="line records the owner keeps in memory besides the last 20 s (a deployment keeps "
        "200,000; fewer here so the owner's memory levels off within a short run)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write every sample and the summary here"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    problem = _problem(args)
    if problem:
        print(f"flashstock bench retention: {problem}", file=sys.stderr)
        return 2
    with bench_redis() as (redis_url, _):
        config = StoreConfig(
            redis_url,
            namespace=f"rt{random.randrange(1 << 30):x}",
            shard_count=1,
            retention_seconds=args.retention_seconds,
            bucket_seconds=args.bucket_seconds,
            recent_lines=args.recent_lines,
        )
        client = redis.Redis.from_url(redis_url)
        try:
            results = measure(config, client, args)
        finally:
            client.close()
    print(json.dumps({k: v for k, v in results.items() if k != "samples"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _problem(args: argparse.Namespace) -> str | None:
    for option, value in (
        ("--seconds", args.seconds),
        ("--sample", args.sample),
        ("--retention-seconds", args.retention_seconds),
    ):
        if not math.isfinite(value):  # nan passes every comparison below; inf never ends
            return f"{option} must be a finite number of seconds, got {value:g}"
    for option, value in (
        ("--rate", args.rate),
        ("--seconds", args.seconds),
        ("--sample", args.sample),
        ("--skus", args.skus),
        ("--bucket-seconds", args.bucket_seconds),
    ):
        if value <= 0:
            return f"{option} must be positive, got {value:g}"
    if args.recent_lines < 0:
        return f"--recent-lines must be at least 0, got {args.recent_lines}"
    if args.retention_seconds < args.bucket_seconds:
        return "--retention-seconds must be at least --bucket-seconds"
    return None


def measure(config: StoreConfig, client: redis.Redis, args: argparse.Namespace) -> dict[str, Any]:
    """Run the load and take the samples; the summary with them."""
    store = RedisOwnerStore(config)
    owner = SkuOwner(config, 0, store)
    skus = [f"SKU-{n:04d}" for n in range(args.skus)]
    refused = [d for d in owner.apply([DefineSku(SkuSettings(sku), STOCK) for sku in skus]) if not d.accepted]
    if refused:
        raise RuntimeError(f"the bench's SKUs were refused: {refused[0]}")
    baseline = _used_memory(client)
    samples: list[dict[str, Any]] = []
    sample = _sampler(config, client, samples)
    print(" ".join(f"{c:>14}" for c in COLUMNS), flush=True)  # the table, a row per sample as taken
    started = time.monotonic()
    sent = paid = 0
    to_pay: list[Reserve] = []
    next_sample = started + args.sample
    while (now := time.monotonic()) < started + args.seconds:
        due = int((now - started) * args.rate) - sent
        reserves = [
            Reserve("bench", f"o{sent + n}", skus[(sent + n) % len(skus)], 1, time.time()) for n in range(due)
        ]
        sent += due
        ops = [Confirm(r.channel, r.order_id, r.sku) for r in to_pay] + reserves
        if ops:
            decisions = owner.apply(ops)
            paid += sum(1 for d in decisions if d.op == "confirm" and d.accepted)
        to_pay = reserves
        if time.monotonic() >= next_sample:
            sample(time.monotonic() - started, paid)
            next_sample += args.sample
        time.sleep(max(0.0, STEP_SECONDS - (time.monotonic() - now)))  # pacing the load, not a wait
    store.close()
    return summary(samples, baseline, args, sent, time.monotonic() - started)


def _sampler(
    config: StoreConfig, client: redis.Redis, samples: list[dict[str, Any]]
) -> Callable[[float, int], None]:
    keys = [partition_keys(config, p) for p in range(config.partitions)]

    def sample(at: float, paid: int) -> None:
        buckets = [
            text(key)
            for k in keys
            for key in client.scan_iter(match=f"{k.lines_prefix}*", count=1000)  # SCAN skips expired keys
        ]
        pipe = client.pipeline(transaction=False)
        for name in buckets:
            pipe.hlen(name)
        named = buckets + [k.log for k in keys] + [k.open for k in keys] + [k.state for k in keys]
        for name in named:
            pipe.memory_usage(name)
        for k in keys:
            pipe.xlen(k.log)
        replies = pipe.execute()
        lengths, usage, logs = (
            replies[: len(buckets)],
            replies[len(buckets) : -len(keys)],
            replies[-len(keys) :],
        )
        row = {
            "t_s": round(at, 1),
            "used_memory_mb": round(_used_memory(client) / 2**20, 2),
            "keys_mb": round(sum(u or 0 for u in usage) / 2**20, 2),
            "rss_mb": rss_mb(),
            "buckets": len(buckets),
            "bucket_numbers": sorted({int(name.rsplit(":", 1)[1]) for name in buckets}),
            "retained_lines": sum(lengths),
            "log_entries": sum(logs),
            "lines_paid": paid,
        }
        samples.append(row)
        print(" ".join(f"{row[c]:>14}" for c in COLUMNS), flush=True)

    return sample


def summary(
    samples: list[dict[str, Any]], baseline: int, args: argparse.Namespace, sent: int, seconds: float
) -> dict[str, Any]:
    """Bytes per retained line and the growth over the plateau (None where the run was too
    short to reach it)."""
    plateau_from = 2 * (args.bucket_seconds + args.retention_seconds)
    plateau = [s for s in samples if s["t_s"] >= plateau_from]
    result: dict[str, Any] = {
        "machine": machine(),
        "rate_asked": args.rate,
        "rate_achieved": round(sent / seconds),
        "seconds": round(seconds, 1),
        "bucket_seconds": args.bucket_seconds,
        "retention_seconds": args.retention_seconds,
        "plateau_from_s": plateau_from,
        "plateau_samples": len(plateau),
        "redis_used_memory_empty_mb": round(baseline / 2**20, 2),
        "bytes_per_retained_line": None,
        "used_memory_growth_pct": None,
        "rss_growth_pct": None,
        "max_buckets_at_plateau": max((s["buckets"] for s in plateau), default=None),
        "samples": samples,
    }
    if len(plateau) <= LAST_SAMPLES:
        return result
    lines = fmean(s["retained_lines"] for s in plateau)
    memory = fmean(s["used_memory_mb"] for s in plateau) * 2**20
    if lines:
        result["bytes_per_retained_line"] = round((memory - baseline) / lines, 1)
    for name, column in (("used_memory_growth_pct", "used_memory_mb"), ("rss_growth_pct", "rss_mb")):
        mean = fmean(s[column] for s in plateau)
        last = fmean(s[column] for s in plateau[-LAST_SAMPLES:])
        result[name] = round((last - mean) / mean * 100, 1)
    return result


def _used_memory(client: redis.Redis) -> int:
    info: Any = client.info("memory")
    return int(info["used_memory"])
