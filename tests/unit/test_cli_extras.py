"""A command whose extra is not installed says which one to install, in one line and
with exit status 2; ``flashstock --help`` and the service's commands need no extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import extras
from scripts.cli import main

ROOT = Path(__file__).parents[2]
#: every extra's packages but requests, which Ray itself imports
EXTRA_PACKAGES = ("matplotlib", "pandas", "tqdm", "psycopg")


def test_a_command_without_its_extra_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(extras, "installed", lambda module: module != "pandas")
    assert main(["replay", str(tmp_path / "sales.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pandas" in err
    assert "pip install -e '.[sim]'" in err


def test_commands_that_need_no_extra_are_never_refused() -> None:
    assert extras.missing_extra("serve") is None
    assert extras.missing_extra("demo") is None
    assert extras.missing_extra("chaos") is None


#: what each run gives: (its argv, exit status, stdout, stderr)
Run = tuple[list[str], int, str, str]


@pytest.fixture(scope="module")
def runs_without_extras() -> list[Run]:
    """``--help`` and the tools, run in one fresh interpreter in which no extra imports."""
    argvs = [
        ["--help"],
        ["simulate", "scenarios/steady-show.yaml"],
        ["replay", "sales.csv"],
        ["bench", "core"],
    ]
    program = (
        "import contextlib, io, json, sys\n"
        f"for name in {EXTRA_PACKAGES!r}:\n"
        "    sys.modules[name] = None  # as if not installed: importing it fails\n"
        "from scripts.cli import main\n"
        "runs = []\n"
        f"for argv in {argvs!r}:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(argv)\n"
        "        except SystemExit as exit:\n"
        "            code = exit.code\n"
        "    runs.append([argv, code, out.getvalue(), err.getvalue()])\n"
        "print(json.dumps(runs))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [
        (list(argv), int(code), str(out), str(err))
        for argv, code, out, err in json.loads(result.stdout.splitlines()[-1])
    ]


def test_the_cli_starts_without_any_extra(runs_without_extras: list[Run]) -> None:
    _, code, out, _ = runs_without_extras[0]
    assert code == 0
    assert "simulate" in out


@pytest.mark.parametrize(("index", "extra"), [(1, "sim"), (2, "sim"), (3, "bench")])
def test_without_extras_a_tool_exits_2_with_one_line_and_no_traceback(
    runs_without_extras: list[Run], index: int, extra: str
) -> None:
    argv, code, _, err = runs_without_extras[index]
    assert code == 2, argv
    assert err.count("\n") == 1, err
    assert f"pip install -e '.[{extra}]'" in err
