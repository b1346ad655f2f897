"""``flashstock bench http``: the HTTP API on Ray Serve, end to end over loopback.

1. ``GET /v1/skus/{sku}`` paced at ``--rate`` requests/s for ``--seconds`` from a few
   client threads: p50 / p99 latency and the rate achieved; with ``--rates``, one run per
   rate, and the highest rate kept (95% of it answered) with p99 <= 50 ms.
2. ``POST /v1/orders`` with ``--batch`` orders per request from ``--clients`` threads:
   order lines decided per second (every decision durable in Redis before the answer).

``--ingress`` chooses how requests reach the app (``serve_app.ingress``). CPU is what
this benchmark's own processes spent in each part (``/proc``: the service's Ray
processes and Redis, and apart from them the client threads), so other work on a shared
machine does not count; the load average says how shared it was.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from ray import serve

from actors.alerts.actor import start_forecaster
from actors.infra.redis_server import free_port
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from scripts.bench.runtime import bench_runtime
from scripts.bench.targets import HTTP, add_verdicts, print_verdicts
from scripts.loadgen.cpu import cpu_spent, process_tree_cpu
from serve_app.app import application
from serve_app.backend import AppArgs
from serve_app.ingress import INGRESS_CHOICES, default_ingress, start_http

#: seconds the service is watched idle, before the requests, to tell its own background
#: CPU (Ray's processes, the forecaster's ticks) from what the requests cost
IDLE_SECONDS = 5.0


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("http", help="HTTP API latency and batch throughput")
    parser.add_argument("--rate", type=int, default=200, help="GET requests per second")
    parser.add_argument(
        "--rates", default=None, help="comma-separated GET rates, one paced run each (instead of --rate)"
    )
    parser.add_argument(
        "--ingress", choices=INGRESS_CHOICES, default=default_ingress(), help="how requests reach the app"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the paced GETs run")
    parser.add_argument("--batch", type=int, default=1000, help="orders per POST /v1/orders")
    parser.add_argument("--requests", type=int, default=150, help="POST requests in total")
    parser.add_argument("--clients", type=int, default=4, help="concurrent POST clients")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with bench_runtime(args.log_level) as redis_url:
        config = StoreConfig(redis_url, namespace=f"bh{random.randrange(1 << 30):x}", shard_count=2)
        forecaster = start_forecaster(config)
        client = StockClient.start(config)
        skus = [f"SKU-{n:03d}" for n in range(200)]
        client.submit([DefineSku(SkuSettings(sku), 10_000_000) for sku in skus])
        port = free_port()
        http = start_http("127.0.0.1", port, args.ingress)
        serve.run(
            application(
                AppArgs(redis_url=redis_url, namespace=config.namespace, shard_count=2), env=http.env
            ),
            name="bench",
            route_prefix="/",
        )
        url = f"http://127.0.0.1:{port}"
        rates = [int(r) for r in args.rates.split(",")] if args.rates else [args.rate]
        results: dict[str, Any] = {
            "ingress": args.ingress,
            "load_average_before": os.getloadavg(),
            "idle": _measured(functools.partial(_idle, IDLE_SECONDS)),
            "get": [_measured(functools.partial(_paced_gets, url, skus, args, rate)) for rate in rates],
            "post": _measured(lambda: _batch_posts(url, skus, args)),
            "load_average_after": os.getloadavg(),
        }
        serve.shutdown()  # type: ignore[no-untyped-call]  # Ray Serve leaves it unannotated
        client.close()
        forecaster.stop.remote()
    verdicts = add_verdicts(HTTP, results)
    _print(results, args)
    print_verdicts(verdicts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _measured(part: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``part``'s results with the CPU seconds the service (every process this one
    started: Ray's and Redis') and the client threads (this process) spent in it."""
    me = os.getpid()
    before = process_tree_cpu(me)
    result = part()
    after = process_tree_cpu(me)
    client = after.get(me, 0.0) - before.get(me, 0.0)
    return result | {
        "service_cpu_s": round(cpu_spent(before, after) - client, 2),
        "client_cpu_s": round(client, 2),
    }


def _idle(seconds: float) -> dict[str, Any]:
    time.sleep(seconds)
    return {"seconds": seconds}


def _beyond_idle(part: dict[str, Any], idle: dict[str, Any]) -> float:
    """The service's CPU seconds in ``part`` beyond what it spends idle (Ray's own
    processes, the forecaster's ticks) in as long a time."""
    return float(part["service_cpu_s"] - idle["service_cpu_s"] / idle["seconds"] * part["seconds"])


