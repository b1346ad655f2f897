"""``flashstock chaos``, short: on a simulated 3-node Ray cluster with its own Redis, an
owner, an ingest actor, the forecaster, the channel sync (grants), a node and the Redis
server die under load, and every promise still holds. It runs in its own process: it
needs a Ray of its own."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_promise_holds_while_owners_ingest_forecaster_sync_a_node_and_redis_die(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "chaos",
            "--minutes",
            "0.5",
            "--seed",
            "5",
            "--rate",
            "150",
            "--json",
            str(out),
            "--log-file",
            str(tmp_path / "ray.log"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "ray.log").exists()
    assert "raylet" not in done.stdout  # the killed node's dump went to the log file
    assert not re.search(r"\d\.\d{3,}", done.stdout), done.stdout  # figures rounded
    assert "recovery p50" in done.stdout
    result = json.loads(out.read_text())
    assert result["orders_sent"] > 1000
    assert result["decisions_found"] == result["orders_sent"]
    for check in (
        "missing_decisions",
        "conflicting_decisions",
        "accepted_without_record",
        "duplicate_deductions",
        "oversold",
        "on_hand_drift",
        "alerts_lost",
        "grant_overcommitted",
    ):
        assert result[check] == 0, check
    assert sorted(f["kind"] for f in result["faults"]) == [
        "forecaster",
        "ingest",
        "node",
        "owner",
        "redis",
        "sync",
    ]
    assert all(f["recovery_seconds"] is not None for f in result["faults"])
    assert len(set(result["owner_nodes"].values())) == 3  # one owner per node
    node = next(f for f in result["faults"] if f["kind"] == "node")
    assert "moved from" in node["detail"]
