"""``flashstock replay SALES.csv``: when would each alert have fired last show?

Runs a recorded sales history through the same Forecaster and alert policy as the live
system (``scripts/replay/engine.py``), offline (no Ray, no Redis), in event time: the
output is the same at any speed. The CSV needs columns ``timestamp`` (epoch seconds or
ISO-8601; naive times are China time), ``sku``, ``quantity`` (whole units >= 1) and
optionally ``channel``. Starting stock and per-SKU settings come from ``--catalog`` (the
same YAML or JSON file ``flashstock serve`` reads, ``scripts/catalog.py``) or ``--stock
SKU=UNITS``; a SKU with neither starts with exactly what it sold and the default lead
time. Every tunable of the policy is an option (``--help`` lists them with their
defaults); ``--compare KEY=VALUE,...`` runs a second setting on the same data and prints
both summaries side by side. ``--suite`` runs the alert scenario suite instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.channels.fields import CHINA_TIME
from policies.ledger import DEFAULT_LEAD_TIME_MINUTES, SkuSettings
from scripts.catalog import load_catalog
from scripts.replay.engine import Outcome, Sale, Tunables, run_replay
from scripts.replay.summary import SkuSummary, summarise_skus

if TYPE_CHECKING:
    import pandas as pd

#: the settings groups of ``Tunables`` whose fields become options
GROUPS = ("forecast", "alerts", "lifecycle")
#: per-SKU fields the catalogue sets, not options
PER_SKU = {"safety_floor", "critical_floor"}


def tunable_fields() -> dict[str, tuple[str, dataclasses.Field[Any], Any]]:
    """Option name (dashes) -> (group, field, default) of every tunable."""
    defaults = Tunables()
    fields: dict[str, tuple[str, dataclasses.Field[Any], Any]] = {}
    for group in GROUPS:
        settings = getattr(defaults, group)
        for field in dataclasses.fields(settings):
            if field.name not in PER_SKU:
                fields[field.name.replace("_", "-")] = (group, field, getattr(settings, field.name))
    return fields


def field_help(settings_type: type) -> dict[str, str]:
    """Each field's ``#:`` comment in the settings class's source (the one place the
    knobs are described), by field name."""
    helps: dict[str, str] = {}
    comment: list[str] = []
    for line in inspect.getsource(settings_type).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            comment.append(text[2:].strip())
        elif ":" in text and comment and not text.startswith(("def ", "class ", '"""')):
            helps[text.split(":", 1)[0].strip()] = " ".join(comment)
            comment = []
        else:
            comment = []
    return helps


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "replay",
        help="replay a sales CSV through the alert policy",
        description=(
            "Defaults: a SKU missing from --catalog/--stock starts with what it sold and a "
            f"{DEFAULT_LEAD_TIME_MINUTES:.0f} min lead time; naive timestamps are China time (UTC+8)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("sales", type=Path, nargs="?", help="CSV with timestamp, sku, quantity[, channel]")
    parser.add_argument("--catalog", type=Path, default=None, help="YAML or JSON catalogue (as for serve)")
    parser.add_argument(
        "--stock",
        action="append",
        default=[],
        metavar="SKU=UNITS",
        help="starting stock of a SKU (repeatable)",
    )
    parser.add_argument(
        "--show-minutes",
        type=float,
        default=None,
        help="the show's length from the first sale (bounds horizons)",
    )
    parser.add_argument(
        "--compare", default=None, metavar="KEY=VALUE,...", help="a second setting to run side by side"
    )
    parser.add_argument(
        "--events", action="store_true", help="print every notification, not only the summary"
    )
    parser.add_argument("--json", action="store_true", help="print notifications and summary as JSON lines")
    parser.add_argument("--suite", action="store_true", help="run the alert scenario suite instead of a CSV")
    parser.add_argument(
        "--seeds", type=int, default=1, help="--suite: seeds of the Monte Carlo detection run"
    )
    policy = parser.add_argument_group("alert policy (docs/alerts.md)")
    defaults = Tunables()
    helps = {group: field_help(type(getattr(defaults, group))) for group in GROUPS}
    for option, (group, field, default) in tunable_fields().items():
        text = (helps[group].get(field.name) or field.name.replace("_", " ")).replace("%", "%%")
        if isinstance(default, tuple):
            shown = ",".join(f"{value:g}" for value in default) or "none"
            policy.add_argument(
                f"--{option}", type=_floats, default=default, metavar="A,B", help=f"{text} (default: {shown})"
            )
        else:
            policy.add_argument(f"--{option}", type=type(default), default=default, help=text)
    parser.set_defaults(run=run)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def tunables_from(values: dict[str, Any]) -> Tunables:
    """``Tunables`` from option values keyed by field name; ValueError on a bad value."""
    defaults = Tunables()
    groups: dict[str, Any] = {}
    for group in GROUPS:
        settings = getattr(defaults, group)
        names = {f.name for f in dataclasses.fields(settings)}
        groups[group] = dataclasses.replace(settings, **{k: v for k, v in values.items() if k in names})
    return Tunables(**groups)


def parse_overrides(text: str, base: dict[str, Any]) -> dict[str, Any]:
    """``KEY=VALUE,...`` (keys as options, with dashes or underscores) over ``base``."""
    known = {option.replace("-", "_"): default for option, (_, _, default) in tunable_fields().items()}
    result = dict(base)
    for part in filter(None, (p.strip() for p in text.split(";" if ";" in text else ","))):
        key, sep, value = part.partition("=")
        name = key.strip().lstrip("-").replace("-", "_")
        if not sep or name not in known:
            raise ValueError(f"--compare: {part!r} is not KEY=VALUE with a known key (see --help)")
        default = known[name]
        try:
            result[name] = _floats(value) if isinstance(default, tuple) else type(default)(value)
        except (ValueError, argparse.ArgumentTypeError):
            raise ValueError(f"--compare: {name}={value!r} is not a {type(default).__name__}") from None
    return result


def load_sales(path: Path) -> pd.DataFrame:
    """The sales, sorted by event time, with ``at`` in epoch seconds; ValueError naming
    the row and the problem."""
    import pandas as pd  # the sim extra, checked by the CLI before a run: ``--help`` works without it

    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV: {error}") from error
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
    small = (frame["quantity"] < 1).to_numpy().nonzero()[0]
    if len(small):
        row = int(small[0])
        raise ValueError(
            f"{path}: row {row + 2}: quantity {frame['quantity'].iloc[row]} is not a sale (>= 1)"
        )
    result = pd.DataFrame(
        {
            "at": at,
            "sku": frame["sku"].astype(str),
            "quantity": frame["quantity"].astype(int),
            "channel": frame["channel"].astype(str) if "channel" in frame else "recorded",
        }
    )
    return result.sort_values("at", kind="stable").reset_index(drop=True)


def sales_of(frame: pd.DataFrame) -> list[Sale]:
    """The rows of ``load_sales``' frame as typed values, in event time."""
    columns = (frame[name].tolist() for name in ("at", "sku", "quantity", "channel"))
    return [
        Sale(float(at), str(sku), int(quantity), str(channel))
        for at, sku, quantity, channel in zip(*columns, strict=True)
    ]


def run(args: argparse.Namespace) -> int:
    if args.suite:
        from scripts.replay.suite_report import print_suite

        try:
            tunables = tunables_from(_values(args))
        except ValueError as error:
            print(f"flashstock replay: {error}", file=sys.stderr)
            return 2
        return print_suite(args.seeds, tunables)
    if args.sales is None:
        print("flashstock replay: a SALES.csv is needed (or --suite)", file=sys.stderr)
        return 2
    try:
        values = _values(args)
        compare = parse_overrides(args.compare, values) if args.compare else None
        runs = [tunables_from(values)] + ([tunables_from(compare)] if compare is not None else [])
        frame = load_sales(args.sales)
        catalog = load_catalog(args.catalog) if args.catalog else []
        stock = {settings.sku: units for settings, units in catalog}
        stock.update(_stock_options(args.stock))
    except ValueError as error:
        print(f"flashstock replay: {error}", file=sys.stderr)
        return 2
    sales = sales_of(frame)
    sold = _sold_per_sku(sales)
    assumed = sorted(sku for sku in sold if sku not in stock)
    for sku in assumed:
        stock[sku] = sold[sku]
    settings = [settings for settings, _ in catalog]
    known = {s.sku for s in settings}
    settings += [SkuSettings(sku) for sku in sorted(sold) if sku not in known]
    start = sales[0].at if sales else 0.0
    show_end = start + args.show_minutes * 60 if args.show_minutes is not None else None
    outcomes = [run_replay(sales, stock, settings, t, show_ends_at=show_end, start=start) for t in runs]
    _print_assumptions(assumed, [s.sku for s in settings if s.sku not in known], args.json)
    _print_beyond_stock(outcomes[0], args.json)
    summaries = [summarise_skus(o, start) for o in outcomes]
    if args.json:
        for label, outcome, summary in zip(("a", "b"), outcomes, summaries, strict=False):
            if args.events or not args.compare:
                for e in outcome.events:
                    print(
                        json.dumps(
                            {"run": label, **e._asdict(), "minute": round((e.at - start) / 60, 2)},
                            ensure_ascii=False,
                        )
                    )
            for row in summary:
                print(json.dumps({"run": label, "summary": row._asdict()}, ensure_ascii=False))
        return 0
    print(f"{len(sales)} sales of {len(sold)} SKUs from {_clock(start)}")
    if args.events or not args.compare:
        _print_events(outcomes[0], start)
    _print_summaries(summaries, args.compare)
    return 0


def _values(args: argparse.Namespace) -> dict[str, Any]:
    return {option.replace("-", "_"): getattr(args, option.replace("-", "_")) for option in tunable_fields()}


def _stock_options(items: Sequence[str]) -> dict[str, int]:
    stock = {}
    for item in items:
        sku, _, units = item.partition("=")
        if not sku or not units.isdigit():
            raise ValueError(f"--stock {item!r} is not SKU=UNITS (units a whole number >= 0)")
        stock[sku] = int(units)
    return stock


def _sold_per_sku(sales: Sequence[Sale]) -> dict[str, int]:
    sold: dict[str, int] = {}
    for sale in sales:
        sold[sale.sku] = sold.get(sale.sku, 0) + sale.quantity
    return sold


def _print_assumptions(assumed: Sequence[str], default_lead: Sequence[str], as_json: bool) -> None:
    lines = []
    if assumed:
        lines.append(
            f"assumed: {', '.join(assumed)} start with exactly what they sold (no --stock/--catalog entry)"
        )
    if default_lead:
        lines.append(
            f"assumed: {', '.join(default_lead)} have the default "
            f"{DEFAULT_LEAD_TIME_MINUTES:.0f} min lead time"
        )
    lines.append("assumed: timestamps without a zone are China time (UTC+8)")
    for line in lines:
        print(json.dumps({"note": line}, ensure_ascii=False) if as_json else line)


def _print_beyond_stock(outcome: Outcome, as_json: bool) -> None:
    for sku, units in sorted(outcome.beyond_stock.items()):
        line = f"warning: {sku}: {units} units sold beyond the stock were not counted (stock stays at 0)"
        print(json.dumps({"warning": line}, ensure_ascii=False) if as_json else line, file=sys.stderr)


def _print_events(outcome: Outcome, start: float) -> None:
    print(f"{'time':<20}{'minute':>8}  {'kind':<12}{'level':<11}{'sku':<16}{'left':>6}  reason")
    for e in outcome.events:
        print(
            f"{_clock(e.at):<20}{(e.at - start) / 60:>8.1f}  {e.kind:<12}{e.level:<11}"
            f"{e.sku:<16}{e.available:>6}  {e.reason}"
            + ("  (quiet: not sent to receivers)" if e.quiet else "")
        )


def _print_summaries(summaries: Sequence[Sequence[SkuSummary]], compare: str | None) -> None:
    heads = ("sku", "TREND", "THRESH", "EMERG", "soldout", "lead", "notes", "flaps")
    print()
    if compare:
        print(f"a: the options as given | b: with {compare}")
    label = "".join(f"{h:>8}" for h in heads[1:])
    print(f"{heads[0]:<16}{label}" + (f"  |{label}" if len(summaries) > 1 else ""))
    rows = [{r.sku: r for r in summary} for summary in summaries]
    for sku in sorted(rows[0]):
        cells = [_cells(row.get(sku)) for row in rows]
        print(f"{sku:<16}" + "  |".join(cells))


def _cells(row: SkuSummary | None) -> str:
    if row is None:
        return ""
    values = (row.first_trend, row.first_threshold, row.first_emergency, row.sold_out, row.lead_minutes)
    shown = [f"{v:>8.1f}" if v is not None else f"{'-':>8}" for v in values]
    return "".join(shown) + f"{row.notifications:>8}{row.flaps:>8}"


def _clock(at: float) -> str:
    if math.isinf(at):
        return "-"
    return datetime.fromtimestamp(at, UTC).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
