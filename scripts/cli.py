"""``flashstock``: the command line. Each command is a small module under ``scripts``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from actors.infra.logging import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flashstock",
        description="Oversell-proof stock for live-stream commerce, on Ray and Redis.",
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="log level of flashstock's own processes (default WARNING)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    from scripts import demo, replay, serve
    from scripts.bench import cluster as bench_cluster
    from scripts.bench import compare as bench_compare
    from scripts.bench import core as bench_core
    from scripts.bench import forecaster as bench_forecaster
    from scripts.bench import http_api as bench_http
    from scripts.bench import ingest as bench_ingest
    from scripts.chaos import run as chaos
    from scripts.sim import command as simulate

    demo.add_parser(commands)
    replay.add_parser(commands)
    serve.add_parser(commands)
    simulate.add_parser(commands)
    chaos.add_parser(commands)
    bench = commands.add_parser(
        "bench",
        help="measure throughput and latency",
        description="Without a suite: flashstock side by side with the classic Redis Lua "
        "pattern and a row-lock database, on the same orders (options below); "
        "with a suite: that suite's measurements (see SUITE --help).",
    )
    bench_compare.add_options(bench)
    suites = bench.add_subparsers(dest="suite", metavar="[SUITE]", required=False)
    bench_cluster.add_parser(suites)
    bench_core.add_parser(suites)
    bench_ingest.add_parser(suites)
    bench_forecaster.add_parser(suites)
    bench_http.add_parser(suites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
