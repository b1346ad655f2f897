"""``flashstock demo``: a few seconds of a flash sale, end to end, on real Ray and Redis.

Three SKUs, three platforms, 20 buyer threads tapping Buy at once, far more orders
than stock. Then payments, cancellations and platform redeliveries, and the ledger:
what was sold, what is held, and the proof that nothing was oversold.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from actors.infra.runtime import DEFAULT_DATA_DIR, ray_for, redis_for
from actors.infra.settings import StoreConfig, current_settings
from actors.owner.client import StockClient
from policies.ledger import Decision, SkuSettings, keeps_invariant
from policies.operations import Confirm, DefineSku, Release, Reserve
from scripts.retention_options import add_retention_options, retention_option_problem

CATALOGUE = [
    (
        SkuSettings(
            "HOODIE-COLLAB",
            "联名卫衣 limited co-branded hoodie",
            lead_time_minutes=2880,
            purchase_limit=2,
            substitutes=("HOODIE-CLASSIC",),
        ),
        500,
    ),
    (
        SkuSettings("HOODIE-CLASSIC", "经典款卫衣 classic hoodie", lead_time_minutes=720, purchase_limit=5),
        300,
    ),
    (SkuSettings("SNACK-BOX", "零食礼盒 snack box", lead_time_minutes=360), 2000),
]
CHANNELS = ("douyin", "taobao", "kuaishou")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("demo", help="run a short flash sale and print the ledger")
    parser.add_argument("--buyers", type=int, default=20, help="concurrent buyer threads")
    parser.add_argument("--orders", type=int, default=6000, help="orders in total")
    parser.add_argument(
        "--shards", type=int, default=current_settings().shards, help="SKU owner actors (FLASHSTOCK_SHARDS)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="embedded Redis data (ignored when REDIS_URL is set)",
    )
    add_retention_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    problem = retention_option_problem(args)
    if problem:
        print(f"flashstock demo: {problem}", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:8]
    print(
        f"flashstock demo {run_id}: {args.orders} orders from {args.buyers} buyers "
        f"on {len(CHANNELS)} platforms"
    )
    with redis_for(args.data_dir) as redis_url, ray_for(num_cpus=2, log_level=args.log_level):
        config = StoreConfig(
            redis_url,
            namespace=f"demo-{run_id}",
            shard_count=args.shards,
            retention_seconds=args.retention_seconds,
            bucket_seconds=args.bucket_seconds,
        )
        client = StockClient.start(config)
        try:
            client.submit([DefineSku(settings, on_hand) for settings, on_hand in CATALOGUE])
            outcomes, seconds = _flash_sale(client, args.buyers, args.orders)
            paid, cancelled = _payments_and_cancellations(client, outcomes)
            repeats = _redeliver(client, outcomes[:200])
            where = redis_url if current_settings().redis_url else f"{args.data_dir / 'redis'} (AOF)"
            _report(client, outcomes, seconds, paid, cancelled, repeats, where)
        finally:
            client.close()
    return 0


def _flash_sale(
    client: StockClient, buyers: int, orders: int
) -> tuple[list[tuple[Reserve, Decision]], float]:
    rng = random.Random(7)
    skus = [settings.sku for settings, _ in CATALOGUE]
    plan = [
        Reserve(
            rng.choice(CHANNELS),
            f"o{n}",
            rng.choices(skus, weights=(6, 2, 2))[0],
            rng.choices((1, 2, 3), weights=(8, 2, 1))[0],
            time.time(),
        )
        for n in range(orders)
    ]
    outcomes: list[tuple[Reserve, Decision]] = []
    lock = threading.Lock()

    def buyer(mine: list[Reserve]) -> None:
        for op in mine:
            decision = client.submit_one(op)
            with lock:
                outcomes.append((op, decision))

    started = time.perf_counter()
    threads = [threading.Thread(target=buyer, args=(plan[i::buyers],)) for i in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started


def _payments_and_cancellations(
    client: StockClient, outcomes: list[tuple[Reserve, Decision]]
) -> tuple[int, int]:
    """Nine in ten accepted orders pay; the rest cancel and give their units back."""
    accepted = [op for op, decision in outcomes if decision.accepted]
    ops: list[Confirm | Release] = [
        Confirm(op.channel, op.order_id, op.sku)
        if n % 10
        else Release(op.channel, op.order_id, op.sku, "cancelled")
        for n, op in enumerate(accepted)
    ]
    decisions = client.submit(ops)
    paid = sum(1 for d in decisions if d.op == "confirm" and d.accepted)
    return paid, sum(1 for d in decisions if d.op == "release" and d.accepted)


def _redeliver(client: StockClient, outcomes: list[tuple[Reserve, Decision]]) -> int:
    """Platforms redeliver: the same orders again must change nothing."""
    repeated = client.submit([op for op, _ in outcomes])
    return sum(1 for d in repeated if d.duplicate)


def _report(
    client: StockClient,
    outcomes: list[tuple[Reserve, Decision]],
    seconds: float,
    paid: int,
    cancelled: int,
    repeats: int,
    where: str,
) -> None:
    results = Counter("accepted" if d.accepted else d.reason for _, d in outcomes)
    print(
        f"\n{len(outcomes)} orders decided in {seconds:.2f} s "
        f"({len(outcomes) / seconds:,.0f} orders/s, every decision durable in Redis)"
    )
    print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(results.items())))
    print(
        f"  then {paid} paid, {cancelled} cancelled; {repeats} redelivered orders "
        "answered with their first decision"
    )
    ledgers = client.ledgers([settings.sku for settings, _ in CATALOGUE])
    print(f"\n{'sku':<16}{'on_hand':>9}{'reserved':>10}{'sold':>7}{'available':>11}  oversold")
    for settings, _ in CATALOGUE:
        ledger = ledgers[settings.sku]
        oversold = "no" if keeps_invariant(ledger) else "YES"
        print(
            f"{ledger.sku:<16}{ledger.on_hand:>9}{ledger.reserved:>10}{ledger.sold:>7}"
            f"{ledger.available:>11}  {oversold}"
        )
    print(f"\nledger stored in Redis: {where}, namespace {client.config.namespace}")
