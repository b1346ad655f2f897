"""``flashstock bench partitioned``: a prototype of the order path flashstock did not
build (issue 12's "design (a)"), measured beside today's path on the same orders.

Design (a): each owner shard reads its own inbox partition from a saved position,
parses, decides and commits, with no ingest actor and no Ray call between. A platform
writes one inbox per channel and knows nothing of shards, so three variants are measured:

- ``routed``: the platforms write the channel inboxes as today; a router per channel
  reads its inbox after its saved position, parses the messages with the product's
  parser, and in one script appends one entry per shard (the batch's orders of that
  shard's SKUs, pickled) to the shard's partition and moves its position (a
  compare-and-set, so a batch is routed once);
- ``lean``: the same, but the router only peeks at each message for its first SKU
  (``SKU_KEYS``) and forwards the raw messages; the owner parses them;
- ``direct``: the writers put each raw message on its shard's partition themselves (the
  shape the first design study measured); there is no router, the owner parses.

Each owner process reads its partition after its position, looks the batch's order ids
up in the order index, decides with the product's ``SkuOwner`` (the real commit script,
fenced, durable), publishes each channel's decisions and index records with the
product's ``RedisIngestStore.publish``, and saves its position. Processes are plain
``multiprocessing`` ones (what Ray would add is a process to host them).

What the prototype leaves out, so its speed is an upper bound for the design: orders
with lines on several shards (routed by their first SKU and decided by that shard
alone), payments and cancels that name only the order, dead letters, expiry ticks, the
forecaster feed, and restart and crash handling beyond the router's compare-and-set.
The workload (single-line new orders) needs none of them. The lean router's peek is a
pattern, not a parser: a product would have to make it agree with the parser's SKU
exactly (escapes, trimming), and route payments by the order they name. flashstock and
the classic
Lua script run on the same orders in the same run, for the ratios.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pickle
import queue
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import connect
from actors.infra.runtime import ray_for
from actors.infra.settings import StoreConfig, tune_gc_for_throughput
from actors.ingest.store import Publication, RedisIngestStore
from actors.owner.core import SkuOwner
from actors.owner.store import RedisOwnerStore
from policies.channels import PlatformOrder, parse_messages
from policies.ledger import Ledger, SkuSettings
from policies.operations import DefineSku, Operation
from policies.orders import (
    OrderDecision,
    RecordedOrder,
    decide_accepted_order,
    decide_order,
    record_order,
    reservations_for,
)
from policies.routing import owner_of
from scripts.bench.compare import (
    Outcome,
    Workload,
    accepted_units,
    make_workload,
    run_classic,
    run_flashstock,
)
from scripts.bench.ingest import fill_inboxes
from scripts.bench.options import count
from scripts.bench.runtime import bench_redis
from scripts.loadgen.cpu import CpuMeter
from scripts.loadgen.inbox import CHANNELS, inbox_keys, published_orders
from scripts.loadgen.machine import machine
from scripts.loadgen.messages import order_message
from scripts.loadgen.progress import progress_over

VARIANTS = ("routed", "lean", "direct")
#: the key of an order's first SKU in each platform's payload, and what follows it up to
#: the SKU's text (their order data is a JSON text inside the message, so its quotes come
#: escaped): the ``lean`` router's peek, which a product would have to make agree
#: exactly with the parser's SKU
SKU_KEYS = {"douyin": b"out_sku_id", "taobao": b"outer_sku_id", "kuaishou": b"skuNick"}
SKU_VALUE = re.compile(rb'\\?"\s*:\s*\\?"([^"\\]*)')
#: a reader stops after this many empty reads in a row (200 ms each): the run is over
IDLE_READS = 10
#: inbox entries a router reads per batch: what an ingest actor reads (``ChannelIngest``)
ROUTER_BATCH = 4000

#: append each shard's entry to its partition and move the router's position, or nothing
#: when the position is not the one the batch was read after (another router moved it)
ROUTE_LUA = """
local position = redis.call('GET', KEYS[1]) or '0'
if position ~= ARGV[1] then return redis.error_reply('MOVED the position is ' .. position) end
for at = 3, #ARGV do
  redis.call('XADD', KEYS[at - 1], '*', 'b', ARGV[at])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def add_parser(suites: Any) -> None:
    parser = suites.add_parser(
        "partitioned",
        help="prototype: owners read their own inbox partitions (routed, lean, direct) vs flashstock",
        description="A prototype of issue 12's design (a): each owner shard reads its own "
        "inbox partition, fed by a router per channel that parses (routed) or only peeks at "
        "the SKU (lean), or by writers that partition (direct). Measured beside flashstock "
        "and the classic Lua script on the same orders; orders spanning shards, payments, "
        "dead letters and restarts are left out (scripts/bench/partitioned.py, "
        "docs/benchmarks.md 'Session 11').",
    )
    parser.add_argument("--orders", type=count(), default=300_000, help="single-unit orders in all")
    parser.add_argument("--skus", type=count(), default=1000, help="SKUs the orders are drawn from (Zipf)")
    parser.add_argument("--shards", type=count(), default=2, help="owner processes (and flashstock's owners)")
    parser.add_argument("--seed", type=int, default=11, help="of the Zipf order generator")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    workload = make_workload(args.orders, args.skus, args.seed)
    results: dict[str, Any] = {"machine": machine(), "orders": args.orders, "shards": args.shards}
    contenders: dict[str, dict[str, Any]] = {}
    with bench_redis() as (redis_url, _):
        with ray_for(num_cpus=2, log_level=args.log_level):
            contenders["flashstock"] = run_flashstock(redis_url, workload, args.shards).summary(workload)
        for variant in VARIANTS:
            contenders[variant] = run_variant(redis_url, workload, args.shards, variant)
        contenders["classic_lua"] = run_classic(redis_url, workload).summary(workload)
    classic = contenders["classic_lua"]["orders_per_s"]
    for outcome in contenders.values():
        outcome["vs_classic_lua"] = round(outcome["orders_per_s"] / classic, 2)
        outcome.pop("redis_us_per_order_by_command", None)
    results["contenders"] = contenders
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def run_variant(redis_url: str, workload: Workload, shards: int, variant: str) -> dict[str, Any]:
    """One variant's run: prefill, start the processes, release them, wait for the last
    owner to finish; orders/s from the release to the last decision."""
    config = StoreConfig(redis_url, namespace=f"pa{random.randrange(1 << 30):x}", shard_count=shards)
    for index in range(shards):  # the SKUs, defined through short-lived owners
        owner = SkuOwner(config, index, RedisOwnerStore(config))
        owner.apply([DefineSku(SkuSettings(sku), workload.stock) for sku in workload.skus if owner.owns(sku)])
        owner.store.drop_connection()
    raw = connect(redis_url)
    if variant != "direct":
        fill_inboxes(raw, inbox_keys(config), workload.draws, time.time())
    else:
        _fill_partitions(raw, config, workload)
    context = multiprocessing.get_context("spawn")  # never fork a process that runs Ray
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_owner, args=(config, index, variant, go, results)) for index in range(shards)
    ]
    if variant != "direct":
        processes += [
            context.Process(target=_router, args=(config, channel, variant, go, results))
            for channel in CHANNELS
        ]
    for process in processes:
        process.start()
    _collect(results, processes, variant)  # each says it is ready
    cpu = CpuMeter(raw)
    cpu.start()
    released = time.time()
    go.set()
    finished: list[dict[str, Any]] = _collect(results, processes, variant)
    cpu.stop()
    for process in processes:
        process.join(timeout=30)
    owners = [f for f in finished if f["role"] == "owner"]
    routers = [f for f in finished if f["role"] == "router"]
    published = published_orders(raw, inbox_keys(config))
    raw.close()
    outcome = Outcome(
        how=f"{variant}: {'3 routers -> ' if routers else ''}{shards} owner processes reading partitions",
        orders=len(workload.draws),
        decided=len({(decision.channel, decision.fields[1]) for decision in published}),
        seconds=max(f["last_decision"] for f in owners) - released,
        latencies_ms=[],  # not measured: the prototype answers for throughput and CPU
        accepted_by_sku=accepted_units(published),
        remaining_by_sku={sku: ledger.available for sku, ledger in _ledgers(config).items()},
    )
    orders = outcome.orders
    return {
        "namespace": config.namespace,
        "how": outcome.how,
        "orders": orders,
        "decided": outcome.decided,
        "accepted_units": sum(outcome.accepted_by_sku.values()),
        "oversold_units": outcome.oversold_units(workload),
        "stock_mismatches": len(outcome.stock_mismatches(workload)),
        "seconds": round(outcome.seconds, 3),
        "orders_per_s": round(outcome.decided / outcome.seconds),
        **cpu.per_order_us(orders),
        "owners_cpu_us_per_order": round(sum(f["cpu_seconds"] for f in owners) / orders * 1e6, 1),
        "routers_cpu_us_per_order": (
            round(sum(f["cpu_seconds"] for f in routers) / orders * 1e6, 1) if routers else None
        ),
    }


