"""The command line parses options wherever a user puts them (parsing only: no command runs)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cli import build_parser, main, package_version, parse_arguments


def sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def every_parser() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    top = build_parser()
    yield "flashstock", top
    for name, command in sub_parsers(top).items():
        yield name, command
        for suite_name, suite in sub_parsers(command).items():
            yield f"{name} {suite_name}", suite


def suites() -> dict[str, argparse.ArgumentParser]:
    return sub_parsers(sub_parsers(build_parser())["bench"])


def bench_options() -> list[argparse.Action]:
    bench = sub_parsers(build_parser())["bench"]
    return [
        a for a in bench._actions if a.option_strings and a.dest not in ("help", "log_level", "log_format")
    ]


def sample_value(action: argparse.Action) -> list[str]:
    """Command-line words that give ``action`` a value other than its default."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [next(str(c) for c in action.choices if c != action.default)]
    return ["x.json" if action.type is Path else "7"]


def test_bench_options_before_the_suite_go_to_the_suite() -> None:
    args = parse_arguments(["bench", "--orders", "1000", "--json", "x", "core"])

    assert args.suite == "core"
    assert args.orders == 1000
    assert args.json == Path("x")
    assert args.single_orders == 20_000  # the suite's own defaults still apply


def test_suite_option_after_its_name_wins_over_one_before_it() -> None:
    args = parse_arguments(["bench", "--orders", "1000", "core", "--orders", "5"])

    assert args.orders == 5


@pytest.mark.parametrize("suite", sorted(suites()))
def test_each_bench_option_before_a_suite_is_applied_or_refused(
    suite: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suite_dests = {a.dest for a in suites()[suite]._actions}
    for action in bench_options():
        option = max(action.option_strings, key=len)
        words = sample_value(action)
        argv = ["bench", option, *words, suite]
        if action.dest in suite_dests:
            expected = getattr(parse_arguments(["bench", option, *words]), action.dest)
            assert getattr(parse_arguments(argv), action.dest) == expected, argv
        else:
            with pytest.raises(SystemExit) as exit_:
                parse_arguments(argv)
            assert exit_.value.code == 2
            error = capsys.readouterr().err.strip().splitlines()[-1]
            assert f"{option} belongs to the side-by-side comparison" in error
            assert f"the {suite} suite has no {option}" in error


def test_bench_option_the_suite_lacks_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_arguments(["bench", "--writers", "3", "core"])

    assert exit_.value.code == 2
    assert "--writers" in capsys.readouterr().err


def test_bench_cluster_takes_the_redis_kind_and_shard_counts() -> None:
    args = parse_arguments(["bench", "cluster", "--redis", "cluster", "--shard-counts", "1", "16"])

    assert (args.redis, args.shard_counts) == ("cluster", [1, 16])
    assert parse_arguments(["bench", "cluster"]).shard_counts == [1, 2, 4]


@pytest.mark.parametrize(
    ("count", "problem"),
    [("17", "within 1..16 (an owner holds whole partitions), got 17"), ("two", "whole number, got 'two'")],
)
def test_bench_cluster_refuses_a_shard_count_it_cannot_run(
    count: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_arguments(["bench", "cluster", "--shard-counts", "1", count])

    assert exit_.value.code == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["bench", "--orders", "0"], "argument --orders: must be at least 1, got 0"),
        (["bench", "--writers", "many"], "argument --writers: a whole number is needed, got 'many'"),
        (["bench", "partitioned", "--shards", "-1"], "argument --shards: must be at least 1, got -1"),
        (["bench", "partitioned", "--skus", "0"], "argument --skus: must be at least 1, got 0"),
    ],
)
def test_bench_comparisons_refuse_a_count_they_cannot_run(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_arguments(argv)

    assert exit_.value.code == 2
    assert problem in capsys.readouterr().err


def test_bench_without_a_suite_keeps_its_own_options() -> None:
    args = parse_arguments(["bench", "--orders", "1000", "--writers", "3"])

    assert args.suite is None
    assert (args.orders, args.writers) == (1000, 3)
    assert "_bench_options_given" not in vars(args)


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "INFO", "serve"],
        ["serve", "--log-level", "INFO"],
        ["bench", "--log-level", "INFO", "core"],
        ["bench", "core", "--log-level", "INFO"],
        ["--log-level", "INFO", "bench"],
    ],
)
def test_log_level_is_accepted_before_and_after_the_command(argv: list[str]) -> None:
    assert parse_arguments(argv).log_level == "info"


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-format", "json", "demo"],
        ["demo", "--log-format", "json"],
        ["bench", "core", "--log-format", "json"],
    ],
)
def test_log_format_is_accepted_before_and_after_the_command(argv: list[str]) -> None:
    assert parse_arguments(argv).log_format == "json"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--log-level", "loud", "demo"], "--log-level must be one of debug, info, warning, error, critical"),
        (["demo", "--log-format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_a_wrong_log_option_is_refused_with_its_name(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_arguments(argv)
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value"), [("FLASHSTOCK_LOG_LEVEL", "verbose"), ("FLASHSTOCK_LOG_FORMAT", "logfmt")]
)
def test_a_wrong_log_setting_in_the_environment_stops_before_anything_runs(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["up"]) == 2  # refused before up would ask for a cluster
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"flashstock: {variable} must be one of ")
    assert error.endswith(f"got {value!r}")
    assert "\n" not in error
    assert "--address" not in error


def test_log_level_before_the_command_survives_a_command_without_one() -> None:
    assert parse_arguments(["--log-level", "DEBUG", "demo"]).log_level == "debug"
    assert parse_arguments(["demo"]).log_level is None  # main then reads FLASHSTOCK_LOG_LEVEL


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"flashstock {package_version()}"
    assert package_version() != "unknown"


@pytest.mark.parametrize("name", [name for name, _ in every_parser()])
def test_help_shows_every_default(name: str) -> None:
    parser = dict(every_parser())[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        default = action.default
        if not action.option_strings or isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        assert action.help, f"{name} {action.option_strings[0]} has no help"
        shown = re.search(r"\(default:? [^)]*\)", " ".join(action.help.split()))
        if default is None or default is False or default == []:
            said = "(default: none)" if default is not False else "(default: off)"
            assert shown or f"{' '.join(action.help.split())} {said}" in text, (
                f"{name} {action.option_strings[0]}"
            )
        elif default is not argparse.SUPPRESS:
            assert shown or f"(default: {default})" in text, f"{name} {action.option_strings[0]}"


def test_bench_cluster_says_shard_counts_are_separated_by_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_arguments(["bench", "cluster", "--shard-counts", "1,2"])

    assert exit_.value.code == 2
    assert "whole number (give several separated by spaces), got '1,2'" in capsys.readouterr().err
