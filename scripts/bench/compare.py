"""``flashstock bench`` (no suite): flashstock side by side with the two usual ways of
selling stock without overselling, on the same machine and the same orders.

Workload: ``--orders`` single-unit orders over ``--skus`` SKUs, Zipf-skewed
(``scripts.loadgen.skus.zipf_skus``, fixed seed). Every SKU holds half of the hottest SKU's
demand: the hottest sells out, nearly every other order is accepted. Every contender
keeps a durable record of each decision, durably committed before it counts:

1. flashstock: the orders pre-filled in three platforms' inbox streams, drained by the
   ingest actors into the SKU owners (group commit), timed until every order has a
   published decision. Redis AOF ``appendfsync always``.
2. classic: one Redis Lua check-and-decrement per order with an idempotency key and an
   append of the decision to a ledger stream (``bench_core.CLASSIC_LUA``), pipelined
   500 per round trip, on the same Redis, the orders handed to it as ready tuples.
3. same-work Lua consumer (``scripts.bench.lua_consumer``): what a team would build
   instead, doing the same job: one consumer process per channel reads the same
   platform messages from the same kind of inbox streams, parses them with the same
   adapters, runs one Lua check-and-decrement per order pipelined, publishes the
   decisions and acknowledges the entries.
4. row lock: ``UPDATE stock SET qty = qty - 1 WHERE sku = ? AND qty >= 1`` and an insert
   of the decision row, one transaction (and commit) per order, from several writer
   threads; PostgreSQL (``synchronous_commit = on``) when reachable, else SQLite (WAL,
   ``synchronous = FULL``).

CPU per order is the whole machine's busy CPU time during the run (``/proc/stat``:
every process, Redis included) divided by the orders, with Redis' own share beside it
(``INFO cpu``), and for flashstock its ingest actors' and SKU owners' shares (each
actor's own process CPU); a quiet machine is assumed (with ``REDIS_URL`` or a joined
cluster, other processes' CPU counts too). Redis' time per command over each run (``INFO
commandstats``, read before and after: nothing is reset) says where its share went.
The run ends with the verdict on the end-to-end targets (``scripts.bench.targets``).

Latency is what each pattern's caller waits for its decision once its order is taken
up: per ingest batch for flashstock (one read -> decide -> durable -> published cycle
of a channel's ingest loop, measured between consecutive decision entries on the Redis
clock), per pipeline round trip for the classic pattern, per transaction for the
database; every order of a batch or round trip is given its time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from actors.infra.codec import entry_time_ms
from actors.infra.directory import ingest_name
from actors.infra.redis_client import connect
from actors.infra.runtime import ray_for
from actors.infra.settings import RAY_NAMESPACE, StoreConfig, current_settings
from actors.owner.client import StockClient
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from scripts.bench.core import CLASSIC_PIPELINE, classic_lua_orders
from scripts.bench.ingest import drain, fill_inboxes, inbox_to_decision_ms, release_backlog
from scripts.bench.lua_consumer import published_latencies_ms, remaining_stock, run_consumers, stock_key
from scripts.bench.options import count
from scripts.bench.rowlock import Database, choose_database, row_lock_orders
from scripts.bench.runtime import bench_redis
from scripts.bench.targets import END_TO_END, add_verdicts, print_verdicts
from scripts.loadgen.cpu import CpuMeter
from scripts.loadgen.inbox import CHANNELS, Published, inbox_keys, published_orders
from scripts.loadgen.machine import machine, machine_facts
from scripts.loadgen.skus import ZIPF_EXPONENT, zipf_skus
from scripts.loadgen.stats import quantile


def add_options(bench: argparse.ArgumentParser) -> None:
    """The comparison's options, on the ``bench`` parser itself (no suite named)."""
    bench.add_argument("--orders", type=count(), default=300_000, help="single-unit orders in all")
    bench.add_argument("--skus", type=count(), default=1000, help="SKUs the orders are drawn from (Zipf)")
    bench.add_argument("--shards", type=count(), default=2, help="flashstock's SKU owner actors")
    bench.add_argument("--seed", type=int, default=11, help="of the Zipf order generator")
    bench.add_argument(
        "--database",
        choices=("auto", "postgres", "sqlite"),
        default="auto",
        help="row-lock contender: PostgreSQL at FLASHSTOCK_BENCH_POSTGRES_URL "
        "(auto: when reachable) or SQLite",
    )
    bench.add_argument(
        "--writers", type=count(), default=4, help="row-lock contender's concurrent connections"
    )
    bench.add_argument("--json", type=Path, default=None, help="also write the results here")
    bench.set_defaults(run=run)


