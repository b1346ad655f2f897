"""``flashstock simulate SCENARIO``: rehearse a show against the real system.

The scenario's seeded buyers, platforms and operators (``scripts.sim.driver``) drive
the system in this process (``--target inproc``: embedded Redis or ``REDIS_URL``, a
local Ray or ``--address``) or a running service (``--target http://host:port``). A
progress bar shows show time, orders/s, accepted / rejected and open alerts; the run
writes ``report.json`` and ``report.png`` to ``--out`` and prints a summary. The exit
status is 1 if anything was oversold (a load test that oversells must fail a pipeline)
or a message was dead-lettered, 2 if the scenario or the options are unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from actors.infra.runtime import ray_for, redis_for
from actors.infra.settings import StoreConfig
from scripts.loadgen.progress import progress_bar
from scripts.sim.driver import ShowLog, ShowRun
from scripts.sim.report import build_report, summary, write_report
from scripts.sim.scenario import Scenario, ScenarioError, parse_scenario
from scripts.sim.target import Target


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("simulate", help="run a flash-sale scenario against the system")
    parser.add_argument("scenario", type=Path, help="scenario file (YAML or JSON)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="show minutes per wall minute (default: the scenario's, else 60; "
        "0 = as fast as the system answers)",
    )
    parser.add_argument(
        "--target",
        default="inproc",
        help="inproc (start the system here) or http://host:port of a running service",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where report.json and report.png go (default: simulations/<name>)",
    )
    parser.add_argument("--shards", type=int, default=2, help="SKU owner actors (inproc)")
    parser.add_argument("--address", default=None, help="Ray cluster to join (inproc)")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=10.0,
        help="show seconds per step; alerts are evaluated at each step's end",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="embedded Redis data (default: a temporary directory)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token for an http target (default: FLASHSTOCK_TOKEN)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def load_scenario(path: Path) -> Scenario:
    """The scenario in ``path`` (YAML or JSON), or ``ScenarioError`` naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"cannot read {path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ScenarioError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {error}") from None
    return parse_scenario(data)


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"flashstock simulate: {error}", file=sys.stderr)
        return 2
    speed = scenario.speed if args.speed is None else args.speed
    if speed != 0 and speed < 1:
        print(
            "flashstock simulate: --speed must be 0 (as fast as possible) or >= 1: show "
            "time may not run slower than the clock",
            file=sys.stderr,
        )
        return 2
    out = args.out or Path("simulations") / scenario.name
    report, log = simulate(scenario, args, speed)
    write_report(report, log, out)
    print(summary(report))
    print(f"  report: {out / 'report.json'}, chart: {out / 'report.png'}")
    if report["oversold_total"] or report["dead_lettered"]:
        print(
            f"FAILED: {report['oversold_total']} oversold, {len(report['dead_lettered'])} dead-lettered",
            file=sys.stderr,
        )
        return 1
    return 0


def simulate(scenario: Scenario, args: argparse.Namespace, speed: float) -> tuple[dict[str, Any], ShowLog]:
    """Run the show on the chosen target; the report and the raw log."""
    run_id = uuid.uuid4().hex[:8]
    meta = {
        "target": args.target,
        "speed": speed,
        "step_seconds": args.step_seconds,
        "run_id": run_id,
        "started_wall": time.time(),
    }
    if args.target == "inproc":
        with (
            tempfile.TemporaryDirectory(prefix="flashstock-sim-") as tmp,
            redis_for(args.data_dir or Path(tmp)) as redis_url,
            ray_for(args.address, log_level=args.log_level),
        ):
            from scripts.sim.inproc_target import InProcessTarget

            config = StoreConfig(redis_url, namespace=f"sim-{run_id}", shard_count=args.shards)
            target: Target = InProcessTarget(config, sorted(scenario.channels))
            log = _run(scenario, target, speed, args, prefix="")
    else:
        from scripts.sim.http_target import HttpTarget

        target = HttpTarget(args.target, sorted(scenario.channels), token=args.token)
        log = _run(scenario, target, speed, args, prefix=f"sim{run_id}-")
    meta["shards"] = args.shards if args.target == "inproc" else None
    return build_report(scenario, log, meta), log


def _run(scenario: Scenario, target: Target, speed: float, args: argparse.Namespace, prefix: str) -> ShowLog:
    bar = progress_bar(
        total=round(scenario.duration_minutes, 2),
        unit="show-min",
        disable=args.quiet,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} show-min [{elapsed}<{remaining}] {postfix}",
    )
    started = time.monotonic()

    def on_step(minute: float, log: ShowLog, open_alerts: int) -> None:
        taken = sum(log.taken.values())
        bar.update(minute - bar.n)
        bar.set_postfix_str(
            f"show {int(minute // 60):02d}:{int(minute % 60):02d} "
            f"{taken / max(time.monotonic() - started, 1e-9):,.0f} orders/s "
            f"accepted {sum(log.accepted.values())} rejected "
            f"{sum(log.rejected.values())} away {sum(log.turned_away.values())} "
            f"alerts {open_alerts}",
            refresh=False,
        )

    try:
        return ShowRun(
            scenario, target, speed=speed, step_seconds=args.step_seconds, prefix=prefix, on_step=on_step
        ).run()
    finally:
        bar.close()
        target.close()
