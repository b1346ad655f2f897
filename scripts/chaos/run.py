"""``flashstock chaos``: a flash-sale load while machines and processes die, then an audit.

On a Ray cluster simulated on this machine (``--nodes``, 3 by default) with its own
redis-server (AOF ``appendfsync always``; with ``--redis cluster`` a local Redis Cluster
of 3 primaries with a replica each instead), it starts the SKU owners, one ingest actor
per platform and the forecaster with the alert hub, and offers a seeded order load
(Zipf-skewed over the SKUs, the hot ones sell out, one order in ten cancelled a moment
later) through the platforms' inbox streams. Meanwhile, at seeded moments, it kills an
SKU owner, an ingest actor, the forecaster (with the alert hub), a whole node (a new one
joins), and the Redis server (kill -9, then a restart on its append-only file; on a
cluster, kill -9 of a primary serving owner partitions, then its replica's promotion:
``scripts.chaos.failover``), and times each recovery. When the load is drained it
audits Redis against the generator's record (``scripts.chaos.audit``) and prints the
table. The nodes' and actors' logs (a killed raylet's dump among them) go to
``--log-file``, not into the report on stdout.
The exit status is 1 on any violation or a fault the system did not recover from, 2 for
an unusable option.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

import ray
import structlog

from actors.alerts.actor import start_forecaster
from actors.infra.keys import ChannelKeys
from actors.infra.local_cluster import LocalCluster
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.ingest.actor import start_ingest
from actors.ingest.core import enqueue
from actors.owner.client import StockClient
from actors.owner.reads import read_line_records, read_skus
from actors.sync.actor import start_channel_sync
from actors.sync.grant_store import RedisGrantStore
from policies.alert_lifecycle import LifecycleSettings
from policies.ledger import SkuSettings
from policies.operations import DefineSku
from policies.routing import owner_of
from scripts.chaos.audit import AuditResult, PublishedDecision, SentOrder, audit_grants, audit_orders
from scripts.chaos.faults import KINDS, REDIS_DOWN, Deployment, FaultRecord, schedule
from scripts.chaos.output import report_stream_with_logs_in
from scripts.loadgen.cluster import simulated_cluster
from scripts.loadgen.inbox import CHANNELS as INBOX_CHANNELS
from scripts.loadgen.inbox import inbox_keys, published_orders
from scripts.loadgen.messages import cancel_message, format_of, order_message
from scripts.loadgen.skus import zipf_cum_weights
from scripts.loadgen.stats import quantile

log = structlog.get_logger(__name__)

CHANNELS = tuple(INBOX_CHANNELS)  # the platforms generated load goes to, native formats
DRAIN_DEADLINE_SECONDS = 180.0
#: primaries of the ``--redis cluster`` run, a replica each
CLUSTER_PRIMARIES = 3


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "chaos",
        help="kill owners, ingest, forecaster, sync, a node and Redis under load, then audit every promise",
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="how long the load runs")
    parser.add_argument("--seed", type=int, default=1, help="of the load and the fault schedule")
    parser.add_argument("--nodes", type=int, default=3, help="simulated Ray nodes")
    parser.add_argument("--shards", type=int, default=3, help="SKU owner actors")
    parser.add_argument("--rate", type=float, default=200.0, help="orders offered per second")
    parser.add_argument("--skus", type=int, default=40, help="SKUs the load buys")
    parser.add_argument("--rounds", type=int, default=1, help="times each kind of fault strikes")
    parser.add_argument(
        "--redis",
        choices=("server", "cluster"),
        default="server",
        help="one redis-server (its fault: kill -9 and an AOF restart) or a local Redis Cluster "
        "of 3 primaries with a replica each (its fault: kill -9 of a primary, its replica promoted)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--log-file",
        type=Path,
        default=Path("chaos.log"),
        help="where the Ray nodes', Redis' and actors' output goes (appended), kept out of the report",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for option, value in (("--minutes", args.minutes), ("--rate", args.rate)):
        if not math.isfinite(value):  # nan passes "positive"; the load cannot run at nan or inf
            print(f"flashstock chaos: {option} must be a finite number, got {value:g}", file=sys.stderr)
            return 2
    if args.minutes <= 0 or args.rate <= 0 or args.skus < 1 or args.shards < 1 or args.nodes < 1:
        print(
            "flashstock chaos: --minutes, --rate, --skus, --shards and --nodes must be positive",
            file=sys.stderr,
        )
        return 2
    if args.rounds < 1:
        print(f"flashstock chaos: --rounds must be >= 1, got {args.rounds}", file=sys.stderr)
        return 2
    if args.redis == "cluster" and args.rounds > CLUSTER_PRIMARIES:
        print(
            f"flashstock chaos: --redis cluster takes at most {CLUSTER_PRIMARIES} --rounds (each "
            f"kills one of its {CLUSTER_PRIMARIES} primaries for good), got {args.rounds}",
            file=sys.stderr,
        )
        return 2
    try:
        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        args.log_file.open("ab").close()
    except OSError as error:
        print(f"flashstock chaos: cannot write --log-file {args.log_file}: {error.strerror}", file=sys.stderr)
        return 2
    with (
        report_stream_with_logs_in(args.log_file) as out,
        tempfile.TemporaryDirectory(prefix="flashstock-chaos-") as tmp,
        _redis_for(args.redis, Path(tmp) / "redis") as server,
        simulated_cluster(args.nodes, args.log_level) as cluster,
    ):
        print(f"flashstock chaos: the nodes' and actors' logs go to {args.log_file}", file=out)
        config = StoreConfig(server.url, namespace=f"chaos{args.seed}", shard_count=args.shards)
        deployment = _deploy(config, server, cluster if args.nodes > 1 else None, args.skus)
        try:
            results = _chaos(deployment, args, out)
        finally:
            deployment.client.close()
    _print(results, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if results["violations"] else 0


def _redis_for(kind: str, data_dir: Path) -> RedisServer | LocalCluster:
    """The Redis of a run (``--redis``): one server, or 3 primaries with a replica each."""
    if kind == "cluster":
        return LocalCluster(data_dir, masters=CLUSTER_PRIMARIES, replicas=1)
    return RedisServer(data_dir)


def initial_stock(n: int) -> int:
    """Units of SKU number ``n``: 60 to 220, so the hot SKUs sell out during the run."""
    return 60 + 40 * (n % 5)


def _deploy(config: StoreConfig, server: RedisServer | LocalCluster, cluster: Any, skus: int) -> Deployment:
    client = StockClient.start(config)
    # alerts fire as soon as their condition holds, so there are open alerts to lose
    forecaster = start_forecaster(config, lifecycle=LifecycleSettings(pending_seconds=0))
    ingest = start_ingest(config, INBOX_CHANNELS)
    # the grant protocol for the platforms (all platform-first): its book is audited too
    sync = start_channel_sync(config, dict.fromkeys(INBOX_CHANNELS, 1.0), sorted(INBOX_CHANNELS))
    catalogue = [(SkuSettings(f"SKU-{n:03d}", critical_floor=2), initial_stock(n)) for n in range(skus)]
    probes = [
        next(
            f"PROBE-{k}"
            for k in itertools.count()
            if owner_of(f"PROBE-{k}", config.shard_count, config.partitions) == i
        )
        for i in range(config.shard_count)
    ]
    client.submit(
        [DefineSku(settings, units) for settings, units in catalogue]
        + [DefineSku(SkuSettings(sku), 10_000_000) for sku in probes]
    )
    return Deployment(config, server, cluster, client, ingest, forecaster, probes, sync)


class Load:
    """The generator: orders (and a cancel for one in ten) at ``rate`` per second into
    the inbox streams; an order counts as sent once Redis has acknowledged its entry
    (``enqueue``: on a cluster, once a replica has it too). A channel's part of a batch
    that failed while Redis was down or a primary was failing over is sent again: its
    outcome is unknown, and redelivery is safe."""

    def __init__(self, deployment: Deployment, rate: float, skus: int, seed: int) -> None:
        self.deployment = deployment
        self.rate = rate
        self.rng = random.Random(seed)
        self.skus = [f"SKU-{n:03d}" for n in range(skus)]
        self.weights = zipf_cum_weights(skus)
        self.sent: list[SentOrder] = []
        self.cancels = 0
        self.retries = 0
        #: why the load stopped before it was told to (None: it ran its course)
        self.failed: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)

    def _run(self) -> None:
        try:
            self._offer()
        except Exception as error:  # the run must not pass the audit on the orders sent so far
            self.failed = f"{type(error).__name__}: {error}"
            log.error("chaos_load_failed", error=self.failed)

    def _offer(self) -> None:
        keys = inbox_keys(self.deployment.config)
        later: deque[tuple[float, str, str]] = deque()
        n = 0
        started = time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - started) * self.rate) - n
            batch: list[tuple[str, str, SentOrder | None]] = []
            for _ in range(max(due, 0)):
                channel = self.rng.choice(CHANNELS)
                sku = self.rng.choices(self.skus, cum_weights=self.weights)[0]
                order = SentOrder(channel, f"c{n}", sku, 1 + (self.rng.random() < 0.2))
                batch.append(
                    (
                        channel,
                        order_message(format_of(channel), order.order_id, sku, order.quantity, time.time()),
                        order,
                    )
                )
                if self.rng.random() < 0.1:
                    later.append((time.monotonic() + 1.0, channel, order.order_id))
                n += 1
            while later and later[0][0] <= time.monotonic():
                _, channel, order_id = later.popleft()
                batch.append((channel, cancel_message(format_of(channel), order_id, "cancelled"), None))
                self.cancels += 1
            if batch:
                self._send(keys, batch)
            self.stop.wait(0.05)

    def _send(self, keys: dict[str, ChannelKeys], batch: list[tuple[str, str, SentOrder | None]]) -> None:
        for channel in sorted({channel for channel, _, _ in batch}):
            part = [(body, order) for c, body, order in batch if c == channel]  # in order: cancels last
            while True:
                try:
                    enqueue(self.deployment.redis, keys[channel], [body for body, _ in part])
                    break
                except REDIS_DOWN:
                    self.retries += 1
                    time.sleep(0.2)  # Redis is down: the platform keeps its messages and resends
            self.sent += [order for _, order in part if order is not None]


def _chaos(deployment: Deployment, args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    rng = random.Random(args.seed)
    seconds = args.minutes * 60.0
    kinds = [k for k in KINDS if args.nodes > 1 or k != "node"] * args.rounds
    plan = schedule(kinds, seconds, rng)
    placed = ray.get([owner.health.remote() for owner in deployment.client.owners])
    load = Load(deployment, args.rate, args.skus, args.seed)
    started = time.monotonic()
    load.thread.start()
    faults: list[FaultRecord] = []
    for at, kind in plan:
        delay = started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # waiting for the fault's moment in the run, not for the system
        print(f"  {time.monotonic() - started:6.1f}s  fault: {kind}", file=out, flush=True)
        faults.append(deployment.inject(kind, rng, round(time.monotonic() - started, 1)))
    remaining = started + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)  # the rest of the load's planned duration
    load.stop.set()
    load.thread.join()
    drained, published = _drain(deployment, load.sent)
    audit = _audit(deployment, load.sent, published)
    recoveries = [f.recovery_seconds for f in faults if f.recovery_seconds is not None]
    unrecovered = [f.kind for f in faults if f.recovery_seconds is None]
    return {
        "seed": args.seed,
        "minutes": args.minutes,
        "nodes": args.nodes,
        "shards": args.shards,
        "redis": args.redis,
        "rate": args.rate,
        "owner_nodes": {h["index"]: h["node"][:8] for h in placed},
        "orders_sent": audit.orders_sent,
        "cancels_sent": load.cancels,
        "send_retries_while_redis_was_down": load.retries,
        "drain_seconds": drained,
        "decisions_found": audit.decisions_found,
        "missing_decisions": len(audit.missing),
        "conflicting_decisions": len(audit.conflicting),
        "accepted_without_record": len(audit.records_missing),
        "duplicate_deductions": sum(abs(u) for u in audit.double_counted_units.values()),
        "oversold": sum(audit.oversold_units.values()),
        "on_hand_drift": sum(abs(u) for u in audit.on_hand_drift.values()),
        "grant_overcommitted": sum(audit.grant_overcommitted.values()),
        "alerts_lost": len(deployment.alerts_lost),
        "faults": [f._asdict() for f in faults],
        "recovery_seconds_p50": _round(quantile(recoveries, 0.5)),
        "recovery_seconds_max": _round(max(recoveries, default=None)),
        "unrecovered_faults": unrecovered,
        "examples": {
            "missing": audit.missing[:5],
            "conflicting": audit.conflicting[:5],
            "alerts_lost": deployment.alerts_lost[:5],
        },
        "load_failed": load.failed,
        "violations": violations(audit, len(deployment.alerts_lost), unrecovered, load.failed),
    }


def violations(audit: AuditResult, alerts_lost: int, unrecovered: list[str], load_failed: str | None) -> int:
    """The run's violations: the audit's, the alerts lost, the faults not recovered from,
    and one for a load that died or sent no order (the audit then checked nothing, or
    only the orders before the load died)."""
    unaudited = load_failed is not None or audit.orders_sent == 0
    return audit.violations + alerts_lost + len(unrecovered) + int(unaudited)


def _drain(deployment: Deployment, sent: list[SentOrder]) -> tuple[float | None, list[PublishedDecision]]:
    """Wait until every sent order has a published decision: the seconds it took (None
    past the deadline) and the published decisions."""
    started = time.monotonic()
    wanted = {(o.channel, o.order_id) for o in sent}
    while True:
        published = _published(deployment)
        if wanted <= {(p.channel, p.order_id) for p in published}:
            return round(time.monotonic() - started, 2), published
        if time.monotonic() - started > DRAIN_DEADLINE_SECONDS:
            return None, published
        time.sleep(1.0)  # polling the decision streams while the last entries are retried


def _published(deployment: Deployment) -> list[PublishedDecision]:
    return [
        PublishedDecision(d.channel, d.fields[1], d.fields[2] == "1")
        for d in published_orders(deployment.redis, inbox_keys(deployment.config))
    ]


def _audit(deployment: Deployment, sent: list[SentOrder], published: list[PublishedDecision]) -> AuditResult:
    """Read the system of record (Redis): every committed ledger and every retained line
    record (open reservations and line buckets), against what was sent."""
    ledgers = {sku: ledger for sku, (ledger, _) in read_skus(deployment.redis, deployment.config).items()}
    records = read_line_records(deployment.redis, deployment.config, time.time())
    expected = {
        sku: initial_stock(int(sku.removeprefix("SKU-"))) for sku in ledgers if sku.startswith("SKU-")
    }  # not the probes'
    catalogue = {sku: ledgers[sku] for sku in expected}
    result = audit_orders(sent, published, records, catalogue, expected)
    book = RedisGrantStore(deployment.config, deployment.redis).load_book()
    result.grant_overcommitted = audit_grants(book, records, ledgers)
    return result


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _print(results: dict[str, Any], out: TextIO) -> None:
    def say(text: str) -> None:
        print(text, file=out)

    def row(name: str, value: object, must: str = "") -> None:
        say(f"  {name:<36}{value!s:>12}  {must}")

    say(
        f"\nflashstock chaos: seed {results['seed']}, {results['minutes']} min at "
        f"{results['rate']:.0f} orders/s, {results['nodes']} nodes, {results['shards']} shards, "
        f"Redis {'Cluster' if results['redis'] == 'cluster' else 'server'}"
    )
    row("owners on distinct nodes", len(set(results["owner_nodes"].values())))
    row("orders sent", results["orders_sent"])
    row("decisions found", results["decisions_found"])
    for name, key in [
        ("missing decisions", "missing_decisions"),
        ("conflicting decisions", "conflicting_decisions"),
        ("accepted orders without a record", "accepted_without_record"),
        ("duplicate deductions (units)", "duplicate_deductions"),
        ("oversold (units)", "oversold"),
        ("on_hand drift (units)", "on_hand_drift"),
        ("granted beyond the pool (units)", "grant_overcommitted"),
        ("alerts lost across restarts", "alerts_lost"),
    ]:
        row(name, results[key], "(must be 0)")
    say(f"\n  {'fault':<12}{'target':<38}{'at':>8}{'recovery':>10}  detail")
    for f in results["faults"]:
        recovery = "NOT RECOVERED" if f["recovery_seconds"] is None else f"{f['recovery_seconds']:.2f}s"
        say(f"  {f['kind']:<12}{f['target']:<38}{f['at_seconds']:>7.1f}s{recovery:>10}  {f['detail']}")
    drained = (
        "not drained"
        if results["drain_seconds"] is None
        else f"drained in {_seconds(results['drain_seconds'])}"
    )
    say(
        f"\n  recovery p50 {_seconds(results['recovery_seconds_p50'])}, "
        f"max {_seconds(results['recovery_seconds_max'])}; {drained}"
    )
    if results["load_failed"]:
        say(f"  the load failed ({results['load_failed']}): the audit is incomplete")
    elif not results["orders_sent"]:
        say("  no order was sent: the audit checked nothing")
    verdict = "OK" if not results["violations"] else f"FAILED: {results['violations']} violation(s)"
    say(f"  {verdict}")
