"""``flashstock migrate``: the previous storage layout (``actors.infra.legacy_keys``)
converted to the current one (``actors.infra.keys``, ``docs/storage.md``) on a single
Redis server (the old layout never ran on a Redis Cluster), with flashstock stopped.

- Channel, sync, grant and alert keys are renamed as they are (``RENAME``: a stream keeps
  its consumer groups and pending entries); the old ledger stream is kept, renamed to
  ``ns:legacy-ledger`` (an audit trail nothing reads; delete it when done with it).
- Each SKU's owner data moves in one ``MULTI`` that also deletes its old keys and takes
  it out of the old catalogue set, under ``WATCH``: its ledger and settings into its
  partition's ``state`` / ``settings`` hashes, its open reservations into ``open``, its
  settled line records into the current line bucket (which expires after the retention
  window, as if committed now), its oversold counts into ``oversold``; every value goes
  through the codec functions the current store uses.
- The partition count is recorded first (``ns:partitions``), as the first owner would.

A crash midway leaves every SKU and every renamed key either old or new; the guard
(``actors.upgrade.guard``) keeps refusing to start until a re-run finishes the job, and a
re-run of a finished migration finds nothing to do. Every SKU's data is decoded before
anything is written (``plan_migration``), so bad data is named without moving anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
import structlog

from actors.infra import keys, legacy_keys
from actors.infra.codec import (
    decode_record,
    decode_settings,
    encode_ledger,
    encode_record,
    encode_settings,
    line_key,
    text,
)
from actors.infra.settings import StoreConfig
from actors.owner.reads import bucket_of, partition_keys, scan_hash
from actors.upgrade.guard import scan_legacy_keys
from policies.ledger import InboundTransfer, Ledger, LineStatus
from policies.routing import partition_of

log = structlog.get_logger(__name__)

#: field-value pairs one HSET carries
_CHUNK = 1_000


class MigrationError(Exception):
    """The migration cannot run or cannot go on; the message names the problem."""


@dataclass(frozen=True)
class SkuMove:
    """One SKU's old owner data, converted (values encoded as the current store writes them)."""

    sku: str
    partition: int
    ledger: str | None  # encode_ledger, None for a SKU without a ledger
    settings: str | None
    opened: dict[str, str]  # line key -> record of an open reservation
    settled: dict[str, str]  # line key -> record of a settled line
    oversold: dict[str, str]  # line_key(sku, channel) -> orders


