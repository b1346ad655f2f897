"""``flashstock bench forecaster``: sale events per second, and alert latency under load.

1. Throughput: sale events over 500 SKUs, in batches of 1,000, through a Forecaster in
   this process (evaluation coalesced every 0.1 s, as the actor does).
2. Alert latency: owners and the forecaster actor on Ray, a background load of orders
   at ``--rate`` per second over 200 SKUs, and probe SKUs that one durable decision
   takes under their critical floor. Latency = the alert's entry in the durable alert
   stream (Redis clock) minus the moment the decision was acknowledged. The pending
   period of the lifecycle is set to 0 here: it is policy, not latency.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import ray

from actors.alerts.actor import start_forecaster
from actors.alerts.forecaster import Forecaster
from actors.infra import keys
from actors.infra.codec import entry_time_ms
from actors.infra.redis_client import connect
from actors.infra.settings import StoreConfig
from actors.infra.wire import SaleEvent, StockSnapshot
from actors.owner.client import StockClient
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import Level
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Reserve
from scripts.bench.runtime import bench_runtime
from scripts.bench.targets import ALERTS, add_verdicts, print_verdicts
from scripts.loadgen.progress import progress_over
from scripts.loadgen.streams import entries


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("forecaster", help="forecaster events/s and alert latency")
    parser.add_argument("--events", type=int, default=2_000_000, help="sale events for the throughput case")
    parser.add_argument("--rate", type=int, default=20_000, help="background orders per second")
    parser.add_argument("--probes", type=int, default=40, help="alerts to time")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {"throughput": _throughput(args.events)}
    with bench_runtime(args.log_level) as redis_url:
        results["latency"] = _latency(redis_url, args)
    t, lat = results["throughput"], results["latency"]
    print("\nflashstock bench forecaster")
    print(
        f"throughput: {t['events']:,} sale events over {t['skus']} SKUs in "
        f"{t['seconds']} s: {t['events_per_s']:,} events/s"
    )
    print(
        f"alert latency under {lat['offered_orders_per_s']:,} orders/s offered "
        f"({lat['decided_orders_per_s']:,} decided): {lat['probes']} alerts, "
        f"p50 {lat['latency_ms_p50']} ms, p99 {lat['latency_ms_p99']} ms, "
        f"max {lat['latency_ms_max']} ms"
    )
    print_verdicts(add_verdicts(ALERTS, results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _throughput(events: int) -> dict[str, Any]:
    rng = random.Random(5)
    skus = [f"SKU-{n:03d}" for n in range(500)]
    clock = [0.0]
    forecaster = Forecaster(clock=lambda: clock[0], evaluate_every_seconds=0.1)
    forecaster.update_skus(SkuSettings(sku) for sku in skus)
    stock = {sku: StockSnapshot(1_000_000, 0) for sku in skus}
    forecaster.record([], stock)
    at = 1_762_862_400.0
    batches = []
    for _ in range(events // 1000):
        batch = []
        for _ in range(1000):
            at += 0.005
            batch.append(SaleEvent(skus[rng.randrange(500)], at, 1, "douyin"))
        batches.append(batch)
    started = time.perf_counter()
    for batch in progress_over(batches, desc="forecaster", unit="batch", leave=False):
        clock[0] = time.perf_counter()
        forecaster.record(batch)
    forecaster.flush()
    seconds = time.perf_counter() - started
    return {
        "events": len(batches) * 1000,
        "skus": len(skus),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(batches) * 1000 / seconds),
    }


def _latency(redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    config = StoreConfig(redis_url, namespace=f"bf{random.randrange(1 << 30):x}", shard_count=2)
    forecaster = start_forecaster(config, lifecycle=LifecycleSettings(pending_seconds=0))
    client = StockClient.start(config)
    load_skus = [f"LOAD-{n:03d}" for n in range(200)]
    probes = [f"PROBE-{n:03d}" for n in range(args.probes)]
    client.submit(
        [DefineSku(SkuSettings(s), 10_000_000) for s in load_skus]
        + [DefineSku(SkuSettings(s, critical_floor=5), 10) for s in probes]
    )
    raw = connect(redis_url)
    stop = threading.Event()
    decided = [0]

    def load() -> None:
        rng = random.Random(9)
        n = 0
        per_tick = max(1, args.rate // 40)  # 40 batches a second
        next_tick = time.perf_counter()
        while not stop.is_set():
            now = time.time()
            ops = [
                Reserve("douyin", f"l{n + i}", load_skus[rng.randrange(200)], 1, now) for i in range(per_tick)
            ]
            n += per_tick
            decided[0] += len(client.submit(ops))
            next_tick += 0.025
            time.sleep(max(0.0, next_tick - time.perf_counter()))

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    time.sleep(3.0)  # let the load reach its steady state before timing alerts
    started = time.perf_counter()
    decided_before = decided[0]
    acknowledged: dict[str, float] = {}
    for sku in progress_over(probes, desc="probes", unit="alert", leave=False):
        client.submit([Reserve("douyin", f"{sku}-a", sku, 5, time.time())])  # 5 left: floor
        acknowledged[sku] = time.time()
        time.sleep(0.05)  # spread the probes over the load
    elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 30
    found: dict[str, float] = {}
    stream = keys.alert_stream(config.namespace)
    while len(found) < len(probes) and time.monotonic() < deadline:
        for entry_id, fields in entries(raw, stream):
            record = json.loads(fields[b"alert"])
            alert = record["alert"]
            if alert["level"] == Level.EMERGENCY and alert["sku"] in acknowledged:
                found.setdefault(alert["sku"], entry_time_ms(entry_id) / 1000)
        time.sleep(0.1)
    stop.set()
    loader.join()
    ray.get(forecaster.stop.remote())
    client.close()
    latencies = sorted((found[s] - acknowledged[s]) * 1000 for s in found)
    if not latencies:
        raise RuntimeError("no probe alert was seen")
    return {
        "offered_orders_per_s": args.rate,
        "decided_orders_per_s": round((decided[0] - decided_before) / elapsed),
        "probes": len(latencies),
        "missed": len(probes) - len(latencies),
        "latency_ms_p50": round(latencies[len(latencies) // 2]),
        "latency_ms_p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]),
        "latency_ms_max": round(latencies[-1]),
    }