@dataclass(frozen=True)
class Workload:
    """Order ``n`` takes one unit of ``draws[n]``; every SKU starts with ``stock`` units."""

    skus: list[str]
    draws: list[str]
    stock: int
    seed: int

    def expected_accepted(self) -> dict[str, int]:
        """Units any oversell-proof seller accepts per SKU: min(demand, stock)."""
        return {sku: min(count, self.stock) for sku, count in Counter(self.draws).items()}


def make_workload(orders: int, sku_count: int, seed: int) -> Workload:
    skus = [f"SKU-{i:04d}" for i in range(sku_count)]
    draws = zipf_skus(sku_count, random.Random(seed), orders)
    hottest = Counter(draws).most_common(1)[0][1]
    return Workload(skus, draws, max(1, math.ceil(hottest / 2)), seed)


@dataclass
class Outcome:
    """What one contender did with the workload."""

    how: str
    orders: int
    decided: int  # orders with a durable decision
    seconds: float
    latencies_ms: list[float]  # one per order (see the module docstring)
    accepted_by_sku: dict[str, int]  # units, as the callers were told
    remaining_by_sku: dict[str, int]  # units left in the durable stock after the run
    extra: dict[str, Any] = field(default_factory=dict)

    def oversold_units(self, workload: Workload) -> int:
        """Units accepted beyond a SKU's stock, plus any stock below zero."""
        over = sum(max(0, units - workload.stock) for units in self.accepted_by_sku.values())
        return over + sum(max(0, -left) for left in self.remaining_by_sku.values())

    def stock_mismatches(self, workload: Workload) -> list[str]:
        """SKUs whose remaining stock is not their stock less what was accepted."""
        return [
            sku
            for sku in workload.skus
            if self.remaining_by_sku.get(sku) != workload.stock - self.accepted_by_sku.get(sku, 0)
        ]

    def summary(self, workload: Workload) -> dict[str, Any]:
        return {
            "how": self.how,
            "orders": self.orders,
            "decided": self.decided,
            "accepted_units": sum(self.accepted_by_sku.values()),
            "seconds": round(self.seconds, 3),
            "orders_per_s": round(self.orders / self.seconds),
            "latency_ms_p50": round(quantile(self.latencies_ms, 0.50) or 0.0, 2),
            "latency_ms_p99": round(quantile(self.latencies_ms, 0.99) or 0.0, 2),
            "oversold_units": self.oversold_units(workload),
            "stock_mismatches": len(self.stock_mismatches(workload)),
            **self.extra,
        }


