"""``flashstock bench cluster`` at a tiny size, in another process (it starts a simulated
Ray cluster of its own): on one redis-server with the recovery part (slow: run with
``-m slow``), and on a local Redis Cluster it starts (``--redis cluster``), throughput and
CPU per order only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies.routing import DEFAULT_PARTITIONS

ROOT = Path(__file__).parents[2]


def bench_cluster(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", "bench", "cluster", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_the_cluster_bench_scales_owners_over_nodes_and_times_recovery(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    done = bench_cluster(
        "--orders", "6000", "--skus", "50", "--recovery-skus", "500", "--kills", "2", "--json", str(out)
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [(r["shards"], r["owner_nodes"]) for r in result["scaling"]] == [(1, 1), (2, 2), (4, 4)]
    assert all(r["decisions_per_s"] > 0 for r in result["scaling"])
    assert all(len(r["primaries"]) == 1 and r["primaries"][0]["orders"] == 6000 for r in result["scaling"])
    recovery = result["recovery"]
    assert recovery["kills"] == 2
    assert 0 < recovery["load_seconds_p50"] <= recovery["seconds_p50"] <= recovery["seconds_max"]


@pytest.mark.cluster
def test_the_cluster_bench_on_a_redis_cluster_reports_cpu_per_order_and_per_primary(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    done = bench_cluster(
        "--redis", "cluster", "--nodes", "1", "--orders", "3000", "--skus", "20",
        "--shard-counts", "1", "2", "--kills", "0", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ceiling orders/s" in done.stdout  # the per-primary table is printed
    result = json.loads(out.read_text())
    assert (result["redis"], result["recovery"]) == ("cluster", None)
    assert [r["shards"] for r in result["scaling"]] == [1, 2]
    for row in result["scaling"]:
        # every order decided and accepted (each SKU holds enough), none oversold, and the
        # owners' committed ledgers hold exactly the accepted reservations
        assert row["decided"] == row["accepted"] == row["reserved_in_ledgers"] == 3000
        assert row["oversold_units"] == 0
        cpu = row["cpu_us_per_order"]
        assert all(
            cpu[part] > 0 for part in ("machine", "owners", "driver", "redis_primaries", "redis_replicas")
        )
        primaries = row["primaries"]
        assert len(primaries) == 3
        assert sum(p["partitions"] for p in primaries) == DEFAULT_PARTITIONS  # each on one primary
        assert sum(p["orders"] for p in primaries) == 3000
        for primary in (p for p in primaries if p["orders"]):
            assert primary["redis_cpu_us_per_order"] > 0
            assert primary["replicas_cpu_us_per_order"] > 0
            implied = primary["ceiling_orders_per_s"] * primary["redis_cpu_us_per_order"] / 1e6
            assert implied == pytest.approx(1.0, rel=0.01)  # one core's orders/s at that CPU per order
