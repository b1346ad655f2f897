"""``flashstock chaos`` refuses unusable options with exit status 2 and one line, before
starting anything."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from actors.infra.settings import StoreConfig
from scripts.chaos.audit import AuditResult
from scripts.chaos.run import Load, violations
from scripts.cli import main


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--minutes", "0"], "--minutes, --rate, --skus, --shards and --nodes must be positive"),
        (["--nodes", "0"], "--minutes, --rate, --skus, --shards and --nodes must be positive"),
        (["--rounds", "0"], "--rounds must be >= 1, got 0"),
        (
            ["--redis", "cluster", "--rounds", "4"],
            "--redis cluster takes at most 3 --rounds (each kills one of its 3 primaries for good), got 4",
        ),
    ],
)
def test_a_bad_option_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["chaos", *options]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"flashstock chaos: {message}"]


def test_a_log_file_that_cannot_be_written_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main(["chaos", "--log-file", str(blocked / "chaos.log")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"flashstock chaos: cannot write --log-file {blocked / 'chaos.log'}")


@pytest.mark.parametrize(
    "options", [["--rate", "nan"], ["--rate", "inf"], ["--minutes", "nan"], ["--minutes", "inf"]]
)
def test_a_number_that_is_not_finite_exits_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: list[str]
) -> None:
    # nan passed "must be positive": the load thread died on int(nan) and the run, with no
    # order sent, reported OK
    def started(*_: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr("scripts.chaos.run.report_stream_with_logs_in", started)
    assert main(["chaos", "--log-file", str(tmp_path / "chaos.log"), *options]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"flashstock chaos: {options[0]} must be a finite number, got {options[1]}"


class _DeadRedis:
    """A client whose every call fails with an error the load does not expect."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"{name}: broken")


def test_a_load_that_dies_is_noted_and_counts_as_a_violation() -> None:
    deployment = SimpleNamespace(config=StoreConfig("redis://127.0.0.1:1", "ns", 1), redis=_DeadRedis())
    load = Load(deployment, rate=1e6, skus=3, seed=1)  # type: ignore[arg-type]  # only config and redis
    load.thread.start()
    load.thread.join(timeout=30)  # it ends on its own once the send fails

    assert not load.thread.is_alive()
    assert load.failed is not None
    assert "broken" in load.failed
    assert violations(AuditResult(orders_sent=5), 0, [], load.failed) == 1
    load.stop.set()


def test_a_run_that_sent_no_order_is_not_ok() -> None:
    assert violations(AuditResult(orders_sent=0), 0, [], None) == 1
    assert violations(AuditResult(orders_sent=5), 0, [], None) == 0