@dataclass
class Plan:
    """What a migration of one namespace moves: SKUs (sorted) and renames (old, new)."""

    skus: list[str] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)
    #: sku -> (partition, has a ledger, open reservations, settled lines, oversold channels)
    moves: dict[str, tuple[int, bool, int, int, int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.skus and not self.renames


def other_clients(client: redis.Redis) -> list[str]:
    """The other normal clients connected to the Redis (``addr name``), replicas and
    monitors aside: a running flashstock process holds connections, so a migration
    refuses while any is connected."""
    own = int(text(client.client_id()))
    return [
        f"{entry.get('addr')} {entry.get('name') or ''}".strip()
        for entry in client.client_list(_type="normal")
        if int(entry["id"]) != own
    ]


def plan_migration(client: redis.Redis, config: StoreConfig) -> Plan:
    """Every old key of ``config.namespace``, each SKU's data read and converted (nothing
    written). ``MigrationError`` when a SKU's data cannot be read, a rename's target
    exists already, a SKU exists in both layouts or the partition count recorded differs."""
    ns = config.namespace
    recorded = client.get(keys.partition_count(ns))
    if recorded is not None and int(text(recorded)) != config.partitions:
        raise MigrationError(f"namespace {ns!r} records {text(recorded)} partitions, not {config.partitions}")
    plan = Plan()
    found = scan_legacy_keys(client, ns)
    skus = {k.sku for k in found if k.sku}
    if any(k.is_catalogue for k in found):
        skus.update(text(member) for member in client.smembers(legacy_keys.skus(ns)))
    plan.skus = sorted(skus)
    plan.renames = sorted((k.key, k.target) for k in found if k.target)
    problems = [f"{new} exists already (from {old})" for old, new in plan.renames if client.exists(new)]
    for sku in plan.skus:
        move = read_sku(client, config, sku)
        if move.ledger is not None and client.hexists(partition_keys(config, move.partition).state, sku):
            problems.append(f"SKU {sku!r} exists in both layouts")
        plan.moves[sku] = (
            move.partition,
            move.ledger is not None,
            len(move.opened),
            len(move.settled),
            len(move.oversold),
        )
    if problems:
        raise MigrationError(f"namespace {ns!r} cannot be migrated: {'; '.join(problems[:5])}")
    return plan


def read_sku(client: redis.Redis, config: StoreConfig, sku: str) -> SkuMove:
    """``sku``'s old state, line records and oversold counts, converted
    (``MigrationError`` naming the SKU when they cannot be decoded)."""
    ns = config.namespace
    state = scan_hash(client, legacy_keys.sku_key(ns, sku, "state"))
    lines = scan_hash(client, legacy_keys.sku_key(ns, sku, "lines"))
    oversold = scan_hash(client, legacy_keys.sku_key(ns, sku, "oversold"))
    try:
        return convert_sku(sku, partition_of(sku, config.partitions), state, lines, oversold)
    except (KeyError, ValueError, TypeError) as error:
        raise MigrationError(f"SKU {sku!r}: its old data cannot be read: {error!r}") from None


def convert_sku(
    sku: str,
    partition: int,
    state: Mapping[str, str],
    lines: Mapping[str, str],
    oversold: Mapping[str, str],
) -> SkuMove:
    """One SKU's old hashes as the current store's values. The old state hash held
    on_hand, reserved, sold, version, held (absent before holds: 0), inbound (JSON) and
    settings (JSON); a state without ``on_hand`` was no ledger (old readers skipped it)."""
    ledger = settings = None
    if "on_hand" in state:
        inbound = tuple(InboundTransfer(**t) for t in json.loads(state.get("inbound", "[]")))
        ledger = encode_ledger(
            Ledger(
                sku,
                int(state["on_hand"]),
                int(state["reserved"]),
                int(state["sold"]),
                inbound,
                int(state["version"]),
                int(state.get("held", "0")),
            )
        )
        settings = encode_settings(decode_settings(state["settings"]))
    opened: dict[str, str] = {}
    settled: dict[str, str] = {}
    for line_field, raw in lines.items():
        record = decode_record(raw)
        target = opened if record.status == LineStatus.RESERVED else settled
        target[line_key(sku, line_field)] = encode_record(record)
    counts = {line_key(sku, channel): str(int(count)) for channel, count in oversold.items()}
    return SkuMove(sku, partition, ledger, settings, opened, settled, counts)


def migrate_sku(client: redis.Redis, config: StoreConfig, sku: str, *, now: float | None = None) -> bool:
    """Move ``sku``'s old data into its partition in one transaction that deletes the old
    keys (retried if they change meanwhile). False when it had none left to move."""
    ns = config.namespace
    old = [legacy_keys.sku_key(ns, sku, part) for part in ("state", "lines", "oversold")]
    catalogue = legacy_keys.skus(ns)
    at = time.time() if now is None else now
    bucket = bucket_of(config, at)
    expire_at = int((bucket + 1) * config.bucket_seconds + config.retention_seconds)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*old, catalogue)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                listed = bool(pipe.sismember(catalogue, sku))
                if not listed and not pipe.exists(*old):
                    pipe.unwatch()
                    return False
                move = read_sku(pipe, config, sku)
                k = partition_keys(config, move.partition)
                pipe.multi()
                if move.ledger is not None and move.settings is not None:
                    pipe.hset(k.state, sku, move.ledger)
                    pipe.hset(k.settings, sku, move.settings)
                for target, values in ((k.open, move.opened), (k.oversold, move.oversold)):
                    _hset_chunks(pipe, target, values)
                if move.settled:
                    _hset_chunks(pipe, k.lines(bucket), move.settled)
                    pipe.expireat(k.lines(bucket), expire_at)
                pipe.delete(*old)
                pipe.srem(catalogue, sku)
                pipe.execute()
            except redis.exceptions.WatchError:
                continue
            log.debug(
                "sku_migrated",
                sku=sku,
                partition=move.partition,
                open=len(move.opened),
                settled=len(move.settled),
                bucket=bucket,
            )
            return True


def _hset_chunks(pipe: redis.client.Pipeline, key: str, values: Mapping[str, str]) -> None:
    items = list(values.items())
    for start in range(0, len(items), _CHUNK):
        pipe.hset(key, mapping=dict(items[start : start + _CHUNK]))


@dataclass(frozen=True)
class Outcome:
    """What a migration did."""

    skus: int
    renamed: int


def run_migration(
    client: redis.Redis, config: StoreConfig, plan: Plan, *, now: float | None = None
) -> Outcome:
    """Apply ``plan`` (from ``plan_migration`` on the same, idle, Redis): the partition
    count, every SKU, then every rename. Restartable: a new plan picks up what is left."""
    ns = config.namespace
    client.set(keys.partition_count(ns), config.partitions, nx=True)
    moved = sum(migrate_sku(client, config, sku, now=now) for sku in plan.skus)
    renamed = 0
    for old, new in plan.renames:
        try:
            done = client.renamenx(old, new)
        except redis.exceptions.ResponseError:  # gone since the plan: renamed by a run before
            continue
        if not done:
            raise MigrationError(f"{new} exists already: {old} was left as it is")
        renamed += 1
    log.info("migration_done", namespace=ns, skus=moved, renamed=renamed)
    return Outcome(moved, renamed)
