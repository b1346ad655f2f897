"""Reading the owners' committed state from Redis without asking an owner: the one way
for every reader (stock queries, sync, metrics, audits, order lookups, the forecaster's
rebuild, a SKU's history). The layout is in ``actors.infra.keys`` and ``docs/storage.md``.

Every function reads partition by partition (one key's slot at a time, never a command
across slots), pipelined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from actors.infra.codec import (
    LedgerEntry,
    decode_ledger,
    decode_ledger_entry,
    decode_record,
    decode_settings,
    line_key,
    split_line_key,
    text,
)
from actors.infra.keys import PartitionKeys
from actors.infra.redis_client import RedisClient
from actors.infra.settings import StoreConfig
from policies.ledger import Ledger, LineRecord, SkuSettings
from policies.routing import partition_of

#: the most hash fields one HSCAN step asks for (each step stays well under 10 ms)
SCAN_COUNT = 1_000


def partition_keys(config: StoreConfig, partition: int) -> PartitionKeys:
    return PartitionKeys.of(config.namespace, partition)


def by_partition(config: StoreConfig, skus: Iterable[str]) -> dict[int, list[str]]:
    """``skus`` grouped by the partition that stores them."""
    grouped: dict[int, list[str]] = {}
    for sku in skus:
        grouped.setdefault(partition_of(sku, config.partitions), []).append(sku)
    return grouped


def bucket_of(config: StoreConfig, at: float) -> int:
    """The line bucket of commit time ``at`` (epoch seconds)."""
    return int(at // config.bucket_seconds)


def oldest_retained_bucket(config: StoreConfig, now: float) -> int:
    """The oldest bucket that may still hold a record within the retention window."""
    return bucket_of(config, now - config.retention_seconds)


def scan_hash(client: RedisClient, key: str) -> dict[str, str]:
    """A whole hash as text, read with HSCAN in steps so no command blocks Redis long."""
    found: dict[str, str] = {}
    cursor: int = 0
    while True:
        # redis-py types the reply loosely: (cursor, {field: value})
        reply: Any = client.hscan(key, cursor, count=SCAN_COUNT)
        cursor, page = reply
        for field, value in page.items():
            found[text(field)] = text(value)
        if cursor == 0:
            return found


def sku_names(client: RedisClient, config: StoreConfig) -> list[str]:
    """Every SKU of the catalogue of ``config``'s namespace (the fields of the partitions'
    state hashes), sorted."""
    pipe = client.pipeline(transaction=False)
    for partition in range(config.partitions):
        pipe.hkeys(partition_keys(config, partition).state)
    return sorted(text(sku) for names in pipe.execute() for sku in names)


def missing_skus(client: RedisClient, config: StoreConfig, skus: Sequence[str]) -> list[str]:
    """Those of ``skus`` not in the catalogue, in their order (one pipelined round trip)."""
    pipe = client.pipeline(transaction=False)
    for sku in skus:
        pipe.hexists(partition_keys(config, partition_of(sku, config.partitions)).state, sku)
    return [sku for sku, exists in zip(skus, pipe.execute(), strict=True) if not exists]


def read_skus(
    client: RedisClient, config: StoreConfig, skus: Sequence[str] | None = None
) -> dict[str, tuple[Ledger, SkuSettings]]:
    """The committed ledger and settings of ``skus`` (every SKU of the catalogue when None);
    unknown SKUs are absent. One pipelined round trip."""
    return {
        sku: (ledger, settings) for sku, (ledger, settings, _) in _read(client, config, skus, False).items()
    }


def read_sku_states(
    client: RedisClient, config: StoreConfig, skus: Sequence[str]
) -> dict[str, tuple[Ledger, SkuSettings, dict[str, int]]]:
    """``read_skus`` with each SKU's oversold counts (channel -> orders), read in the same
    transaction (state and oversold of one commit): what a stock query shows."""
    return _read(client, config, skus, True)


def _read(
    client: RedisClient, config: StoreConfig, skus: Sequence[str] | None, oversold: bool
) -> dict[str, tuple[Ledger, SkuSettings, dict[str, int]]]:
    everything: dict[int, list[str] | None] = dict.fromkeys(range(config.partitions))
    grouped = everything if skus is None else dict(by_partition(config, skus))
    found: dict[str, tuple[Ledger, SkuSettings, dict[str, int]]] = {}
    for partition, names in grouped.items():
        k = partition_keys(config, partition)
        pipe = client.pipeline(transaction=oversold)  # one slot: a MULTI is allowed
        if names is None:
            pipe.hgetall(k.state)
            pipe.hgetall(k.settings)
        else:
            pipe.hmget(k.state, names)
            pipe.hmget(k.settings, names)
        if oversold:
            pipe.hgetall(k.oversold)
        replies = pipe.execute()
        if names is None:
            states = {text(f): v for f, v in replies[0].items()}
            settings_raw = {text(f): v for f, v in replies[1].items()}
        else:
            states = dict(zip(names, replies[0], strict=True))
            settings_raw = dict(zip(names, replies[1], strict=True))
        counts = oversold_counts(replies[2]) if oversold else {}
        for sku, raw in states.items():
            settings = settings_raw.get(sku)
            if raw is None or settings is None:
                continue
            found[sku] = (decode_ledger(sku, text(raw)), decode_settings(text(settings)), counts.get(sku, {}))
    return found


def read_oversold(client: RedisClient, config: StoreConfig) -> dict[str, dict[str, int]]:
    """Every SKU's committed oversold counts (sku -> channel -> orders), for those with any."""
    pipe = client.pipeline(transaction=False)
    for partition in range(config.partitions):
        pipe.hgetall(partition_keys(config, partition).oversold)
    found: dict[str, dict[str, int]] = {}
    for raw in pipe.execute():
        found.update(oversold_counts(raw))
    return found


