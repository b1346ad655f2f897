"""A SKU's history for the dashboard's chart, read from Redis: counters per minute from
the ledger log of the SKU's partition (``{ns:pN}:log``) and alert markers from the
notification stream (``{ns:alerts}``). Both reads are bounded; ``complete`` says whether the window was read
to its start."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from actors.infra import keys
from actors.infra.codec import entry_time_ms, is_quiet, ledger_counters_of, text
from actors.infra.redis_client import RedisClient
from actors.infra.settings import StoreConfig
from actors.owner.reads import partition_keys
from policies.routing import partition_of
from policies.stock_history import CounterSnapshot, MinutePoint, minute_series

#: the most ledger log entries one history request reads (newest first)
MAX_LEDGER_ENTRIES = 50_000
#: the most notifications one history request reads
MAX_ALERT_ENTRIES = 10_000
PAGE = 1_000


class SkuHistory(NamedTuple):
    points: list[MinutePoint]
    markers: list[dict[str, Any]]
    complete: bool


def read_sku_history(
    client: RedisClient, config: StoreConfig, sku: str, start: float, end: float
) -> SkuHistory:
    """``sku``'s minutes from ``start`` to ``end`` (epoch seconds) and its notifications."""
    log = partition_keys(config, partition_of(sku, config.partitions)).log
    snapshots, baseline, ledger_complete = _snapshots(client, log, sku, start, end)
    markers, alerts_complete = _markers(client, keys.alert_stream(config.namespace), sku, start, end)
    points = minute_series(snapshots, start, end, baseline)
    return SkuHistory(points, markers, ledger_complete and alerts_complete)


def _snapshots(
    client: RedisClient, stream: str, sku: str, start: float, end: float
) -> tuple[list[CounterSnapshot], CounterSnapshot | None, bool]:
    """The SKU's snapshots in the window (oldest first), its last one before the window
    if the page that crossed the window's start holds one, and whether the whole window
    was read."""
    newest_first: list[CounterSnapshot] = []
    cursor, scanned = "+", 0
    while scanned < MAX_LEDGER_ENTRIES:
        # redis-py types stream replies loosely: [(id, {field: value})]
        page: Any = client.xrevrange(stream, max=cursor, min="-", count=PAGE)
        scanned += len(page)
        for entry_id, fields in page:
            at = entry_time_ms(entry_id) / 1000
            if at > end:
                continue
            counters = ledger_counters_of(fields, sku)
            if counters is None:
                continue
            snapshot = CounterSnapshot(at, counters.on_hand, counters.reserved, counters.sold)
            if at < start:
                return list(reversed(newest_first)), snapshot, True
            newest_first.append(snapshot)
        if len(page) < PAGE:
            return list(reversed(newest_first)), None, True  # the stream's oldest entry
        if entry_time_ms(page[-1][0]) / 1000 < start:
            return list(reversed(newest_first)), None, True  # crossed the start: no baseline
        cursor = f"({text(page[-1][0])}"
    return list(reversed(newest_first)), None, False


def _markers(
    client: RedisClient, stream: str, sku: str, start: float, end: float
) -> tuple[list[dict[str, Any]], bool]:
    """The SKU's notifications in the window as chart markers, oldest first."""
    entries: Any = client.xrange(
        stream, min=str(int(start * 1000)), max=str(int(end * 1000)), count=MAX_ALERT_ENTRIES
    )
    markers = []
    for entry_id, fields in entries:
        record = json.loads(text({text(k): v for k, v in fields.items()}["alert"]))
        alert = record.get("alert", {})
        if alert.get("sku") != sku:
            continue
        markers.append(
            {
                "at": entry_time_ms(entry_id) / 1000,
                "event_id": text(entry_id),
                "kind": record.get("kind", ""),
                "level": alert.get("level", ""),
                "status": alert.get("status", ""),
                "alert_id": alert.get("id", ""),
                "inhibited": bool(record.get("inhibited")),
                "silenced": bool(record.get("silenced")),
                "quiet": is_quiet(record),
            }
        )
    return markers, len(entries) < MAX_ALERT_ENTRIES
