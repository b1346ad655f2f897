"""``flashstock bench restart``: an owner's restart after a long history.

Writes ``--lines`` settled order-line records over ``--skus`` SKUs (spread over the last
``--hours`` of line buckets) and ``--open`` open reservations straight into Redis in the
owners' layout (``docs/storage.md``), then restarts the owner ``--restarts`` times, each
in a fresh process (what Ray does after a kill): the seconds from building the owner
(load included) to its first durable decision, the owner's share of that spent loading,
the process's resident memory before the owner (its modules imported) and at its peak,
and the slowest Redis command while it restarted (``SLOWLOG`` with a threshold of 0,
reset before each).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import time
from pathlib import Path
from typing import Any

import redis

from actors.infra.codec import encode_ledger, encode_record, encode_settings, line_key
from actors.infra.settings import StoreConfig
from actors.owner.reads import bucket_of, partition_keys
from policies.ledger import Ledger, LineRecord, LineStatus, SkuSettings
from policies.routing import partition_of
from scripts.bench.runtime import bench_redis
from scripts.loadgen.machine import machine
from scripts.loadgen.progress import progress_over
from scripts.loadgen.stats import quantile

#: the most hash fields one HSET of the history writer carries
CHUNK = 2_000


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("restart", help="an owner's restart after a long order history")
    parser.add_argument("--lines", type=int, default=1_000_000, help="historical order-line records")
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs the lines are spread over")
    parser.add_argument("--open", type=int, default=10_000, help="open reservations the owner must load")
    parser.add_argument("--hours", type=int, default=24, help="hours of line buckets the lines span")
    parser.add_argument("--restarts", type=int, default=5, help="owner restarts timed")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if min(args.lines, args.skus, args.open, args.hours, args.restarts) < 1:
        print("flashstock bench restart: --lines, --skus, --open, --hours and --restarts must be positive")
        return 2
    with bench_redis() as (redis_url, _):
        config = StoreConfig(redis_url, namespace=f"rs{random.randrange(1 << 30):x}", shard_count=1)
        client = redis.Redis.from_url(redis_url)
        written = write_history(client, config, args.lines, args.skus, args.open, args.hours)
        memory = int(client.info("memory")["used_memory"])
        runs = [_restart(config, client, n) for n in progress_over(range(args.restarts), desc="restarts")]
        client.close()
    seconds = [r["first_decision_seconds"] for r in runs]
    results = {
        "machine": machine(),
        "history": {**written, "redis_used_memory_mb": round(memory / 2**20, 1)},
        "restarts": len(runs),
        "first_decision_seconds_p50": round(quantile(seconds, 0.5) or 0, 3),
        "first_decision_seconds_max": round(max(seconds), 3),
        "load_seconds_max": round(max(r["load_seconds"] for r in runs), 3),
        "rss_before_owner_mb_max": max(r["rss_before_mb"] for r in runs),
        "rss_peak_mb_max": max(r["rss_peak_mb"] for r in runs),
        "slowest_redis_command_ms": max(r["slowest_command_ms"] for r in runs),
        "slowest_command": max(runs, key=lambda r: r["slowest_command_ms"])["slowest_command"],
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def write_history(
    client: redis.Redis, config: StoreConfig, lines: int, sku_count: int, open_count: int, hours: int
) -> dict[str, Any]:
    """The SKUs' ledgers and settings, ``lines`` settled line records spread over the last
    ``hours`` hours of buckets, and ``open_count`` open reservations, as owners write them."""
    now = time.time()
    skus = [f"SKU-{n:05d}" for n in range(sku_count)]
    sold: dict[str, int] = dict.fromkeys(skus, 0)
    reserved: dict[str, int] = dict.fromkeys(skus, 0)
    fields: dict[str, list[str]] = {}  # key -> [field, value, ...]
    pipe = client.pipeline(transaction=False)

    def add(key: str, field: str, value: str) -> None:
        pairs = fields.setdefault(key, [])
        pairs += (field, value)
        if len(pairs) >= 2 * CHUNK:
            pipe.hset(key, items=fields.pop(key))
            if len(pipe) >= 200:
                pipe.execute()

    buckets = [bucket_of(config, now - hour * 3600) for hour in range(hours)]
    for n in range(lines):
        sku = skus[n % sku_count]
        at = now - (n % hours) * 3600
        k = partition_keys(config, partition_of(sku, config.partitions))
        record = encode_record(LineRecord(LineStatus.SOLD, 1, "", at, 0.0))
        add(k.lines(buckets[n % hours]), line_key(sku, f"bench\x1fo{n}"), record)
        sold[sku] += 1
    for n in range(open_count):
        sku = skus[n % sku_count]
        k = partition_keys(config, partition_of(sku, config.partitions))
        record = encode_record(LineRecord(LineStatus.RESERVED, 1, "", now, now + 86_400))
        add(k.open, line_key(sku, f"bench\x1fopen{n}"), record)
        reserved[sku] += 1
    for sku in skus:
        k = partition_keys(config, partition_of(sku, config.partitions))
        ledger = Ledger(sku, sold[sku] + reserved[sku] + 1_000_000, reserved[sku], sold[sku], (), 1)
        add(k.state, sku, encode_ledger(ledger))
        add(k.settings, sku, encode_settings(SkuSettings(sku)))
    for key, pairs in fields.items():
        pipe.hset(key, items=pairs)
    pipe.execute()
    expire_at = int(now + config.retention_seconds)
    for partition in range(config.partitions):
        for bucket in buckets:
            client.expireat(partition_keys(config, partition).lines(bucket), expire_at)
    return {"lines": lines, "skus": sku_count, "open": open_count, "hours": hours}


def _restart(config: StoreConfig, client: redis.Redis, n: int) -> dict[str, Any]:
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 100_000)
    client.slowlog_reset()
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    child = context.Process(target=_owner_process, args=(config, n, queue))
    child.start()
    result: dict[str, Any] = queue.get(timeout=600)
    child.join(timeout=60)
    log: Any = client.slowlog_get(100_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    owners = [entry for entry in log if not _command(entry).upper().startswith(("SLOWLOG", "CONFIG"))]
    slowest = max(owners, key=lambda entry: entry["duration"]) if owners else None
    result["slowest_command_ms"] = round(slowest["duration"] / 1000, 3) if slowest else 0.0
    result["slowest_command"] = _command(slowest)[:80] if slowest else ""
    result["commands_logged"] = len(owners)
    return result


def _command(entry: Any) -> str:
    command = entry["command"]
    return command.decode(errors="replace") if isinstance(command, bytes) else str(command)


def _owner_process(config: StoreConfig, n: int, queue: Any) -> None:
    """A fresh owner process: build the owner (load) and decide one order durably. The
    memory before is measured once the owner's modules are imported."""
    from actors.owner.core import SkuOwner
    from actors.owner.store import RedisOwnerStore
    from policies.operations import Reserve

    rss_before = rss_mb()
    started = time.perf_counter()
    store = RedisOwnerStore(config)
    owner = SkuOwner(config, 0, store)
    decision = owner.apply([Reserve("bench", f"probe-{n}", "SKU-00000", 1, time.time())])[0]
    seconds = time.perf_counter() - started
    if not decision.accepted:
        raise RuntimeError(f"the first order after the restart was refused: {decision}")
    queue.put(
        {
            "first_decision_seconds": round(seconds, 3),
            "load_seconds": round(owner.load_seconds, 3),
            "open_lines_loaded": sum(map(len, owner.records.values())),
            "rss_before_mb": rss_before,
            "rss_peak_mb": _peak_rss_mb(),
        }
    )
    store.close()


def _peak_rss_mb() -> float:
    """This process image's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not
    inherited from the parent across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return round(int(statm.read().split()[1]) * resource.getpagesize() / 2**20, 1)