def run_flashstock(redis_url: str, workload: Workload, shards: int) -> Outcome:
    """Contender 1 (needs a running Ray): pre-filled inboxes, drained by the ingest actors."""
    config = StoreConfig(redis_url, namespace=f"cmp{random.randrange(1 << 30):x}", shard_count=shards)
    client = StockClient.start(config)
    raw = connect(redis_url)
    try:
        client.submit([DefineSku(SkuSettings(sku), workload.stock) for sku in workload.skus])
        keys = inbox_keys(config)
        inbox_ms = fill_inboxes(raw, keys, workload.draws, time.time())
        cpu = CpuMeter(raw)
        parts = PartsMeter(config, client.owners)

        def release() -> None:
            parts.start()
            cpu.start()

        drained = drain(config, raw, len(workload.draws), on_release=release)
        cpu.stop()
        parts.stop()
        ray.get([actor.stop.remote() for actor in drained.ingest.values()])
        published = published_orders(raw, keys)
        ledgers = client.all_ledgers()
    finally:
        for channel in CHANNELS:
            with contextlib.suppress(ValueError):  # ValueError: it was never started
                ray.kill(
                    ray.get_actor(ingest_name(config, channel), namespace=RAY_NAMESPACE), no_restart=True
                )
        for owner in client.owners:
            ray.kill(owner, no_restart=True)
        client.close()
        raw.close()
    batches = Counter((decision.channel, decision.entry_id) for decision in published)  # -> orders
    channels = list(keys)
    sent = _sent_ms(channels, inbox_ms, drained.released_ms)
    waited = inbox_to_decision_ms(published, sent)
    return Outcome(
        how=f"3 ingest actors -> {shards} SKU owners, group commit, Redis AOF",
        orders=len(workload.draws),
        decided=len({(d.channel, d.fields[1]) for d in published}),
        seconds=drained.seconds,
        latencies_ms=_batch_cycles_ms(batches, drained.released_ms),
        accepted_by_sku=accepted_units(published),
        remaining_by_sku={sku: ledger.available for sku, ledger in ledgers.items()},
        extra={
            "latency": "per ingest batch: read -> decided -> durable -> published",
            "batches": len(batches),
            "inbox_to_decision_ms_p50": quantile(waited, 0.50),
            "inbox_to_decision_ms_p99": quantile(waited, 0.99),
            **cpu.per_order_us(len(workload.draws)),
            **parts.per_order_us(len(workload.draws)),
        },
    )


def accepted_units(published: Iterable[Published]) -> dict[str, int]:
    """Units accepted per SKU, as the published decisions told the callers (a repeated
    decision is not counted again)."""
    accepted: Counter[str] = Counter()
    for decision in published:
        if decision.fields[2] == "1" and decision.fields[5] == "0":  # accepted, not a repeat
            for line in decision.fields[6].split(";"):
                sku, quantity, _ = line.rsplit(":", 2)
                accepted[sku] += int(quantity)
    return dict(accepted)


class PartsMeter:
    """CPU seconds of flashstock's ingest actors and SKU owners between ``start()`` and
    ``stop()`` (each reports its own process's), to say where the machine's CPU went."""

    def __init__(self, config: StoreConfig, owners: list[Any]) -> None:
        self.config = config
        self.owners = owners
        self.ingest = self.owned = 0.0

    def _read(self) -> tuple[float, float]:
        ingest = [
            ray.get_actor(ingest_name(self.config, channel), namespace=RAY_NAMESPACE).cpu_seconds.remote()
            for channel in CHANNELS
        ]
        owners = [owner.health.remote() for owner in self.owners]
        return sum(ray.get(ingest)), sum(health["cpu_seconds"] for health in ray.get(owners))

    def start(self) -> None:
        self._ingest0, self._owners0 = self._read()

    def stop(self) -> None:
        ingest, owners = self._read()
        self.ingest, self.owned = ingest - self._ingest0, owners - self._owners0

    def per_order_us(self, orders: int) -> dict[str, float]:
        """Microseconds of CPU per order in the ingest actors and in the SKU owners."""
        return {
            "ingest_cpu_us_per_order": round(self.ingest / orders * 1e6, 1),
            "owners_cpu_us_per_order": round(self.owned / orders * 1e6, 1),
        }


def _sent_ms(channels: list[str], inbox_ms: list[int], released_ms: int) -> dict[tuple[str, str], int]:
    """When each order (by channel and id) could first be taken up: its inbox entry's
    time, or the backlog's release if later (not the time spent starting the consumers)."""
    return {(channels[n % len(channels)], str(n)): max(ms, released_ms) for n, ms in enumerate(inbox_ms)}


