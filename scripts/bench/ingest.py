"""``flashstock bench ingest``: platform messages to durable decisions, end to end.

1. Backlog: pre-fill the inbox streams of three channels (Douyin, Taobao and Kuaishou
   payloads) with single-line orders over 1,000 SKUs, Zipf-skewed (a few hot SKUs take
   most orders), held back from the consumer group; start the ingest actors, release
   the backlog once they are all up, and time the drain (Redis clock) until every order
   has a published decision.
2. Steady load: a generator appends orders at a fixed rate; the latency of each order is
   the time from its inbox entry to its decision entry (both stream ids carry Redis'
   clock in milliseconds); p50 / p99 are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import ray

from actors.infra.codec import entry_time_ms
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import StoreConfig
from actors.ingest.actor import start_ingest
from actors.ingest.core import GROUP
from actors.owner.client import StockClient
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from scripts.bench.runtime import bench_runtime
from scripts.bench.targets import INGEST, add_verdicts, print_verdicts
from scripts.loadgen.inbox import CHANNELS, Published, inbox_keys, published_orders
from scripts.loadgen.machine import machine
from scripts.loadgen.messages import order_message
from scripts.loadgen.progress import progress_bar, progress_over
from scripts.loadgen.skus import zipf_skus
from scripts.loadgen.streams import last_entry_id


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("ingest", help="drain platform order streams through ingest + owners")
    parser.add_argument("--orders", type=int, default=1_000_000, help="backlog orders in total")
    parser.add_argument("--skus", type=int, default=1000, help="SKUs the orders are drawn from")
    parser.add_argument("--shards", type=int, default=2, help="SKU owner actors")
    parser.add_argument("--rate", type=int, default=20_000, help="steady orders per second")
    parser.add_argument("--steady-seconds", type=float, default=10.0, help="how long the steady rate runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with bench_runtime(args.log_level) as redis_url:
        results = _bench(args, redis_url)
    verdicts = add_verdicts(INGEST, results)
    _print(results)
    print_verdicts(verdicts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _bench(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"bi{random.randrange(1 << 30):x}", shard_count=args.shards)
    client = StockClient.start(config)
    raw = connect(redis_url)
    skus = [f"SKU-{i:04d}" for i in range(args.skus)]
    client.submit([DefineSku(SkuSettings(sku), 10_000_000) for sku in skus])
    rng = random.Random(11)
    keys = inbox_keys(config)

    sku_draws = zipf_skus(args.skus, rng, args.orders)
    fill_inboxes(raw, keys, sku_draws, time.time())
    drained = drain(config, raw, args.orders)
    hot = sku_draws.count("SKU-0000") / args.orders

    steady = _steady(raw, keys, args, skus, rng)
    ray.get([actor.stop.remote() for actor in drained.ingest.values()])
    client.close()
    return {
        "machine": machine(),
        "orders": args.orders,
        "skus": args.skus,
        "shards": args.shards,
        "hottest_sku_share": round(hot, 3),
        "drain_seconds": round(drained.seconds, 2),
        "drain_orders_per_s": round(drained.orders / drained.seconds),
        **steady,
    }


def fill_inboxes(
    raw: RedisClient, keys: Mapping[str, ChannelKeys], sku_draws: Sequence[str], now: float
) -> list[int]:
    """Append order ``n`` (one unit of ``sku_draws[n]``, in its platform's payload) to the
    inbox of channel ``n % 3``, 5,000 per pipeline, held back from the ingest consumer
    group until ``drain`` releases it; each order's inbox entry time (Redis-clock ms)."""
    for k in keys.values():
        # A group that has "delivered" everything up to the end of time: ingest actors
        # started now see nothing until the backlog is released by resetting it to 0.
        raw.xgroup_create(k.inbox, GROUP, id=_END_OF_TIME, mkstream=True)
    channels = list(keys)
    entry_ms: list[int] = []
    for start in progress_over(range(0, len(sku_draws), 5000), desc="prefill", unit="x5k", leave=False):
        pipe = raw.pipeline(transaction=False)
        for n in range(start, min(start + 5000, len(sku_draws))):
            channel = channels[n % len(channels)]
            pipe.xadd(
                keys[channel].inbox,
                {"m": order_message(CHANNELS[channel], str(n), sku_draws[n], 1, now, f"b{n}")},
            )
        entry_ms.extend(entry_time_ms(entry_id) for entry_id in pipe.execute())
    return entry_ms


_END_OF_TIME = f"{(1 << 64) - 1}-0"


class Drain(NamedTuple):
    ingest: dict[str, Any]  # the ingest actors, still running
    released_ms: int  # when the backlog was released (Redis clock)
    seconds: float  # from then to the last decision (Redis clock)
    orders: int  # orders decided in those seconds


def drain(
    config: StoreConfig,
    raw: RedisClient,
    total: int,
    stall_seconds: float = 60.0,
    on_release: Callable[[], None] | None = None,
) -> Drain:
    """Start one ingest actor per channel, release the backlog ``fill_inboxes`` held once
    they are all up (calling ``on_release`` just before), and wait until ``total`` order
    decisions are published; fails if none comes for ``stall_seconds``."""
    keys = inbox_keys(config)
    ingest = start_ingest(config, CHANNELS)
    done_at_start = done = decided(raw, keys)
    if on_release is not None:
        on_release()
    released_ms = release_backlog(raw, keys)
    progress = progress_bar(total=total, initial=done, desc="drain", unit="order", leave=False)
    last_progress = time.monotonic()
    while done < total:
        time.sleep(0.05)  # progress sampling only; correctness does not depend on it
        now_done = decided(raw, keys)
        if now_done > done:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_seconds:
            raise RuntimeError(f"ingest stalled at {done} of {total} order decisions")
        progress.update(now_done - done)
        done = now_done
    progress.close()
    last_ms = max(
        entry_time_ms(entry_id) for k in keys.values() if (entry_id := last_entry_id(raw, k.decisions))
    )
    return Drain(ingest, released_ms, max(0.001, (last_ms - released_ms) / 1000), total - done_at_start)


def release_backlog(raw: RedisClient, keys: Mapping[str, ChannelKeys]) -> int:
    """Let the consumer group deliver the backlog ``fill_inboxes`` held back; the Redis
    clock (ms) just before."""
    seconds, microseconds = raw.time()
    for k in keys.values():
        raw.xgroup_setid(k.inbox, GROUP, "0")
    return int(seconds * 1000 + microseconds // 1000)


def decided(raw: RedisClient, keys: Mapping[str, ChannelKeys]) -> int:
    """Order decisions published so far, from the ingest actors' counters."""
    return sum(int(raw.hget(k.stats, "orders") or 0) for k in keys.values())


def inbox_to_decision_ms(published: Iterable[Published], sent_ms: Mapping[tuple[str, str], int]) -> list[int]:
    """Sorted latencies (Redis-clock ms) from each order's inbox entry (``sent_ms`` by
    channel and order id) to its decision entry; orders not in ``sent_ms`` are skipped."""
    latencies = []
    for decision in published:
        sent = sent_ms.get((decision.channel, decision.fields[1]))
        if sent is not None:
            latencies.append(entry_time_ms(decision.entry_id) - sent)
    return sorted(latencies)


def _steady(
    raw: RedisClient,
    keys: dict[str, ChannelKeys],
    args: argparse.Namespace,
    skus: list[str],
    rng: random.Random,
) -> dict[str, Any]:
    """Orders at ``args.rate`` per second for ``args.steady_seconds``; latency from the
    inbox entry id to the decision entry id (both Redis-clock milliseconds).

    The platforms' messages are built before the clock starts, so the generator (in this
    process, on the machine under test, where a platform's servers are elsewhere) only
    sends them: building them as it went held it to ~15k orders/s on two cores that the
    service shares. Each is dated by its tick (100 a second) from when the building began,
    so a few seconds (the building) before it is sent."""
    offset = 10_000_000  # order ids apart from the backlog's
    total = int(args.rate * args.steady_seconds)
    per_tick = max(1, args.rate // 100)  # 100 ticks a second
    before = decided(raw, keys)
    sent_at: dict[tuple[str, str], int] = {}
    channels = list(CHANNELS)
    built_from = time.time()
    ticks = []
    starts = range(0, total, per_tick)
    for tick, start in enumerate(progress_over(starts, desc="steady load, built", unit="tick", leave=False)):
        placed_at = built_from + tick / 100
        orders = []
        for n in range(offset + start, offset + min(start + per_tick, total)):
            channel = channels[n % 3]
            sku = skus[rng.randrange(len(skus))]
            message = order_message(CHANNELS[channel], str(n), sku, 1, placed_at, f"b{n}")
            orders.append((channel, str(n), keys[channel].inbox, message))
        ticks.append(orders)

    def generate() -> None:
        next_tick = time.perf_counter()
        for orders in ticks:
            pipe = raw.pipeline(transaction=False)
            for _, _, inbox, message in orders:
                pipe.execute_command("XADD", inbox, "*", "m", message)
            for (channel, order_id, _, _), entry_id in zip(orders, pipe.execute(), strict=True):
                sent_at[(channel, order_id)] = entry_time_ms(entry_id)
            next_tick += 0.01
            time.sleep(max(0.0, next_tick - time.perf_counter()))

    generator = threading.Thread(target=generate)
    started = time.perf_counter()
    generator.start()
    generator.join()
    offered = total / (time.perf_counter() - started)
    deadline = time.monotonic() + 120
    while decided(raw, keys) - before < total:
        if time.monotonic() > deadline:
            raise RuntimeError("steady-load orders were not all decided within 120 s")
        time.sleep(0.1)
    latencies = inbox_to_decision_ms(published_orders(raw, keys, f"{min(sent_at.values())}-0"), sent_at)
    return {
        "steady_offered_per_s": round(offered),
        "steady_orders": len(latencies),
        "latency_ms_p50": latencies[len(latencies) // 2],
        "latency_ms_p99": latencies[int(len(latencies) * 0.99)],
        "latency_ms_max": latencies[-1],
    }


def _print(results: dict[str, Any]) -> None:
    print(f"\nflashstock bench ingest  ({results['machine']}; Redis AOF appendfsync always)")
    print(
        f"backlog: {results['orders']:,} single-line orders over 3 channels, "
        f"{results['skus']} SKUs (hottest takes {results['hottest_sku_share']:.0%}), "
        f"{results['shards']} owners"
    )
    print(f"  drained in {results['drain_seconds']} s: {results['drain_orders_per_s']:,} orders/s")
    print(
        f"steady: {results['steady_offered_per_s']:,} orders/s offered, "
        f"{results['steady_orders']:,} orders: order-to-decision p50 "
        f"{results['latency_ms_p50']} ms, p99 {results['latency_ms_p99']} ms, "
        f"max {results['latency_ms_max']} ms"
    )
