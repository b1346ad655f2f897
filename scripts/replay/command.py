"""``flashstock replay SALES.csv``: when would each alert have fired last show?

Runs a recorded sales history through the same Forecaster and alert policy as the live
system, offline (no Ray, no Redis), in event time: the output is the same at any speed.
The CSV needs columns ``timestamp`` (epoch seconds or ISO-8601; naive times are China
time), ``sku``, ``quantity`` and optionally ``channel``. Starting stock and per-SKU
settings come from ``--catalog`` (JSON: ``{"SKU": {"on_hand": 500, "lead_time_minutes":
60, "safety_floor": 0, "critical_floor": 0, "substitutes": [], "name": ""}}``) or
``--stock SKU=UNITS``; a SKU with neither starts with exactly what it sold.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.channels.fields import CHINA_TIME
from policies.ledger import SkuSettings

if TYPE_CHECKING:
    import pandas as pd

STEP_SECONDS = 10.0


class Fired(NamedTuple):
    at: float
    kind: str
    sku: str
    level: str
    reason: str
    available: int


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("replay", help="replay a sales CSV through the alert policy")
    parser.add_argument("sales", type=Path, help="CSV with timestamp, sku, quantity[, channel]")
    parser.add_argument("--catalog", type=Path, default=None, help="JSON of SKU settings")
    parser.add_argument(
        "--stock",
        action="append",
        default=[],
        metavar="SKU=UNITS",
        help="starting stock of a SKU (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the alerts as JSON lines")
    parser.set_defaults(run=run)


def load_sales(path: Path) -> pd.DataFrame:
    """The sales, sorted by event time, with ``at`` in epoch seconds."""
    import pandas as pd  # the sim extra, checked by the CLI before a run: ``--help`` works without it

    frame = pd.read_csv(path)
    missing = {"timestamp", "sku", "quantity"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    stamps = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(stamps):
        at = stamps.astype(float)
    else:
        parsed = pd.to_datetime(stamps, errors="coerce", utc=False)
        if parsed.isna().any():
            row = int(parsed.isna().to_numpy().nonzero()[0][0])
            raise ValueError(f"{path}: row {row + 2}: timestamp {stamps.iloc[row]!r} is not a time")
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(CHINA_TIME)
        at = parsed.map(lambda t: t.timestamp())
    if not pd.api.types.is_integer_dtype(frame["quantity"]):
        raise ValueError(f"{path}: quantity must be whole numbers")
    result = pd.DataFrame(
        {
            "at": at,
            "sku": frame["sku"].astype(str),
            "quantity": frame["quantity"].astype(int),
            "channel": frame["channel"].astype(str) if "channel" in frame else "recorded",
        }
    )
    return result.sort_values("at", kind="stable").reset_index(drop=True)


def replay(
    sales: pd.DataFrame, stock: dict[str, int], settings: Sequence[SkuSettings]
) -> tuple[list[Fired], Forecaster]:
    """Feed the sales in 10-second event-time steps with a tick after each; stock goes
    down with every sale. Returns every notification and the forecaster at the end."""
    clock = [0.0]
    forecaster = Forecaster(clock=lambda: clock[0])
    forecaster.update_skus(settings)
    available = dict(stock)
    fired: list[Fired] = []
    if sales.empty:
        return fired, forecaster
    start = float(sales["at"].iloc[0])
    end = float(sales["at"].iloc[-1]) + 15 * 60  # let alerts resolve after the last sale
    rows = iter(_sales_in_order(sales))
    pending = next(rows, None)
    now = start
    while now <= end:
        now += STEP_SECONDS
        clock[0] = now
        batch: list[SaleEvent] = []
        while pending is not None and pending.at <= now:
            available[pending.sku] = available.get(pending.sku, 0) - pending.quantity
            batch.append(SaleEvent(pending.sku, pending.at, pending.quantity, pending.channel))
            pending = next(rows, None)
        snapshot = {sku: StockSnapshot(units, 0) for sku, units in available.items()}
        notes = forecaster.record(batch, snapshot) + forecaster.advance(now)
        for note in notes:
            fired.append(
                Fired(
                    now,
                    note.kind,
                    note.alert.sku,
                    note.alert.level,
                    note.alert.reason,
                    int(note.alert.evidence.get("available", 0)),
                )
            )
    return fired, forecaster


class _Sale(NamedTuple):
    at: float
    sku: str
    quantity: int
    channel: str


def _sales_in_order(sales: pd.DataFrame) -> list[_Sale]:
    """The rows of ``load_sales``' frame as typed values, in event time."""
    columns = (sales[name].tolist() for name in ("at", "sku", "quantity", "channel"))
    return [
        _Sale(float(at), str(sku), int(quantity), str(channel))
        for at, sku, quantity, channel in zip(*columns, strict=True)
    ]


def run(args: argparse.Namespace) -> int:
    try:
        sales = load_sales(args.sales)
        catalog = json.loads(args.catalog.read_text()) if args.catalog else {}
    except (OSError, ValueError) as error:
        print(f"flashstock replay: {error}", file=sys.stderr)
        return 2
    stock = {sku: int(spec.get("on_hand", 0)) for sku, spec in catalog.items()}
    for item in args.stock:
        sku, _, units = item.partition("=")
        if not units.isdigit():
            print(f"flashstock replay: --stock {item!r} is not SKU=UNITS", file=sys.stderr)
            return 2
        stock[sku] = int(units)
    for sku, sold in sales.groupby("sku")["quantity"].sum().items():
        stock.setdefault(str(sku), int(sold))
    settings = [SkuSettings(sku, **_settings_fields(spec)) for sku, spec in catalog.items()]
    fired, _ = replay(sales, stock, settings)
    start = float(sales["at"].iloc[0]) if not sales.empty else 0.0
    if args.json:
        for f in fired:
            print(json.dumps({**f._asdict(), "minute": round((f.at - start) / 60, 2)}, ensure_ascii=False))
        return 0
    print(
        f"{len(sales)} sales of {sales['sku'].nunique()} SKUs from "
        f"{_clock(start)}; {len(fired)} alert notifications"
    )
    print(f"{'time':<20}{'minute':>8}  {'kind':<10}{'level':<11}{'sku':<16}{'left':>6}  reason")
    for f in fired:
        print(
            f"{_clock(f.at):<20}{(f.at - start) / 60:>8.1f}  {f.kind:<10}{f.level:<11}"
            f"{f.sku:<16}{f.available:>6}  {f.reason}"
        )
    return 0


def _settings_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """A catalog entry's ``SkuSettings`` fields (JSON lists become tuples)."""
    return {k: tuple(v) if k == "substitutes" else v for k, v in spec.items() if k != "on_hand"}


def _clock(at: float) -> str:
    if math.isinf(at):
        return "-"
    return datetime.fromtimestamp(at, UTC).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