def _batch_cycles_ms(batches: dict[tuple[str, str], int], released_ms: int) -> list[float]:
    """Each channel's ingest loop handles one batch at a time, so the time between two
    consecutive decision entries of a channel (the first: since the backlog's release)
    is the later batch's whole cycle."""
    latencies: list[float] = []
    previous: dict[str, int] = {}
    for (channel, entry_id), orders in sorted(
        batches.items(), key=lambda item: (item[0][0], _entry_key(item[0][1]))
    ):
        ms = entry_time_ms(entry_id)
        latencies.extend([float(ms - previous.get(channel, released_ms))] * orders)
        previous[channel] = ms
    return latencies


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, sequence = entry_id.partition("-")
    return int(ms), int(sequence or 0)


def run_classic(redis_url: str, workload: Workload) -> Outcome:
    """Contender 2: one Lua call per order (with its ledger append), pipelined."""
    client = connect(redis_url)
    prefix = f"classic{random.randrange(1 << 30):x}"
    stock_key = {sku: f"{prefix}:stock:{sku}" for sku in workload.skus}
    pipe = client.pipeline(transaction=False)
    for key in stock_key.values():
        pipe.hset(key, "available", workload.stock)
    pipe.execute()
    ledger = f"{prefix}:ledger"
    stock_keys = [stock_key[sku] for sku in workload.draws]
    cpu = CpuMeter(client)
    cpu.start()
    started = time.perf_counter()
    results, round_trips = classic_lua_orders(client, stock_keys, f"{prefix}:order:", ledger, workload.draws)
    elapsed = time.perf_counter() - started
    cpu.stop()
    accepted = Counter(sku for sku, result in zip(workload.draws, results, strict=True) if result == 1)
    pipe = client.pipeline(transaction=False)
    for key in stock_key.values():
        pipe.hget(key, "available")
    remaining = {sku: int(left) for sku, left in zip(stock_key, pipe.execute(), strict=True)}
    decided = int(client.xlen(ledger))
    client.close()
    latencies = [seconds * 1000 for seconds in round_trips]
    return Outcome(
        how=f"one Lua call per order (idempotency key, decrement, ledger XADD), "
        f"{CLASSIC_PIPELINE} per pipeline, Redis AOF",
        orders=len(workload.draws),
        decided=decided,
        seconds=elapsed,
        latencies_ms=latencies,
        accepted_by_sku=dict(accepted),
        remaining_by_sku=remaining,
        extra={"latency": "per pipeline round trip", **cpu.per_order_us(len(workload.draws))},
    )


def run_same_work(redis_url: str, workload: Workload) -> Outcome:
    """Contender 3: the same platform messages in the same kind of inbox streams, one
    consumer process per channel (``scripts.bench.lua_consumer``)."""
    prefix = f"samework{random.randrange(1 << 30):x}"
    client = connect(redis_url)
    keys = inbox_keys(StoreConfig(redis_url, namespace=prefix))
    pipe = client.pipeline(transaction=False)
    for sku in workload.skus:
        pipe.hset(stock_key(prefix, sku), "available", workload.stock)
    pipe.execute()
    inbox_ms = fill_inboxes(client, keys, workload.draws, time.time())
    channels = list(keys)
    expected = Counter(channels[n % len(channels)] for n in range(len(workload.draws)))
    cpu = CpuMeter(client)

    def release() -> int:
        cpu.start()
        return release_backlog(client, keys)

    done = run_consumers(redis_url, CHANNELS, keys, prefix, expected, release)
    cpu.stop()
    sent = _sent_ms(channels, inbox_ms, done.released_ms)
    waited = published_latencies_ms(client, keys, sent)
    remaining = remaining_stock(client, prefix, workload.skus)
    client.close()
    accepted: Counter[str] = Counter()
    for result in done.results:
        accepted.update(result.accepted_by_sku)
    return Outcome(
        how="3 consumer processes: XREADGROUP, same adapters, one Lua call per order pipelined, "
        "decisions XADD + XACK, Redis AOF",
        orders=len(workload.draws),
        decided=sum(r.decided for r in done.results),
        seconds=done.seconds,
        latencies_ms=[float(ms) for ms in waited],
        accepted_by_sku=dict(accepted),
        remaining_by_sku=remaining,
        extra={
            "latency": "from the release of its inbox entry to its published decision "
            "(includes the wait in the backlog)",
            "inbox_to_decision_ms_p50": quantile(waited, 0.50),
            "inbox_to_decision_ms_p99": quantile(waited, 0.99),
            "consumer_cpu_us_per_order": round(
                sum(r.cpu_seconds for r in done.results) / len(workload.draws) * 1e6, 1
            ),
            **cpu.per_order_us(len(workload.draws)),
        },
    )