def _collect(results: Any, processes: list[Any], variant: str) -> list[Any]:
    """One message from each of ``processes``; a process that died first fails the run
    (its traceback is in the log) rather than leaving it waiting."""
    collected: list[Any] = []
    while len(collected) < len(processes):
        try:
            collected.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [p.name for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"{variant}: {', '.join(dead)} died") from None
    return collected


def _fill_partitions(raw: Any, config: StoreConfig, workload: Workload) -> None:
    """Order ``n`` of channel ``n % 3``, raw as its platform sends it, on the partition of
    its SKU's shard: what the writers would do in the ``direct`` variant."""
    channels, now = list(CHANNELS), time.time()
    shards = config.shard_count
    batches = range(0, len(workload.draws), 5000)
    for start in progress_over(batches, desc="prefill partitions", unit="x5k", leave=False):
        pipe = raw.pipeline(transaction=False)
        for n in range(start, min(start + 5000, len(workload.draws))):
            channel, sku = channels[n % len(channels)], workload.draws[n]
            message = order_message(CHANNELS[channel], str(n), sku, 1, now, f"b{n}")
            pipe.xadd(_partition(config, owner_of(sku, shards)), {"c": channel, "m": message})
        pipe.execute()


def _partition(config: StoreConfig, shard: int) -> str:
    return f"{config.namespace}:proto:partition:{shard}"


