"""``flashstock``: the command line. Each command is a small module under ``scripts``
whose ``add_parser`` registers it; a command that needs an extra (``scripts.extras``)
says which one to install instead of failing on an import.

Options work wherever a user puts them: ``--log-level`` before or after the command,
and an option of ``bench`` given before a suite's name goes to the suite when the suite
has it (``flashstock bench --orders 1000 core``), else is refused with exit 2 and a line
saying where it belongs; argparse alone would let the suite's default win in silence.
Every ``--help`` shows the defaults."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from actors.infra.logging import FORMAT_ENV, FORMATS, LEVEL_ENV, LEVELS, configure_logging, setting_problem
from actors.infra.redis_server import RedisServerError
from actors.infra.settings import current_settings
from scripts.extras import missing_extra

LOG_LEVEL_HELP = (
    f"log level of flashstock's own processes: {', '.join(LEVELS)} "
    "(default: FLASHSTOCK_LOG_LEVEL, else warning)"
)
LOG_FORMAT_HELP = (
    "log lines as json or console columns "
    "(default: FLASHSTOCK_LOG_FORMAT, else json unless stderr is a terminal)"
)
#: the namespace attribute where ``bench`` notes the options given before a suite's name
_GIVEN = "_bench_options_given"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Ends each option's help with its default: ``(default: ...)``, ``(default: none)``
    for an option that is absent unless given, ``(default: off)`` for a flag; unless the
    help already speaks of its default (``--help`` and ``--version`` have none)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or default is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            return action.help
        if default is None or default == []:
            return f"{text} (default: none)"
        if default is False:
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def _note_given(namespace: argparse.Namespace, dest: str) -> None:
    setattr(namespace, _GIVEN, (*getattr(namespace, _GIVEN, ()), dest))


class _NotesGiven(argparse.Action):
    """An action that also notes its option was given (for ``_Suites``); mixed in before
    argparse's own store actions."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        super().__call__(parser, namespace, values, option_string)
        _note_given(namespace, self.dest)


class _GivenStore(_NotesGiven, argparse._StoreAction):
    """``store`` that notes the option was given."""


class _GivenStoreTrue(_NotesGiven, argparse._StoreTrueAction):
    """``store_true`` that notes the option was given."""


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # generic only in typeshed
    _SubParsers = argparse._SubParsersAction


