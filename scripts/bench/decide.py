"""``flashstock bench decide``: decisions per second of the owner's decide loop, in process.

The same ``--orders`` generated operations (a sale's mix: new order lines, payments and
cancellations of earlier ones, redeliveries, the odd restock; stock runs out before
the end, so some lines are refused) are decided in batches of ``--batch`` lines, for 1
and 1,000 SKUs, by:

- ``per-line``: ``policies.reservations.decide_lines``, one ``decide`` per line (the
  owner's loop before the tight one);
- ``tight``: ``policies.reservations.decide_batch``, the batch loop the owner runs now;
- ``owner``: ``SkuOwner.decide_batch`` on an in-memory store (the tight loop plus the
  owner's bookkeeping: encoded records, expiries, the commit batch; nothing committed),
  shown without a ratio since it does more than either loop.

No Redis, no Ray. Decisions/s is wall time, CPU us per decision is this process's CPU
time (``time.process_time``), each the best of ``--repeat`` passes; on a shared
machine quote the ratio. Every tight decision is checked equal to the per-line one.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from actors.infra.settings import StoreConfig, tune_gc_for_throughput
from actors.owner.core import SkuOwner
from actors.owner.memory_store import InMemoryOwnerStore, MemoryLedgers
from policies.ledger import Decision, Ledger, LineRecord, SkuSettings
from policies.operations import Confirm, DefineSku, Operation, Release, Reserve, Restock
from policies.reservations import BatchOutcome, decide_batch, decide_lines
from scripts.loadgen.machine import machine

CHANNELS = ("douyin", "taobao", "kuaishou")
#: 2025-11-11 20:00:00 China Standard Time
NOW = 1_762_862_400.0
Decide = Callable[..., BatchOutcome]


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("decide", help="decisions/s of the owner's decide loop: per line vs tight")
    parser.add_argument("--orders", type=int, default=300_000, help="operations per case")
    parser.add_argument("--batch", type=int, default=1000, help="operations per decided batch")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per loop (best is kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tune_gc_for_throughput()  # as the owner actor does
    cases = [measure(sku_count, args.orders, args.batch, args.repeat) for sku_count in (1, 1000)]
    print(f"\nflashstock bench decide: {args.orders:,} operations in batches of {args.batch:,}, in process")
    print(f"{'skus':>6}{'loop':>10}{'decisions/s':>14}{'CPU us/dec':>12}{'vs per-line':>13}")
    for case in cases:
        for loop in ("per_line", "tight", "owner"):
            row = case[loop]
            # the owner row does more than either loop (its bookkeeping): no ratio
            ratio = f"{case['per_line']['cpu_us'] / row['cpu_us']:.2f}x" if loop != "owner" else "-"
            print(
                f"{case['skus']:>6,}{loop.replace('_', '-'):>10}{row['decisions_per_s']:>14,.0f}"
                f"{row['cpu_us']:>12.2f}{ratio:>13}"
            )
        print(f"{'':>6}{'mismatches':>10}{case['mismatches']:>14,}")
    if args.json:
        results = {"machine": machine(), "orders": args.orders, "batch": args.batch, "cases": cases}
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(case["mismatches"] == 0 for case in cases) else 1


def sale_operations(sku_count: int, count: int, seed: int = 7) -> tuple[list[Operation], int]:
    """``count`` operations over ``sku_count`` SKUs (see the module), and the stock per
    SKU that runs out at about four lines in five."""
    rng = random.Random(seed)
    skus = [f"SKU-{n:04d}" for n in range(sku_count)]
    ops: list[Operation] = []
    placed: list[Reserve] = []
    units = 0
    for n in range(count):
        roll = rng.random()
        if roll < 0.12 and placed:
            order = placed[rng.randrange(len(placed))]
            ops.append(Confirm(order.channel, order.order_id, order.sku))
        elif roll < 0.16 and placed:
            order = placed[rng.randrange(len(placed))]
            ops.append(Release(order.channel, order.order_id, order.sku, "cancelled"))
        elif roll < 0.20 and placed:
            ops.append(placed[rng.randrange(len(placed))])  # redelivered
        elif roll < 0.2005:
            ops.append(Restock(skus[rng.randrange(sku_count)], 50, f"t{n}"))
        else:
            quantity = 1 + (rng.random() < 0.2)
            sku = skus[rng.randrange(sku_count)]
            order = Reserve(CHANNELS[n % 3], f"o{n}", sku, quantity, NOW - 1, rng.random() < 0.1)
            ops.append(order)
            placed.append(order)
            units += quantity
    return ops, max(1, units * 4 // 5 // sku_count)


def measure(sku_count: int, count: int, batch: int, repeat: int) -> dict[str, Any]:
    ops, stock = sale_operations(sku_count, count)
    batches = [ops[i : i + batch] for i in range(0, len(ops), batch)]
    skus = sorted({op.sku for op in ops})
    row: dict[str, Any] = {"skus": sku_count, "operations": len(ops), "stock_per_sku": stock}
    decided: dict[str, list[Decision]] = {}
    for name, decide in (("per_line", decide_lines), ("tight", decide_batch)):
        best_wall, best_cpu = float("inf"), float("inf")
        for _ in range(max(1, repeat)):
            wall, cpu, decided[name] = _pass(decide, batches, skus, stock)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        row[name] = _rates(len(ops), best_wall, best_cpu)
    row["owner"] = _owner_rates(batches, skus, stock, repeat)
    pairs = zip(decided["per_line"], decided["tight"], strict=True)
    row["mismatches"] = sum(1 for a, b in pairs if a != b)
    row["accepted"] = sum(1 for d in decided["tight"] if d.accepted)
    return row


def _pass(
    decide: Decide, batches: Sequence[Sequence[Operation]], skus: Sequence[str], stock: int
) -> tuple[float, float, list[Decision]]:
    """One pass over every batch with fresh state; the state is carried from batch to
    batch as the owner carries it (outside the timed calls)."""
    ledgers = {sku: Ledger(sku, stock, 0, 0, (), 1) for sku in skus}
    settings = {sku: SkuSettings(sku, purchase_limit=5) for sku in skus}
    records: dict[str, dict[str, LineRecord]] = {}
    decisions: list[Decision] = []
    wall = cpu = 0.0
    for ops in batches:
        started, started_cpu = time.perf_counter(), time.process_time()
        outcome = decide(ops, ledgers, settings, records, NOW)
        wall += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        decisions += outcome.decisions
        ledgers.update(outcome.ledgers)
        settings.update(outcome.settings)
        for sku, line_field, record in outcome.records:
            records.setdefault(sku, {})[line_field] = record
    return wall, cpu, decisions


def _owner_rates(batches: Sequence[Sequence[Operation]], skus: Sequence[str], stock: int, repeat: int) -> Any:
    best_wall, best_cpu = float("inf"), float("inf")
    config = StoreConfig("redis://unused", namespace="bench-decide", shard_count=1)
    for _ in range(max(1, repeat)):
        owner = SkuOwner(config, 0, InMemoryOwnerStore(config, MemoryLedgers()), clock=lambda: NOW)
        owner.apply([DefineSku(SkuSettings(sku, purchase_limit=5), stock) for sku in skus])
        wall = cpu = 0.0
        for ops in batches:
            started, started_cpu = time.perf_counter(), time.process_time()
            owner.decide_batch(ops)
            wall += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return _rates(sum(map(len, batches)), best_wall, best_cpu)


def _rates(decisions: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "decisions_per_s": round(decisions / wall),
        "cpu_us": round(cpu / decisions * 1e6, 3),
        "wall_s": round(wall, 3),
    }