def run_row_lock(database: Database, workload: Workload, writers: int) -> Outcome:
    """Contender 3: a database transaction per order (``bench_rowlock``)."""
    done = row_lock_orders(database, workload.draws, workload.skus, workload.stock, writers)
    return Outcome(
        how=f"{database.description}: UPDATE ... WHERE qty >= 1 + INSERT decision, "
        f"a commit per order, {writers} writer connections",
        orders=len(workload.draws),
        decided=done.decided,
        seconds=done.seconds,
        latencies_ms=done.latencies_ms,
        accepted_by_sku=done.accepted_by_sku,
        remaining_by_sku=done.remaining_by_sku,
        extra={"latency": "per transaction"},
    )


@dataclass
class Comparison:
    workload: Workload
    database: Database
    outcomes: dict[str, Outcome]  # flashstock, classic_lua, same_work_lua, row_lock_db

    def failed(self) -> bool:
        """Anything oversold, inconsistent or left undecided."""
        return any(
            o.oversold_units(self.workload) or o.stock_mismatches(self.workload) or o.decided != o.orders
            for o in self.outcomes.values()
        )

    def to_json(self) -> dict[str, Any]:
        workload = self.workload
        summaries = {name: o.summary(workload) for name, o in self.outcomes.items()}
        ours = summaries["flashstock"]["orders_per_s"]
        return {
            "machine": machine_facts(),
            "workload": {
                "orders": len(workload.draws),
                "skus": len(workload.skus),
                "seed": workload.seed,
                "zipf_exponent": ZIPF_EXPONENT,
                "stock_per_sku": workload.stock,
                "hottest_sku_share": round(
                    Counter(workload.draws).most_common(1)[0][1] / len(workload.draws), 3
                ),
                "accepted_units_expected": sum(workload.expected_accepted().values()),
            },
            "durability": {
                "redis": "REDIS_URL as configured"
                if current_settings().redis_url
                else "embedded redis-server, AOF appendfsync always",
                "database": self.database.durability,
            },
            "database": self.database.description,
            "contenders": summaries,
            "ratios": {
                f"flashstock_vs_{name}": round(ours / s["orders_per_s"], 2)
                for name, s in summaries.items()
                if name != "flashstock"
            },
            "oversold_units": sum(s["oversold_units"] for s in summaries.values()),
        }


def compare(
    redis_url: str,
    workdir: Path,
    *,
    orders: int,
    skus: int,
    shards: int = 2,
    seed: int = 11,
    database: str = "auto",
    writers: int = 4,
    log_level: str | None = None,
) -> Comparison:
    """Run the four contenders one after the other on one workload."""
    workload = make_workload(orders, skus, seed)
    chosen = choose_database(database, workdir)
    with ray_for(num_cpus=2, log_level=log_level):  # left running if it already was
        flashstock = run_flashstock(redis_url, workload, shards)
    classic = run_classic(redis_url, workload)
    same_work = run_same_work(redis_url, workload)
    row_lock = run_row_lock(chosen, workload, writers)
    return Comparison(
        workload,
        chosen,
        {
            "flashstock": flashstock,
            "classic_lua": classic,
            "same_work_lua": same_work,
            "row_lock_db": row_lock,
        },
    )