class _Suites(_SubParsers):
    """``bench``'s suites: the ``bench`` options given before the suite's name are the
    suite's starting values (its own options after the name still win), or an error
    when the suite has no such option."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given: tuple[str, ...] = getattr(namespace, _GIVEN, ())
        if hasattr(namespace, _GIVEN):
            delattr(namespace, _GIVEN)
        assert values is not None
        assert not isinstance(values, str)
        name, rest = values[0], list(values[1:])
        suite = self.choices.get(name)
        if suite is None or not given:
            super().__call__(parser, namespace, values, option_string)
            return
        suite_dests = {action.dest for action in suite._actions}
        for dest in given:
            if dest not in suite_dests:
                option = _option_named(parser, dest)
                suite.error(
                    f"{option} belongs to the side-by-side comparison (flashstock bench {option} ... "
                    f"without a suite); the {name} suite has no {option}"
                )
        if self.dest is not argparse.SUPPRESS:
            setattr(namespace, self.dest, name)
        start = argparse.Namespace(**{dest: getattr(namespace, dest) for dest in given})
        parsed, extras = suite.parse_known_args(rest, start)
        if extras:
            suite.error(f"unrecognized arguments: {' '.join(extras)}")
        for key, value in vars(parsed).items():
            setattr(namespace, key, value)


def _option_named(parser: argparse.ArgumentParser, dest: str) -> str:
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            return max(action.option_strings, key=len)
    return dest


def package_version() -> str:
    try:
        return metadata.version("flashstock")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flashstock",
        description="Oversell-proof stock for live-stream commerce, on Ray and Redis.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--log-level", default=None, type=_level, help=LOG_LEVEL_HELP)
    parser.add_argument("--log-format", default=None, type=str.lower, choices=FORMATS, help=LOG_FORMAT_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    from scripts.bench.cluster import add_parser as add_bench_cluster
    from scripts.bench.compare import add_options as add_bench_comparison
    from scripts.bench.core import add_parser as add_bench_core
    from scripts.bench.decide import add_parser as add_bench_decide
    from scripts.bench.forecaster import add_parser as add_bench_forecaster
    from scripts.bench.http_api import add_parser as add_bench_http
    from scripts.bench.ingest import add_parser as add_bench_ingest
    from scripts.bench.parse import add_parser as add_bench_parse
    from scripts.bench.partitioned import add_parser as add_bench_partitioned
    from scripts.bench.restart import add_parser as add_bench_restart
    from scripts.bench.retention import add_parser as add_bench_retention
    from scripts.chaos.run import add_parser as add_chaos
    from scripts.demo import add_parser as add_demo
    from scripts.deploy import add_parser as add_deploy
    from scripts.migrate import add_parser as add_migrate
    from scripts.replay import add_parser as add_replay
    from scripts.serve import add_parser as add_serve
    from scripts.sim.command import add_parser as add_simulate

    add_demo(commands)
    add_replay(commands)
    add_serve(commands)
    add_simulate(commands)
    add_chaos(commands)
    add_deploy(commands)
    add_migrate(commands)
    bench = commands.add_parser(
        "bench",
        help="measure throughput and latency",
        description="Without a suite: flashstock side by side with the classic Redis Lua "
        "pattern and a row-lock database, on the same orders (options below); "
        "with a suite: that suite's measurements (see SUITE --help). An option given "
        "before SUITE goes to the suite when it has one of that name.",
    )
    bench.register("action", None, _GivenStore)
    bench.register("action", "store", _GivenStore)
    bench.register("action", "store_true", _GivenStoreTrue)
    add_bench_comparison(bench)
    suites = bench.add_subparsers(dest="suite", metavar="[SUITE]", required=False, action=_Suites)
    add_bench_cluster(suites)
    add_bench_core(suites)
    add_bench_decide(suites)
    add_bench_ingest(suites)
    add_bench_forecaster(suites)
    add_bench_http(suites)
    add_bench_parse(suites)
    add_bench_partitioned(suites)
    add_bench_restart(suites)
    add_bench_retention(suites)
    parser.formatter_class = DefaultsHelpFormatter
    _finish(commands.choices.values())
    _finish(suites.choices.values())
    return parser


def _finish(parsers: Iterable[argparse.ArgumentParser]) -> None:
    """Defaults in every help, and ``--log-level`` after the command as well as before
    it (SUPPRESS: absent unless given, so it does not undo one given before)."""
    for sub in parsers:
        sub.formatter_class = DefaultsHelpFormatter
        sub.add_argument("--log-level", default=argparse.SUPPRESS, type=_level, help=LOG_LEVEL_HELP)
        sub.add_argument(
            "--log-format", default=argparse.SUPPRESS, type=str.lower, choices=FORMATS, help=LOG_FORMAT_HELP
        )


def _level(value: str) -> str:
    problem = setting_problem("--log-level", value, LEVELS)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value.lower()


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line as the commands see it (``SystemExit(2)`` on a wrong one)."""
    args = build_parser().parse_args(argv)
    vars(args).pop(_GIVEN, None)  # bench's notes, when no suite took them
    return args


def setting_errors(error: ValidationError) -> str:
    """A settings error on one line, each problem named by its environment variable (a
    problem of several settings together names them in its message)."""
    problems = []
    for e in error.errors():
        if not e["loc"]:
            problems.append(str(e["msg"]).removeprefix("Value error, "))
            continue
        name = str(e["loc"][0])
        problems.append(f"{name if name.isupper() else 'FLASHSTOCK_' + name.upper()}: {e['msg']}")
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = current_settings()  # before the parser: it takes defaults from them
    except ValidationError as error:
        print(f"flashstock: {setting_errors(error)}", file=sys.stderr)
        return 2
    args = parse_arguments(argv)
    for option, name, value, allowed in (
        (args.log_level, LEVEL_ENV, settings.log_level, LEVELS),
        (args.log_format, FORMAT_ENV, settings.log_format, FORMATS),
    ):
        problem = None if option else setting_problem(name, value or allowed[0], allowed)
        if problem:
            print(f"flashstock: {problem}", file=sys.stderr)
            return 2
    args.log_level = args.log_level or (settings.log_level or "").lower() or "warning"
    if args.log_format:  # this process, and the Ray workers and replicas it starts
        os.environ[FORMAT_ENV] = args.log_format
    problem = missing_extra(args.command)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    try:
        result: int = args.run(args)
    except RedisServerError as error:  # no Redis to run on, or one that would lose decisions
        print(f"flashstock {args.command}: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
