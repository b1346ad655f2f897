"""``flashstock simulate`` refuses unusable scenarios and options before starting anything."""

from __future__ import annotations

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
