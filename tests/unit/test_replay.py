"""``flashstock replay``: a recorded show through the alert policy, offline and
deterministic in event time."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_rules import Level
from policies.ledger import SkuSettings
from scripts.replay import load_sales, replay

T0 = 1_762_862_400.0


def recorded_show(seed: int = 7) -> pd.DataFrame:
    """Two steady hours at 1.2 sales/min, then 8/min: the reference case's shape."""
    rng = random.Random(seed)
    rows, at = [], T0
    while at < T0 + 200 * 60:
        rate = 1.2 if at < T0 + 120 * 60 else 8.0
        at += rng.expovariate(rate / 60)
        rows.append(
            {"timestamp": at, "sku": "HOODIE", "quantity": 1, "channel": rng.choice(["douyin", "taobao"])}
        )
    return pd.DataFrame(rows)


def reading(wall: list[float]) -> Callable[[], float]:
    """A clock that reads ``wall[0]``."""
    return lambda: wall[0]


def test_replay_reports_the_trend_soon_after_the_acceleration(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    recorded_show().to_csv(path, index=False)
    sales = load_sales(path)
    fired, _ = replay(sales, {"HOODIE": 500}, [SkuSettings("HOODIE", lead_time_minutes=60)])
    trend = next(f for f in fired if f.level == Level.TREND and f.kind == "firing")
    assert 120 <= (trend.at - T0) / 60 <= 124
    levels = [f.level for f in fired if f.kind in ("firing", "escalated")]
    assert levels.index(Level.TREND) < levels.index(Level.THRESHOLD) < levels.index(Level.EMERGENCY)
    again, _ = replay(load_sales(path), {"HOODIE": 500}, [SkuSettings("HOODIE", lead_time_minutes=60)])
    assert again == fired


def test_the_same_events_give_the_same_alerts_at_1x_and_1000x(tmp_path: Path) -> None:
    show = recorded_show()
    at: list[float] = show["timestamp"].tolist()
    channel: list[str] = show["channel"].tolist()
    events = [SaleEvent("HOODIE", a, 1, c) for a, c in zip(at, channel, strict=True)]
    outcomes = []
    for speed in (1.0, 1000.0):
        wall = [0.0]
        forecaster = Forecaster(clock=reading(wall))
        forecaster.update_skus([SkuSettings("HOODIE", lead_time_minutes=60)])
        left, seen = 500, []
        step = T0
        pending = list(events)
        while pending:
            step += 10
            batch = [e for e in pending if e.at <= step]
            pending = pending[len(batch) :]
            left -= len(batch)
            wall[0] = T0 + (step - T0) / speed  # the wall clock runs 1x or 1000x
            notes = forecaster.record(batch, {"HOODIE": StockSnapshot(left, 0)})
            notes += forecaster.advance(step)
            seen += [(n.kind, n.alert.level, n.alert.updated_at, n.alert.reason) for n in notes]
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert any(level == Level.TREND for _, level, _, _ in outcomes[0])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sku,quantity\nA,1\n", "missing column(s) timestamp"),
        ("timestamp,sku,quantity\nnot-a-time,A,1\n", "row 2: timestamp"),
        ("timestamp,sku,quantity\n1762862400,A,1.5\n", "quantity must be whole numbers"),
    ],
)
def test_bad_sales_files_are_refused_with_the_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_sales(path)


def test_iso_timestamps_without_zone_are_china_time(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("timestamp,sku,quantity\n2025-11-11 20:00:00,A,2\n")
    sales = load_sales(path)
    assert sales["at"].iloc[0] == T0
