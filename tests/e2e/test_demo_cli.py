"""The main job as a new user runs it: ``flashstock demo`` in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_sells_only_the_stock_it_has_and_keeps_the_ledger(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RAY_ADDRESS")}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "demo", "--orders", "1500", "--buyers", "6"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "1500 orders decided" in out
    rows = re.findall(
        r"^(HOODIE-COLLAB|HOODIE-CLASSIC|SNACK-BOX)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(\w+)$",
        out,
        flags=re.MULTILINE,
    )
    assert len(rows) == 3
    for _, on_hand, reserved, sold, available, oversold in rows:
        assert int(reserved) + int(sold) <= int(on_hand)
        assert int(available) == int(on_hand) - int(reserved) - int(sold)
        assert oversold == "no"
    assert "200 redelivered orders answered with their first decision" in out
    assert (tmp_path / ".flashstock" / "redis" / "redis.log").exists()  # the embedded server's data
