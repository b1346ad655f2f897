"""``bench retention`` and ``bench cluster`` refuse an unusable option with exit 2 and
one line on stderr naming it, before Redis or Ray start."""

from __future__ import annotations

import pytest

from scripts.cli import main


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--retention-seconds", "nan"),
        ("--retention-seconds", "inf"),
        ("--seconds", "nan"),
        ("--seconds", "inf"),
        ("--sample", "nan"),
    ],
)
def test_bench_retention_refuses_a_number_that_is_not_finite(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "retention", option, value]) == 2

    captured = capsys.readouterr()
    assert option in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


@pytest.mark.parametrize(
    ("option", "value"),
    [("--kills", "-1"), ("--orders", "0"), ("--skus", "0"), ("--nodes", "0"), ("--recovery-skus", "0")],
)
def test_bench_cluster_refuses_a_count_it_cannot_run(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "cluster", option, value]) == 2

    err = capsys.readouterr().err
    assert option in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--recent-lines", "-1"), ("--bucket-seconds", "-1"), ("--rate", "0"), ("--skus", "0")],
)
def test_bench_retention_names_the_count_it_refuses(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "retention", option, value]) == 2

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"flashstock bench retention: {option} must be")
