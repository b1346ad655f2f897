"""``flashstock bench parse``: CPU per platform message, reference parser vs fast decoder.

For each format (Douyin, Taobao, Kuaishou, generic) the same ``--messages`` messages, as
the inbox streams hold them (UTF-8 bytes, nested payloads as JSON text), are parsed by
``reference_parse_message`` (the adapters over ``json.loads``), by ``parse_message`` (the
typed msgspec decoders, the reference as fallback) one call a message, and by
``parse_messages`` in one call (the batch entry point the channel ingest uses). The mix is a sale's: 70%
single-line orders (one in ten of two lines), 20% payments, 10% cancellations, with
order ids, SKUs and buyers varying. CPU time of this process (``time.process_time``),
best of ``--repeat`` passes, divided by the messages; every fast result is checked equal
to the reference's and the count of those the fast path left to the reference is shown.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from policies.channels import parse_message, parse_messages, reference_parse_message
from policies.channels.fast import parse_fast
from scripts.loadgen.messages import cancel_message, order_message, payment_message

FORMATS = ("douyin", "taobao", "kuaishou", "generic")
CHANNEL = "bench"
#: 2025-11-11 20:00:00 China Standard Time
SALE_START = 1_762_862_400.0

_NESTED = {"douyin": "data", "taobao": "content", "kuaishou": "info"}
_ITEMS = {
    "douyin": ("sku_order_list", "out_sku_id"),
    "taobao": ("orders", "outer_sku_id"),
    "kuaishou": ("orderItemList", "skuNick"),
    "generic": ("lines", "sku"),
}

Parse = Callable[[str, str, bytes], object]


def add_parser(suites: Any) -> None:
    parser = suites.add_parser("parse", help="CPU per platform message: reference parser vs fast decoder")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per format")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per parser (best is kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    results = {fmt: measure(fmt, sale_messages(fmt, args.messages), args.repeat) for fmt in FORMATS}
    print(f"\nflashstock bench parse: {args.messages:,} messages per format, CPU us per message")
    print(
        f"{'format':<10}{'reference':>11}{'fast':>8}{'batch':>8}{'speed-up':>10}{'fallbacks':>11}"
        f"{'mismatches':>12}"
    )
    for fmt, row in results.items():
        print(
            f"{fmt:<10}{row['reference_us']:>11.2f}{row['fast_us']:>8.2f}{row['batch_us']:>8.2f}"
            f"{row['speedup']:>9.2f}x{row['fallbacks']:>11,}{row['mismatches']:>12,}"
        )
    if args.json:
        args.json.write_text(json.dumps({"messages_per_format": args.messages, "formats": results}, indent=2))
    return 0 if all(row["mismatches"] == 0 for row in results.values()) else 1


def sale_messages(fmt: str, count: int, seed: int = 11) -> list[bytes]:
    """``count`` messages of format ``fmt`` as a flash sale sends them (see the module)."""
    rng = random.Random(seed)
    raws: list[bytes] = []
    for n in range(count):
        order_id, at = f"{fmt[:2].upper()}{9_000_000_000 + n}", SALE_START + n * 0.003
        roll = rng.random()
        if roll < 0.7:
            sku = f"SKU-{rng.randrange(1000):04d}"
            text = order_message(
                fmt, order_id, sku, 1 + rng.randrange(3), at, f"buyer-{rng.randrange(10**6)}"
            )
            if rng.random() < 0.1:
                text = _with_second_line(fmt, text, f"SKU-{rng.randrange(1000):04d}")
        elif roll < 0.9:
            text = payment_message(fmt, order_id, at + 30)
        else:
            text = cancel_message(fmt, order_id, "buyer changed mind")
        raws.append(text.encode("utf-8"))
    return raws


def _with_second_line(fmt: str, text: str, sku: str) -> str:
    """The order of ``text`` with one more line, of ``sku``, shaped like its first."""
    message = json.loads(text)
    nested = _NESTED.get(fmt)
    payload = json.loads(message[nested]) if nested else message
    list_key, sku_key = _ITEMS[fmt]
    items = payload[list_key]["order"] if fmt == "taobao" else payload[list_key]
    items.append({**items[0], sku_key: sku})
    if nested:
        message[nested] = json.dumps(payload, ensure_ascii=False)
    return json.dumps(message, ensure_ascii=False)


def measure(fmt: str, raws: Sequence[bytes], repeat: int) -> dict[str, Any]:
    reference_s, expected = _timed(reference_parse_message, fmt, raws, repeat)
    fast_s, got = _timed(parse_message, fmt, raws, repeat)
    batch_s, in_batch = _timed_batch(fmt, raws, repeat)
    mismatches = sum(
        1
        for a, b, c in zip(got, in_batch, expected, strict=True)
        if not (type(a), a) == (type(b), b) == (type(c), c)
    )
    fallbacks = sum(1 for raw in raws if parse_fast(CHANNEL, fmt, raw) is None)
    return {
        "messages": len(raws),
        "reference_us": round(reference_s / len(raws) * 1e6, 2),
        "fast_us": round(fast_s / len(raws) * 1e6, 2),
        "batch_us": round(batch_s / len(raws) * 1e6, 2),
        "speedup": round(reference_s / fast_s, 2),
        "fallbacks": fallbacks,
        "mismatches": mismatches,
    }


def _timed(parse: Parse, fmt: str, raws: Sequence[bytes], repeat: int) -> tuple[float, list[object]]:
    best, results = float("inf"), []
    for _ in range(max(1, repeat)):
        started = time.process_time()
        results = [parse(CHANNEL, fmt, raw) for raw in raws]
        best = min(best, time.process_time() - started)
    return best, results


def _timed_batch(fmt: str, raws: Sequence[bytes], repeat: int) -> tuple[float, list[object]]:
    best, results = float("inf"), list[object]()
    for _ in range(max(1, repeat)):
        started = time.process_time()
        results = [*parse_messages(CHANNEL, fmt, raws)]
        best = min(best, time.process_time() - started)
    return best, results
