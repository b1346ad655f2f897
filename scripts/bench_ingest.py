"""``flashstock bench ingest``: platform messages to durable decisions, end to end.

1. Backlog: pre-fill the inbox streams of three channels (Douyin, Taobao and Kuaishou
   payloads) with single-line orders over 1,000 SKUs, Zipf-skewed (a few hot SKUs take
   most orders), then start the ingest actors and time the drain until every order has
   a published decision.
2. Steady load: a generator appends orders at a fixed rate; the latency of each order is
   the time from its inbox entry to its decision entry (both stream ids carry Redis'
   clock in milliseconds); p50 / p99 are printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ray
import redis
from tqdm import tqdm

from actors.channel_ingest import ChannelKeys, read_decisions
from actors.client import StockClient
from actors.infra.runtime import ray_for, redis_for
from actors.infra.settings import StoreConfig
from actors.ingest_actor import start_ingest
from policies.ledger import SkuSettings
from policies.operations import DefineSku

CHANNELS = {"douyin": "douyin", "taobao": "taobao", "kuaishou": "kuaishou"}


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("ingest", help="drain platform order streams through ingest + owners")
    parser.add_argument("--orders", type=int, default=1_000_000, help="backlog orders in total")
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=2, help="SKU owner actors")
    parser.add_argument("--rate", type=int, default=20_000, help="steady orders per second")
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def platform_message(channel: str, n: int, sku: str, now: float) -> str:
    """Order ``n``: one unit of ``sku`` in ``channel``'s payload format."""
    if channel == "douyin":
        data = {"p_id": n, "create_time": int(now), "buyer_id": f"b{n}",
                "sku_order_list": [{"out_sku_id": sku, "item_num": 1, "pay_amount": 9900}]}
        return json.dumps({"tag": "100", "msg_id": f"m{n}", "data": json.dumps(data)})
    if channel == "taobao":
        content = {"tid": n, "buyer_nick": f"b{n}",
                   "created": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now + 8 * 3600)),
                   "orders": {"order": [{"outer_sku_id": sku, "num": 1, "payment": "99.00"}]}}
        return json.dumps({"topic": "taobao_trade_TradeCreate", "content": json.dumps(content)})
    info = {"oid": n, "buyerOpenId": f"b{n}", "createTime": int(now * 1000),
            "orderItemList": [{"skuNick": sku, "num": 1, "itemPrice": 9900}]}
    return json.dumps({"event": "kwaishop_order_orderCreate", "info": json.dumps(info)})


def zipf_skus(count: int, rng: random.Random, n: int) -> list[str]:
    """``n`` SKU ids drawn with Zipf weights 1/k^1.1 over ``count`` SKUs."""
    weights = list(itertools.accumulate(1 / (k ** 1.1) for k in range(1, count + 1)))
    return [f"SKU-{i:04d}" for i in
            (rng.choices(range(count), cum_weights=weights, k=n))]


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="flashstock-bench-") as tmp, \
            redis_for(Path(tmp)) as redis_url, ray_for(num_cpus=2, log_level=args.log_level):
        results = _bench(args, redis_url)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _bench(args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"bi{random.randrange(1 << 30):x}",
                         shard_count=args.shards)
    client = StockClient.start(config)
    raw = redis.Redis.from_url(redis_url)
    skus = [f"SKU-{i:04d}" for i in range(args.skus)]
    client.submit([DefineSku(SkuSettings(sku), 10_000_000) for sku in skus])
    rng = random.Random(11)
    keys = {channel: ChannelKeys.of(config.namespace, channel) for channel in CHANNELS}
    channels = list(CHANNELS)
    now = time.time()

    sku_draws = zipf_skus(args.skus, rng, args.orders)
    for start in tqdm(range(0, args.orders, 5000), desc="prefill", unit="x5k", leave=False):
        pipe = raw.pipeline(transaction=False)
        for n in range(start, min(start + 5000, args.orders)):
            channel = channels[n % 3]
            pipe.xadd(keys[channel].inbox, {"m": platform_message(channel, n, sku_draws[n], now)})
        pipe.execute()

    ingest = start_ingest(config, CHANNELS)  # they start draining at once
    started = time.perf_counter()
    done_at_start = done = _decided(raw, keys)
    progress = tqdm(total=args.orders, initial=done, desc="drain", unit="order", leave=False)
    while done < args.orders:
        time.sleep(0.2)  # progress sampling only; correctness does not depend on it
        now_done = _decided(raw, keys)
        progress.update(now_done - done)
        done = now_done
    drain_seconds = time.perf_counter() - started
    drained = args.orders - done_at_start
    progress.close()
    hot = sku_draws.count("SKU-0000") / args.orders

    steady = _steady(raw, keys, args, skus, rng)
    ray.get([actor.stop.remote() for actor in ingest.values()])
    client.close()
    return {
        "machine": f"{platform.machine()}, 2 cores, Python {platform.python_version()}",
        "orders": args.orders, "skus": args.skus, "shards": args.shards,
        "hottest_sku_share": round(hot, 3),
        "drain_seconds": round(drain_seconds, 2),
        "drain_orders_per_s": round(drained / drain_seconds),
        **steady,
    }


