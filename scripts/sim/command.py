"""``flashstock simulate SCENARIO``: rehearse a show against the real system.

The scenario's seeded buyers, platforms and operators (``scripts.sim.driver``) drive
the system in this process (``--target inproc``: embedded Redis or ``REDIS_URL``, a
local Ray or ``--address``) or a running service (``--target http://host:port``). A
progress bar (a line every 10 s when stderr is not a terminal) shows show time,
orders/s, accepted / rejected and open alerts; the run writes ``report.json``,
``report.png`` and ``report.html`` to ``--out`` and prints a summary. The exit status is
1 if anything was oversold (a load test that oversells must fail a pipeline) or a
message was dead-lettered, 2 with one line saying why if the scenario, an option or
the target is unusable (a missing webhook secret, no service at the address, a refused
token).
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
from scripts.sim.target import SimulationError, Target

#: the automatic step: at least this many steps in a show, of 1 to 10 show seconds (10 s
#: is the forecaster's bucket; a two-minute spike gets 1 s steps and is not one flat line)
STEPS_PER_SHOW = 120
MIN_STEP_SECONDS = 1.0
MAX_STEP_SECONDS = 10.0


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
        help="where report.json, report.png and report.html go (default: simulations/<name>)",
    )
    parser.add_argument("--shards", type=int, default=2, help="SKU owner actors (inproc)")
    parser.add_argument("--address", default=None, help="Ray cluster to join (inproc)")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=None,
        help="show seconds per step; alerts are evaluated at each step's end (default: "
        f"from the show's length, {MIN_STEP_SECONDS:g} to {MAX_STEP_SECONDS:g} s, about "
        f"{STEPS_PER_SHOW} steps or more)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="embedded Redis data (default: a temporary directory)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token for an http target (default: FLASHSTOCK_TOKEN)"
    )
    parser.add_argument(
        "--keep-skus",
        action="store_true",
        help="leave an http run's SKUs (named with the run's prefix, sim<run id>-) in the service's "
        "catalogue instead of deleting them at the end",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress (a bar on a terminal, else a line every 10 s)"
    )
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


def step_seconds_for(duration_minutes: float) -> float:
    """The step of a show ``duration_minutes`` long when none is given: a whole number of
    show seconds, ``MIN_STEP_SECONDS`` to ``MAX_STEP_SECONDS``, giving at least about
    ``STEPS_PER_SHOW`` steps."""
    wanted = duration_minutes * 60.0 / STEPS_PER_SHOW
    return float(min(MAX_STEP_SECONDS, max(MIN_STEP_SECONDS, int(wanted))))


def _refuse(message: str) -> int:
    """A setup problem: one line on stderr and exit status 2 (1 means oversold)."""
    print(f"flashstock simulate: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        return _refuse(str(error))
    if args.step_seconds is None:
        args.step_seconds = step_seconds_for(scenario.duration_minutes)
    elif args.step_seconds <= 0:
        return _refuse(f"--step-seconds must be > 0, got {args.step_seconds:g}")
    if args.shards < 1:
        return _refuse(f"--shards must be >= 1, got {args.shards}")
    speed = scenario.speed if args.speed is None else args.speed
    if speed != 0 and speed < 1:
        return _refuse(
            "--speed must be 0 (as fast as possible) or >= 1: show time may not run slower than the clock"
        )
    out = args.out or Path("simulations") / scenario.name
    try:
        report, _log = simulate(scenario, args, speed)
    except SimulationError as error:  # a target that cannot be used: secrets, address, token
        return _refuse(str(error))
    except ConnectionError as error:  # ray.init: no Ray cluster at --address / RAY_ADDRESS
        return _refuse(f"cannot join the Ray cluster at {args.address or 'RAY_ADDRESS'}: {error}")
    write_report(report, out)
    print(summary(report))
    catalogue = report.get("catalogue")
    if catalogue:
        print(f"  catalogue: {_catalogue_line(catalogue)}")
    print(f"  report: {out / 'report.json'}, chart: {out / 'report.png'}, timeline: {out / 'report.html'}")
    if report["oversold_total"] or report["dead_lettered"]:
        print(
            f"FAILED: {report['oversold_total']} oversold, {len(report['dead_lettered'])} dead-lettered",
            file=sys.stderr,
        )
        return 1
    return 0


def _catalogue_line(catalogue: dict[str, Any]) -> str:
    """What became of an http run's SKUs in the service's catalogue."""
    line = f"{len(catalogue['removed'])} simulation SKU(s) removed"
    if catalogue["kept"]:
        line += f", {len(catalogue['kept'])} kept under the prefix {catalogue['prefix']} ({catalogue['why']})"
    return line


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
            try:
                log = _run(scenario, target, speed, args, prefix="")
            finally:
                target.close()
    else:
        from scripts.sim.http_target import HttpTarget

        prefix = f"sim{run_id}-"
        http = HttpTarget(args.target, sorted(scenario.channels), token=args.token)
        catalogue: dict[str, Any] = {"prefix": prefix, "removed": [], "kept": [], "why": "--keep-skus"}
        try:
            log = _run(scenario, http, speed, args, prefix=prefix)
        finally:  # a run that failed half-way leaves no SKUs behind either
            catalogue["kept"] = sorted(http.skus)
            if not args.keep_skus:
                catalogue |= http.remove_skus()
            http.close()
        meta["catalogue"] = catalogue
    meta["shards"] = args.shards if args.target == "inproc" else None
    return build_report(scenario, log, meta), log


def _run(scenario: Scenario, target: Target, speed: float, args: argparse.Namespace, prefix: str) -> ShowLog:
    bar = progress_bar(
        total=round(scenario.duration_minutes, 2),
        desc=scenario.name,
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