def run(args: argparse.Namespace) -> int:
    with bench_redis() as (redis_url, tmp):
        comparison = compare(
            redis_url,
            tmp,
            orders=args.orders,
            skus=args.skus,
            shards=args.shards,
            seed=args.seed,
            database=args.database,
            writers=args.writers,
            log_level=args.log_level,
        )
    results = comparison.to_json()
    verdicts = add_verdicts(END_TO_END, results)
    _print(results)
    print_verdicts(verdicts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if comparison.failed() else 0


#: the commands named in the printed summary (the JSON has all of them)
REDIS_COMMANDS_SHOWN = 8


def _print(results: dict[str, Any]) -> None:
    w = results["workload"]
    print(
        f"\nflashstock bench: {w['orders']:,} single-unit orders over {w['skus']:,} SKUs, Zipf "
        f"{w['zipf_exponent']} (seed {w['seed']}; the hottest SKU takes {w['hottest_sku_share']:.0%}), "
        f"{w['stock_per_sku']:,} units per SKU: the hottest sells out"
    )
    print(
        f"machine: {machine()}; Redis: {results['durability']['redis']}; "
        f"database: {results['database']}, {results['durability']['database']}"
    )
    print(
        f"{'contender':<14} {'orders/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'decided':>9} "
        f"{'accepted':>9} {'oversold':>9} {'flashstock / this':>18}"
    )
    ratios = results["ratios"]
    for name, c in results["contenders"].items():
        ratio = "" if name == "flashstock" else f"{ratios[f'flashstock_vs_{name}']:.2f}x"
        print(
            f"{name:<14} {c['orders_per_s']:>10,} {c['latency_ms_p50']:>8.1f} "
            f"{c['latency_ms_p99']:>8.1f} {c['decided']:>9,} {c['accepted_units']:>9,} "
            f"{c['oversold_units']:>9} {ratio:>18}"
        )
    for name, c in results["contenders"].items():
        print(f"  {name}: {c['how']}; latency {c['latency']}")
    for name in ("flashstock", "same_work_lua"):
        c = results["contenders"][name]
        print(
            f"  {name} from release of its inbox entry to published decision (includes the wait "
            f"in the backlog): p50 {c['inbox_to_decision_ms_p50']:,.0f} ms, "
            f"p99 {c['inbox_to_decision_ms_p99']:,.0f} ms"
        )
    print("  CPU per order (whole machine during the run, Redis' share in brackets):")
    for name, c in results["contenders"].items():
        if "cpu_us_per_order" in c:
            machine_cpu = "n/a" if c["cpu_us_per_order"] is None else f"{c['cpu_us_per_order']:,.1f} us"
            print(f"    {name:<14} {machine_cpu} (Redis {c['redis_cpu_us_per_order']:,.1f} us)")
    fs = results["contenders"]["flashstock"]
    if "ingest_cpu_us_per_order" in fs:
        parts = (fs["ingest_cpu_us_per_order"], fs["owners_cpu_us_per_order"], fs["redis_cpu_us_per_order"])
        # the machine's CPU that none of the three spent: the bench's own polling, Ray's
        # processes, anything else running
        rest = (
            ""
            if fs["cpu_us_per_order"] is None
            else f", elsewhere {fs['cpu_us_per_order'] - sum(parts):,.1f} us"
        )
        print(
            f"  flashstock's CPU per order by part: ingest actors {parts[0]:,.1f} us, "
            f"SKU owners {parts[1]:,.1f} us, Redis {parts[2]:,.1f} us{rest}"
        )
    by_command = list(fs.get("redis_us_per_order_by_command", {}).items())[:REDIS_COMMANDS_SHOWN]
    if by_command:
        print(
            "  flashstock's Redis time by command, us per order (a script's time includes the "
            "commands it calls, also counted on their own; a transaction's is under exec): "
            + ", ".join(f"{name} {us:,.2f}" for name, us in by_command)
        )
    bad = [
        name
        for name, c in results["contenders"].items()
        if c["oversold_units"] or c["stock_mismatches"] or c["decided"] != c["orders"]
    ]
    print("FAILED: " + ", ".join(bad) if bad else "no contender oversold; every order decided")
