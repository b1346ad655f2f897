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
from scripts.catalog import load_catalog
from scripts.cli import main
from scripts.replay.command import load_sales, sales_of
from scripts.replay.engine import Outcome, run_replay, with_show_end

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


def replayed(path: Path) -> Outcome:
    return run_replay(
        sales_of(load_sales(path)), {"HOODIE": 500}, [SkuSettings("HOODIE", lead_time_minutes=60)]
    )


def test_replay_reports_the_trend_soon_after_the_acceleration(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    recorded_show().to_csv(path, index=False)
    outcome = replayed(path)
    levels = [(e.level, (e.at - T0) / 60) for e in outcome.events if e.kind in ("firing", "escalated")]
    trend = next(minute for level, minute in levels if level == Level.TREND and minute >= 120)
    assert 120 <= trend <= 124
    order = [level for level, minute in levels if minute >= 120]
    assert order.index(Level.TREND) < order.index(Level.THRESHOLD) < order.index(Level.EMERGENCY)
    assert replayed(path).events == outcome.events


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


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_replay_reads_the_serve_catalogue_and_prints_a_per_sku_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = tmp_path / "sales.csv"
    recorded_show().to_csv(sales, index=False)
    catalog = write(
        tmp_path, "catalog.yaml", "skus:\n  - {sku: HOODIE, on_hand: 500, lead_time_minutes: 60}\n"
    )

    assert main(["replay", str(sales), "--catalog", str(catalog)]) == 0

    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("HOODIE "))
    assert len(row.split()) == 8  # sku, first TREND/THRESHOLD/EMERGENCY, sold out, lead, notes, flaps
    assert "timestamps without a zone are China time" in out
    assert "start with exactly what they sold" not in out


def test_the_catalogue_gives_each_sku_its_on_sale_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog.yaml",
        "skus:\n  - {sku: A, on_sale_since: 2025-11-11T20:00:00+08:00, on_sale_until: 1762884000}\n"
        "  - {sku: B}\n",
    )

    (a, _), (b, _) = load_catalog(path)

    assert (a.on_sale_since, a.on_sale_until) == (T0, T0 + 6 * 3600)
    assert (b.on_sale_since, b.on_sale_until) == (None, None)  # the owner stamps B's definition


def test_the_replays_show_end_goes_to_the_skus_without_their_own() -> None:
    own = SkuSettings("A", on_sale_until=T0 + 60)

    settings = with_show_end([own], {"A", "B"}, T0 + 3600)

    assert [(s.sku, s.on_sale_until) for s in settings] == [("A", T0 + 60), ("B", T0 + 3600)]


def test_compare_runs_two_settings_on_the_same_sales(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = tmp_path / "sales.csv"
    recorded_show().to_csv(sales, index=False)

    code = main(["replay", str(sales), "--stock", "HOODIE=500", "--compare", "emergency-window-minutes=5"])

    out = capsys.readouterr().out
    assert code == 0
    assert "b: with emergency-window-minutes=5" in out
    row = next(line for line in out.splitlines() if line.startswith("HOODIE "))
    a, b = row.split("|")
    emergency_a, emergency_b = float(a.split()[3]), float(b.split()[2])
    assert emergency_b > emergency_a  # a 5-minute window raises EMERGENCY later


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("skus:\n  - {sku: A, on_hnad: 5}\n", "on_hnad: Extra inputs are not permitted"),
        ("skus:\n  - {sku: A, on_hand: many}\n", "on_hand: Input should be a valid integer"),
        ("skus:\n  - {sku: A, on_hand: -3}\n", "on_hand: Input should be greater than or equal to 0"),
        ("skus:\n  - {sku: A, lead_time_minutes: 0}\n", "lead_time_minutes: Input should be greater than 0"),
        ("skus: [\n", "not valid YAML"),
        (
            "skus:\n  - {sku: A, on_sale_until: 2026-11-12T02:00:00}\n",
            "on_sale_until: Input should have timezone",
        ),
        (
            "skus:\n  - {sku: A, on_sale_since: 1762862400, on_sale_until: 1762862400}\n",
            "on_sale_until (2025-11-11T12:00:00+00:00) must be after on_sale_since",
        ),
    ],
)
def test_a_bad_catalogue_is_refused_with_exit_2_and_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catalog: str, message: str
) -> None:
    sales = write(tmp_path, "sales.csv", "timestamp,sku,quantity\n1762862400,A,1\n")
    path = write(tmp_path, "catalog.yaml", catalog)

    assert main(["replay", str(sales), "--catalog", str(path)]) == 2

    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_zero_quantities_are_refused_and_sales_beyond_stock_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zero = write(tmp_path, "zero.csv", "timestamp,sku,quantity\n1762862400,A,0\n")
    with pytest.raises(ValueError, match="row 2: quantity 0 is not a sale"):
        load_sales(zero)
    beyond = write(tmp_path, "beyond.csv", "timestamp,sku,quantity\n1762862400,A,3\n1762862460,A,4\n")

    assert main(["replay", str(beyond), "--stock", "A=5"]) == 0

    assert "A: 2 units sold beyond the stock were not counted" in capsys.readouterr().err


def test_the_assumed_defaults_are_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sales = write(tmp_path, "sales.csv", "timestamp,sku,quantity\n2025-11-11 20:00:00,A,2\n")

    assert main(["replay", str(sales)]) == 0

    out = capsys.readouterr().out
    assert "A start with exactly what they sold" in out
    assert "A have the default 720 min lead time" in out


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--confidence", "1.5"], "confidence must be between 0 and 1"),
        (["--surge-threshold", "-2"], "surge_threshold must be >= 0"),
        (["--compare", "rate-window-minutes=0"], "rate_window_minutes must be > 0"),
        (["--compare", "no-such-knob=3"], "'no-such-knob=3' is not KEY=VALUE with a known key"),
    ],
)
def test_a_nonsense_setting_is_refused_with_exit_2_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    sales = write(tmp_path, "sales.csv", "timestamp,sku,quantity\n1762862400,A,1\n")

    assert main(["replay", str(sales), *option]) == 2

    assert message in capsys.readouterr().err