def oversold_counts(raw: Mapping[Any, Any]) -> dict[str, dict[str, int]]:
    """A partition's oversold hash (``line_key(sku, channel)`` -> orders) by SKU."""
    counts: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        sku, channel = split_line_key(text(field))
        counts.setdefault(sku, {})[channel] = int(text(value))
    return counts


# KEYS: candidate bucket hashes of one partition. Returns the positions (1-based) of those
# that exist: one call per partition instead of one EXISTS per bucket.
_EXISTING_LUA = r"""
local found = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    found[#found + 1] = i
  end
end
return found
"""


def existing_buckets(
    client: RedisClient, config: StoreConfig, partitions: Sequence[int], now: float
) -> list[int]:
    """The line buckets within the retention window that exist in any of ``partitions``
    (ascending): one script call per partition, pipelined."""
    candidates = list(range(oldest_retained_bucket(config, now), bucket_of(config, now) + 2))
    pipe = client.pipeline(transaction=False)
    for partition in partitions:
        k = partition_keys(config, partition)
        # EVAL by name: a cluster pipeline has no ``eval`` method, but sends the command
        pipe.execute_command("EVAL", _EXISTING_LUA, len(candidates), *(k.lines(b) for b in candidates))
    found = {candidates[int(i) - 1] for positions in pipe.execute() for i in positions}
    return sorted(found)