def _decided(raw: redis.Redis, keys: dict[str, ChannelKeys]) -> int:
    """Order decisions published so far, from the ingest actors' counters."""
    return sum(int(raw.hget(k.stats, "orders") or 0) for k in keys.values())


def _steady(raw: redis.Redis, keys: dict[str, ChannelKeys], args: argparse.Namespace,
            skus: list[str], rng: random.Random) -> dict[str, Any]:
    """Orders at ``args.rate`` per second for ``args.steady_seconds``; latency from the
    inbox entry id to the decision entry id (both Redis-clock milliseconds)."""
    offset = 10_000_000  # order ids apart from the backlog's
    total = int(args.rate * args.steady_seconds)
    per_tick = max(1, args.rate // 100)  # 100 ticks a second
    before = _decided(raw, keys)
    sent_at: dict[tuple[str, str], int] = {}
    channels = list(CHANNELS)

    def generate() -> None:
        next_tick = time.perf_counter()
        for start in range(0, total, per_tick):
            pipe = raw.pipeline(transaction=False)
            batch = []
            for n in range(offset + start, offset + min(start + per_tick, total)):
                channel = channels[n % 3]
                pipe.xadd(keys[channel].inbox,
                          {"m": platform_message(channel, n, skus[rng.randrange(len(skus))],
                                                 time.time())})
                batch.append((channel, str(n)))
            for (channel, order_id), entry_id in zip(batch, pipe.execute(), strict=True):
                sent_at[(channel, order_id)] = int(entry_id.split(b"-")[0])
            next_tick += 0.01
            time.sleep(max(0.0, next_tick - time.perf_counter()))

    generator = threading.Thread(target=generate)
    started = time.perf_counter()
    generator.start()
    generator.join()
    offered = total / (time.perf_counter() - started)
    deadline = time.monotonic() + 120
    while _decided(raw, keys) - before < total:
        if time.monotonic() > deadline:
            raise RuntimeError("steady-load orders were not all decided within 120 s")
        time.sleep(0.1)
    latencies = []
    for channel, k in keys.items():
        for entry_id, fields in read_decisions(raw, k, f"{min(sent_at.values())}-0"):
            key = (channel, fields[1])
            if key in sent_at:
                latencies.append(int(entry_id.split("-")[0]) - sent_at[key])
    latencies.sort()
    return {
        "steady_offered_per_s": round(offered),
        "steady_orders": len(latencies),
        "latency_ms_p50": latencies[len(latencies) // 2],
        "latency_ms_p99": latencies[int(len(latencies) * 0.99)],
        "latency_ms_max": latencies[-1],
    }


def _print(results: dict[str, Any]) -> None:
    print(f"\nflashstock bench ingest  ({results['machine']}; Redis AOF appendfsync always)")
    print(f"backlog: {results['orders']:,} single-line orders over 3 channels, "
          f"{results['skus']} SKUs (hottest takes {results['hottest_sku_share']:.0%}), "
          f"{results['shards']} owners")
    print(f"  drained in {results['drain_seconds']} s: {results['drain_orders_per_s']:,} orders/s")
    print(f"steady: {results['steady_offered_per_s']:,} orders/s offered, "
          f"{results['steady_orders']:,} orders: order-to-decision p50 "
          f"{results['latency_ms_p50']} ms, p99 {results['latency_ms_p99']} ms, "
          f"max {results['latency_ms_max']} ms")