def _router(config: StoreConfig, channel: str, variant: str, go: Event, results: Any) -> None:
    """Route ``channel``'s inbox to the partitions until it stays empty."""
    tune_gc_for_throughput()
    redis = connect(config.redis_url)
    route = redis.register_script(ROUTE_LUA)
    inbox = ChannelKeys.of(config.namespace, channel).inbox
    lean, sku_key = variant == "lean", SKU_KEYS[CHANNELS[channel]]
    position_key = f"{config.namespace}:proto:router:{channel}"
    shard_of: dict[Any, int] = {}
    results.put("ready")
    go.wait()
    started, position = time.process_time(), "0"
    for entries in _batches(redis, inbox, ROUTER_BATCH):
        raws = [fields[b"m"] for _, fields in entries]
        by_shard: dict[int, list[Any]] = defaultdict(list)
        if lean:
            for raw in raws:
                at = raw.find(sku_key)
                found = SKU_VALUE.match(raw, at + len(sku_key)) if at >= 0 else None
                peeked = found.group(1) if found else b""
                shard = shard_of.get(peeked)
                if shard is None:
                    shard = shard_of[peeked] = owner_of(peeked.decode(), config.shard_count)
                by_shard[shard].append(raw)
        else:
            for message in parse_messages(channel, CHANNELS[channel], raws):
                if type(message) is PlatformOrder:
                    sku = message.lines[0].sku
                    shard = shard_of.get(sku)
                    if shard is None:
                        shard = shard_of[sku] = owner_of(sku, config.shard_count)
                    by_shard[shard].append(tuple(message))
        last = entries[-1][0].decode()
        keys = [position_key, *(_partition(config, shard) for shard in by_shard)]
        payloads = [
            pickle.dumps((channel, rows) if lean else rows, protocol=pickle.HIGHEST_PROTOCOL)
            for rows in by_shard.values()
        ]
        route(keys=keys, args=[position, last, *payloads])
        position = last
    results.put({"role": "router", "cpu_seconds": time.process_time() - started})