def find_lines(
    client: RedisClient,
    config: StoreConfig,
    wanted: Mapping[tuple[str, str], Sequence[int]],
    partition: Callable[[str], int] | None = None,
) -> dict[tuple[str, str], LineRecord]:
    """The newest record of each wanted line ``(sku, line field) -> buckets to look in``:
    its open reservation if it is one, else the newest of the given buckets that holds it.
    One pipelined round trip (HMGET per partition and bucket). ``partition`` maps a SKU
    to its partition (a caller's cache; ``partition_of`` when None)."""
    plan: dict[tuple[int, int], list[tuple[str, str]]] = {}  # (partition, bucket or -1 open)
    for (sku, line_field), buckets in wanted.items():
        partition_number = partition(sku) if partition else partition_of(sku, config.partitions)
        plan.setdefault((partition_number, -1), []).append((sku, line_field))
        for bucket in buckets:
            plan.setdefault((partition_number, bucket), []).append((sku, line_field))
    if not plan:
        return {}
    pipe = client.pipeline(transaction=False)
    steps = list(plan.items())
    for (partition_number, bucket), lines in steps:
        k = partition_keys(config, partition_number)
        pipe.hmget(k.open if bucket < 0 else k.lines(bucket), [line_key(s, f) for s, f in lines])
    found: dict[tuple[str, str], tuple[int, LineRecord]] = {}
    for ((_, bucket), lines), values in zip(steps, pipe.execute(), strict=True):
        rank = 1 << 62 if bucket < 0 else bucket  # an open reservation is the newest record
        for line, value in zip(lines, values, strict=True):
            if value is not None and (line not in found or found[line][0] < rank):
                found[line] = (rank, decode_record(text(value)))
    return {line: record for line, (_, record) in found.items()}


def find_retained_lines(
    client: RedisClient, config: StoreConfig, lines: Sequence[tuple[str, str]], now: float
) -> dict[tuple[str, str], LineRecord]:
    """``find_lines`` over every bucket of the retention window (order lookups)."""
    partitions = sorted({partition_of(sku, config.partitions) for sku, _ in lines})
    buckets = existing_buckets(client, config, partitions, now) if partitions else []
    return find_lines(client, config, {line: buckets for line in lines})


def read_line_records(
    client: RedisClient, config: StoreConfig, now: float
) -> dict[str, dict[str, LineRecord]]:
    """Every retained line record (sku -> line field -> newest record), for audits: the
    whole history of the retention window, read with HSCAN. Not for owners."""
    newest: dict[tuple[str, str], tuple[int, LineRecord]] = {}
    partitions = list(range(config.partitions))
    for bucket in existing_buckets(client, config, partitions, now):
        for partition in partitions:
            for key, value in scan_hash(client, partition_keys(config, partition).lines(bucket)).items():
                line = split_line_key(key)
                if line not in newest or newest[line][0] <= bucket:
                    newest[line] = (bucket, decode_record(value))
    for partition in partitions:
        for key, value in scan_hash(client, partition_keys(config, partition).open).items():
            newest[split_line_key(key)] = (1 << 62, decode_record(value))
    records: dict[str, dict[str, LineRecord]] = {}
    for (sku, line_field), (_, record) in newest.items():
        records.setdefault(sku, {})[line_field] = record
    return records


# ---- the ledger logs -------------------------------------------------------------------------


def log_keys(config: StoreConfig) -> list[str]:
    """Every partition's ledger log, in partition order."""
    return [partition_keys(config, p).log for p in range(config.partitions)]


def read_log_since(
    client: RedisClient, config: StoreConfig, since_wall: float, batch: int = 10_000
) -> list[LedgerEntry]:
    """Every partition's log entries committed at or after ``since_wall`` (epoch seconds,
    the Redis clock of the commit), oldest first (by entry id across partitions)."""
    entries: list[LedgerEntry] = []
    for stream in log_keys(config):
        start = f"{max(int(since_wall * 1000), 0)}-0"
        while True:
            # redis-py types stream replies loosely; each is (id, {field: value})
            page: Any = client.xrange(stream, start, "+", count=batch)
            for entry_id, fields in page:
                entries.append(decode_ledger_entry(text(entry_id), fields or {}))
            if len(page) < batch:
                break
            millis, _, seq = text(page[-1][0]).partition("-")
            start = f"{millis}-{int(seq or 0) + 1}"
    entries.sort(key=lambda entry: _id_order(entry.entry_id))
    return entries


def _id_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)
