"""``flashstock simulate`` refuses unusable scenarios and options before starting anything."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from scripts.cli import main

SCENARIOS = Path(__file__).parents[2] / "scenarios"


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("name: x\nduration_minutes: -1\n", ".yaml", "duration_minutes must be > 0"),
        ("{not json", ".json", "is not valid json"),
        ("name: [unclosed", ".yaml", "is not valid yaml"),
    ],
)
def test_a_bad_scenario_file_exits_2_naming_the_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    suffix: str,
    message: str,
) -> None:
    path = tmp_path / f"show{suffix}"
    path.write_text(text)
    assert main(["simulate", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_show_time_may_not_run_slower_than_the_clock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(SCENARIOS / "steady-show.yaml"), "--speed", "0.5"]) == 2
    assert "--speed must be 0" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--step-seconds", "0"], "--step-seconds must be > 0, got 0"),
        (["--shards", "0"], "--shards must be >= 1, got 0"),
    ],
)
def test_a_bad_option_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["simulate", str(SCENARIOS / "steady-show.yaml"), *options]) == 2
    assert _one_line(capsys.readouterr().err) == f"flashstock simulate: {message}"


def test_an_http_simulation_without_the_webhook_secrets_exits_2_naming_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for channel in ("DOUYIN", "TAOBAO", "KUAISHOU"):
        monkeypatch.delenv(f"FLASHSTOCK_WEBHOOK_SECRET_{channel}", raising=False)
    status = main(
        [
            "simulate",
            str(SCENARIOS / "steady-show.yaml"),
            "--target",
            f"http://127.0.0.1:{_closed_port()}",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 2
    line = _one_line(capsys.readouterr().err)
    assert "FLASHSTOCK_WEBHOOK_SECRET_DOUYIN" in line
    assert "FLASHSTOCK_WEBHOOK_SECRET_TAOBAO" in line
    assert not (tmp_path / "report.json").exists()


def test_an_unreachable_target_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for channel in ("DOUYIN", "TAOBAO", "KUAISHOU"):
        monkeypatch.setenv(f"FLASHSTOCK_WEBHOOK_SECRET_{channel}", "a-secret-of-the-service")
    port = _closed_port()
    status = main(
        [
            "simulate",
            str(SCENARIOS / "steady-show.yaml"),
            "--target",
            f"http://127.0.0.1:{port}",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 2
    assert _one_line(capsys.readouterr().err).startswith(
        f"flashstock simulate: no flashstock service at http://127.0.0.1:{port}"
    )
