"""``flashstock bench retention`` at a tiny size: on a real redis-server the line buckets
of a short retention window expire as fast as new ones fill, so the live buckets and the
lines they retain level off while the paid lines keep growing."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.cli import main


def test_the_retention_bench_shows_the_buckets_and_retained_lines_level_off(tmp_path: Path) -> None:
    out = tmp_path / "retention.json"
    bucket, retention = 1, 3
    argv = ["bench", "retention", "--seconds", "12", "--bucket-seconds", str(bucket)]
    argv += ["--retention-seconds", str(retention), "--rate", "200", "--sample", "1", "--skus", "20"]
    assert main([*argv, "--json", str(out)]) == 0

    result = json.loads(out.read_text())
    samples = result["samples"]
    plateau = [s for s in samples if s["t_s"] >= result["plateau_from_s"]]
    assert len(plateau) > 3, samples
    # a bucket lives from its first line to retention after its end: never more bucket
    # numbers than the window holds, in any sample (SCAN does not return expired keys)
    assert max(len(s["bucket_numbers"]) for s in samples) <= retention // bucket + 2
    # the lines paid keep growing; those retained do not: older ones expired with their bucket
    last = samples[-1]
    assert last["lines_paid"] > 2 * max(s["retained_lines"] for s in plateau) > 0
    assert result["bytes_per_retained_line"] is not None
    assert result["used_memory_growth_pct"] is not None