def _print(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nflashstock bench http  (Ray Serve, ingress {results['ingress']}, loopback)")
    print("load average before {:.2f} {:.2f} {:.2f}".format(*results["load_average_before"]))
    idle = results["idle"]
    print(f"idle service: {idle['service_cpu_s'] / idle['seconds']:.2f} CPU seconds per second")
    kept = []
    for g in results["get"]:
        per_request = g["service_cpu_s"] / max(1, g["requests"]) * 1000
        beyond = _beyond_idle(g, idle) / max(1, g["requests"]) * 1000
        print(
            f"GET /v1/skus/{{sku}}: {g['requests']} requests at {g['achieved_per_s']} req/s "
            f"(asked {g['asked_per_s']}): p50 {g['ms_p50']} ms, p99 {g['ms_p99']} ms; "
            f"service CPU {per_request:.2f} ms per request, {beyond:.2f} ms beyond idle "
            f"(client {g['client_cpu_s']} s)"
        )
        if g["ms_p99"] <= 50 and g["achieved_per_s"] >= 0.95 * g["asked_per_s"]:
            kept.append(g["asked_per_s"])
    if len(results["get"]) > 1:
        print(f"highest rate kept with p99 <= 50 ms: {max(kept) if kept else 'none'} req/s")
    p = results["post"]
    per_line = p["service_cpu_s"] / max(1, p["lines"]) * 1e6
    beyond = _beyond_idle(p, idle) / max(1, p["lines"]) * 1e6
    print(
        f"POST /v1/orders x{args.batch}: {p['requests']} requests, "
        f"{p['lines_per_s']:,} order lines/s, request p50 {p['ms_p50']} ms, p99 {p['ms_p99']} ms; "
        f"service CPU {per_line:.1f} us per line, {beyond:.1f} us beyond idle (client {p['client_cpu_s']} s)"
    )
    print("load average after {:.2f} {:.2f} {:.2f}".format(*results["load_average_after"]))


def _percentiles(latencies: list[float]) -> dict[str, float]:
    latencies.sort()
    return {
        "ms_p50": round(latencies[len(latencies) // 2] * 1000, 1),
        "ms_p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }


def _paced_gets(url: str, skus: list[str], args: argparse.Namespace, rate: int) -> dict[str, Any]:
    import requests  # the bench extra, checked by the CLI before a run: ``--help`` works without it

    total = int(rate * args.seconds)
    threads = 8  # paced: enough in flight that latency does not cap the rate
    latencies: list[float] = []
    lock = threading.Lock()
    started = time.perf_counter()

    def worker(offset: int) -> None:
        session = requests.Session()
        rng = random.Random(offset)
        for n in range(offset, total, threads):
            due = started + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            t0 = time.perf_counter()
            response = session.get(f"{url}/v1/skus/{skus[rng.randrange(len(skus))]}", timeout=30)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"GET answered {response.status_code}: {response.text[:200]}")
            with lock:
                latencies.append(elapsed)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 2),
        "asked_per_s": rate,
        "achieved_per_s": round(len(latencies) / seconds),
        **_percentiles(latencies),
    }


def _batch_posts(url: str, skus: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """``args.requests`` POSTs of ``args.batch`` single-line orders from ``args.clients``
    threads. The bodies are encoded before the clock starts and the answers decoded with
    msgspec, so the client (on the machine under test, where a platform's servers are
    elsewhere) takes as little of the two cores from the service as it can."""
    import requests  # the bench extra, checked by the CLI before a run: ``--help`` works without it

    latencies: list[float] = []
    lines = [0]
    lock = threading.Lock()
    now = time.time()
    bodies: list[bytes] = []
    for r in range(args.requests):
        rng = random.Random(r)
        orders = [
            {
                "channel": "douyin",
                "order_id": f"c{r}-{i}",
                "placed_at": now,
                "lines": [{"sku": skus[rng.randrange(len(skus))], "quantity": 1}],
            }
            for i in range(args.batch)
        ]
        bodies.append(msgspec.json.encode({"orders": orders}))
    headers = {"Content-Type": "application/json"}

    def worker(client_id: int) -> None:
        session = requests.Session()
        for r in range(client_id, args.requests, args.clients):
            t0 = time.perf_counter()
            response = session.post(f"{url}/v1/orders", data=bodies[r], headers=headers, timeout=120)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")
            decided = len(msgspec.json.decode(response.content)["decisions"])
            with lock:
                latencies.append(elapsed)
                lines[0] += decided

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "batch": args.batch,
        "requests": len(latencies),
        "lines": lines[0],
        "seconds": round(seconds, 2),
        "lines_per_s": round(lines[0] / seconds),
        **_percentiles(latencies),
    }
