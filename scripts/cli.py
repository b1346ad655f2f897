"""``flashstock``: the command line. Each command is a small module under ``scripts``
whose ``add_parser`` registers it; a command that needs an extra (``scripts.extras``)
says which one to install instead of failing on an import."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from actors.infra.logging import configure_logging
from scripts.extras import missing_extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flashstock",
        description="Oversell-proof stock for live-stream commerce, on Ray and Redis.",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="log level of flashstock's own processes (default: FLASHSTOCK_LOG_LEVEL, else WARNING)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    from scripts.bench.cluster import add_parser as add_bench_cluster
    from scripts.bench.compare import add_options as add_bench_comparison
    from scripts.bench.core import add_parser as add_bench_core
    from scripts.bench.forecaster import add_parser as add_bench_forecaster
    from scripts.bench.http_api import add_parser as add_bench_http
    from scripts.bench.ingest import add_parser as add_bench_ingest
    from scripts.bench.parse import add_parser as add_bench_parse
    from scripts.chaos.run import add_parser as add_chaos
    from scripts.demo import add_parser as add_demo
    from scripts.replay import add_parser as add_replay
    from scripts.serve import add_parser as add_serve
    from scripts.sim.command import add_parser as add_simulate

    add_demo(commands)
    add_replay(commands)
    add_serve(commands)
    add_simulate(commands)
    add_chaos(commands)
    bench = commands.add_parser(
        "bench",
        help="measure throughput and latency",
        description="Without a suite: flashstock side by side with the classic Redis Lua "
        "pattern and a row-lock database, on the same orders (options below); "
        "with a suite: that suite's measurements (see SUITE --help).",
    )
    add_bench_comparison(bench)
    suites = bench.add_subparsers(dest="suite", metavar="[SUITE]", required=False)
    add_bench_cluster(suites)
    add_bench_core(suites)
    add_bench_ingest(suites)
    add_bench_forecaster(suites)
    add_bench_http(suites)
    add_bench_parse(suites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.log_level = args.log_level or os.environ.get("FLASHSTOCK_LOG_LEVEL") or "WARNING"
    problem = missing_extra(args.command)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