def _owner(config: StoreConfig, index: int, variant: str, go: Event, results: Any) -> None:
    """Decide, commit and publish shard ``index``'s partition until it stays empty."""
    store = RedisOwnerStore(config)
    owner = SkuOwner(config, index, store)
    tune_gc_for_throughput()
    redis = connect(config.redis_url)
    publishers = {
        channel: RedisIngestStore(connect(config.redis_url), ChannelKeys.of(config.namespace, channel))
        for channel in CHANNELS
    }
    partition = _partition(config, index)
    position_key = f"{config.namespace}:proto:owner:{index}"
    read_count = ROUTER_BATCH if variant == "direct" else len(CHANNELS)
    results.put("ready")
    go.wait()
    started, last_decision = time.process_time(), time.time()
    for entries in _batches(redis, partition, read_count):
        orders = _orders(entries, variant)
        by_channel: dict[str, list[PlatformOrder]] = defaultdict(list)
        for order in orders:
            by_channel[order.channel].append(order)
        # the order index is read as the ingest reads it, for its cost only: the workload's
        # orders are all new (a product would answer the ones found from their record)
        for channel, channel_orders in by_channel.items():
            publishers[channel].recorded_orders(sorted({order.order_id for order in channel_orders}))
        ops: list[Operation] = []
        spans = []
        for order in orders:
            reservations = reservations_for(order)
            spans.append((order, len(ops), len(ops) + len(reservations)))
            ops += reservations
        decisions, batch = owner.decide_batch(ops)
        pending = owner.send(batch)
        published: dict[str, tuple[list[OrderDecision], dict[str, RecordedOrder]]] = defaultdict(
            lambda: ([], {})
        )
        for order, start, end in spans:
            lines = tuple(decisions[start:end])
            answers, index_records = published[order.channel]
            accepted = decide_accepted_order(order, lines)
            if accepted is None:
                decision = decide_order(order, lines)
                accepted = (decision, record_order(decision))
            answers.append(accepted[0])
            index_records[order.order_id] = accepted[1]
        owner.finish(pending)
        for channel, (answers, index_records) in published.items():
            counts = {"orders": len(answers), "accepted": sum(answer.accepted for answer in answers)}
            publishers[channel].publish(Publication(answers, [], [], index_records, counts, [], [], None))
        redis.set(position_key, entries[-1][0].decode())
        last_decision = time.time()
    cpu_seconds = time.process_time() - started
    results.put({"role": "owner", "cpu_seconds": cpu_seconds, "last_decision": last_decision})


#: a stream entry as redis-py returns it: its id and its fields
_Entry = tuple[bytes, dict[bytes, bytes]]


def _batches(redis: Any, stream: str, count: int) -> Iterator[list[_Entry]]:
    """Batches of up to ``count`` entries of ``stream``, each read after the last entry of
    the batch before (once the caller asks for the next), until ``IDLE_READS`` reads in a
    row of up to 200 ms find nothing."""
    position, idle = "0", 0
    while idle < IDLE_READS:
        reply = redis.xread({stream: position}, count=count, block=200)
        entries: list[_Entry] = reply[0][1] if reply else []
        if not entries:
            idle += 1
            continue
        idle = 0
        yield entries
        position = entries[-1][0].decode()


def _orders(entries: list[_Entry], variant: str) -> list[PlatformOrder]:
    if variant == "routed":
        new = tuple.__new__
        return [new(PlatformOrder, row) for _, fields in entries for row in pickle.loads(fields[b"b"])]
    by_channel: dict[str, list[bytes]] = defaultdict(list)
    if variant == "lean":
        for _, fields in entries:
            channel, raws = pickle.loads(fields[b"b"])
            by_channel[channel] += raws
    else:
        for _, fields in entries:
            by_channel[fields[b"c"].decode()].append(fields[b"m"])
    orders: list[PlatformOrder] = []
    for channel, messages in by_channel.items():
        orders += [
            m for m in parse_messages(channel, CHANNELS[channel], messages) if type(m) is PlatformOrder
        ]
    return orders


def _ledgers(config: StoreConfig) -> dict[str, Ledger]:
    """Every SKU's durable ledger, read from each shard's store."""
    ledgers: dict[str, Ledger] = {}
    for index in range(config.shard_count):
        store = RedisOwnerStore(config)
        ledgers.update(store.load(index).ledgers)
        store.drop_connection()
    return ledgers


#: the size docs/benchmarks.md measured; two runs of 20,000 orders put the variants at
#: 1.7-2.4x the classic script, against 1.15-1.55x at this size
MEASURED_ORDERS = 300_000


def _print(results: dict[str, Any]) -> None:
    print(f"\nflashstock bench partitioned: {results['orders']:,} orders, {results['shards']} shards")
    if results["orders"] < MEASURED_ORDERS:
        print(
            f"(a short run: the figures in docs/benchmarks.md are of {MEASURED_ORDERS:,} orders, "
            "where the ratios were far lower; compare like with like)"
        )
    print(
        f"{'contender':<12} {'orders/s':>9} {'vs classic':>10} {'CPU us/order':>12} {'Redis':>6} "
        f"{'routers or ingest':>17} {'owners':>6} {'oversold':>8}"
    )
    for name, row in results["contenders"].items():
        owners = row.get("owners_cpu_us_per_order")
        routers = row.get("routers_cpu_us_per_order", row.get("ingest_cpu_us_per_order"))
        print(
            f"{name:<12} {row['orders_per_s']:>9,} {row['vs_classic_lua']:>9}x "
            f"{row.get('cpu_us_per_order') or '-':>12} {row.get('redis_cpu_us_per_order') or '-':>6} "
            f"{routers if routers is not None else '-':>17} {owners if owners is not None else '-':>6} "
            f"{row['oversold_units']:>8}"
        )
