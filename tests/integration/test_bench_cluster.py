"""``flashstock bench cluster`` at a tiny size (slow: it starts a simulated cluster of its
own in another process; run with ``-m slow``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.slow
def test_the_cluster_bench_scales_owners_over_nodes_and_times_recovery(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "bench",
            "cluster",
            "--orders",
            "6000",
            "--skus",
            "50",
            "--recovery-skus",
            "500",
            "--kills",
            "2",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [(r["shards"], r["owner_nodes"]) for r in result["scaling"]] == [(1, 1), (2, 2), (4, 4)]
    assert all(r["decisions_per_s"] > 0 for r in result["scaling"])
    recovery = result["recovery"]
    assert recovery["kills"] == 2
    assert 0 < recovery["load_seconds_p50"] <= recovery["seconds_p50"] <= recovery["seconds_max"]
