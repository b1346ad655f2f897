"""Every stored format flashstock writes and reads, encoded and decoded in one place.

- line records (``{ns:pN}:open`` and ``{ns:pN}:lines:{bucket}`` values, keyed by
  ``line_key``): ``encode_record`` (a batch's: ``encode_records``) / ``decode_record``
- SKU ledgers and settings (``{ns:pN}:state`` / ``{ns:pN}:settings`` values):
  ``encode_ledger`` / ``decode_ledger``, ``encode_settings`` / ``decode_settings``
- published decisions (``{ns:ch:<channel>}:decisions`` entries): ``format_order_decision``,
  ``format_notice``, ``decision_fields``
- notifications (``{ns:alerts}`` entries, webhook bodies): ``notification_record``
- open alerts, silences, subscriptions (``{ns:alerts}:*`` hashes)
- ledger log entries (``{ns:pN}:log``): ``encode_log_ledgers`` / ``encode_log_lines`` /
  ``decode_ledger_entry``
- stream entry ids: ``entry_time_ms``; any Redis reply value as text: ``text``

The ledger log's entries are written by the commit script (``actors.owner.store``) from
the text built here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from itertools import chain
from typing import Any, NamedTuple

import msgspec

from policies.alert_lifecycle import Alert, Notification
from policies.ledger import InboundTransfer, Ledger, LineRecord, LineStatus, SkuSettings
from policies.operations import FIELD_SEPARATOR
from policies.orders import NoticeDecision, OrderDecision, RecordedOrder
from policies.silences import Silence
from policies.subscriptions import Subscription


def encode_record(record: LineRecord) -> str:
    """``status|quantity|placed_at ms|expires_at ms|reason``: times in whole milliseconds
    (formatting an int is 2.5x cheaper than a float's repr, on the hot path)."""
    status, quantity, reason, placed_at, expires_at = record
    return f"{status}|{quantity}|{int(placed_at * 1000)}|{int(expires_at * 1000)}|{reason}"


def encode_records(written: Iterable[tuple[str, str, LineRecord]]) -> list[str]:
    """``encode_record`` of the record of each ``(sku, line field, record)``, in one pass:
    the owner's hot path. A batch's records share few expiry times (0 once settled, the
    batch's clock plus the SKU's TTL while open), so each is formatted once per batch."""
    expiry = _Millis()
    return [
        f"{status}|{quantity}|{int(placed_at * 1000)}|{expiry[expires_at]}|{reason}"
        for _, _, (status, quantity, reason, placed_at, expires_at) in written
    ]


class _Millis(dict[float, str]):
    """Epoch seconds -> whole milliseconds as text, each time formatted once. Only a
    ``float`` of under 9e12 s is kept: there the ``int`` that equals it (the only other
    key that can hit it) gives the same text, as ``n * 1000`` is exact in a float."""

    def __missing__(self, seconds: float) -> str:
        formatted = str(int(seconds * 1000))
        if type(seconds) is float and -9e12 < seconds < 9e12:
            self[seconds] = formatted
        return formatted


def decode_record(raw: str) -> LineRecord:
    status, quantity, placed_at, expires_at, reason = raw.split("|", 4)
    if status not in LineStatus.ALL:
        raise ValueError(f"unknown line status {status!r} in record {raw!r}")
    return LineRecord(status, int(quantity), reason, int(placed_at) / 1000, int(expires_at) / 1000)


def encode_settings(settings: SkuSettings) -> str:
    return json.dumps(asdict(settings), ensure_ascii=False, sort_keys=True)


def decode_settings(raw: str) -> SkuSettings:
    data = json.loads(raw)
    data["substitutes"] = tuple(data.get("substitutes", ()))
    return SkuSettings(**data)


def encode_inbound(inbound: Iterable[InboundTransfer]) -> str:
    return json.dumps([asdict(t) for t in inbound], ensure_ascii=False)


def encode_ledger(ledger: Ledger) -> str:
    """``on_hand|reserved|sold|version|held|inbound`` (inbound: JSON list, ``[]`` if none)."""
    inbound = encode_inbound(ledger.inbound) if ledger.inbound else "[]"
    return f"{ledger.on_hand}|{ledger.reserved}|{ledger.sold}|{ledger.version}|{ledger.held}|{inbound}"


def decode_ledger(sku: str, raw: str) -> Ledger:
    on_hand, reserved, sold, version, held, inbound = raw.split("|", 5)
    transfers = tuple(InboundTransfer(**t) for t in json.loads(inbound))
    return Ledger(sku, int(on_hand), int(reserved), int(sold), transfers, int(version), int(held))


def line_key(sku: str, line_field: str) -> str:
    """A line's field in a partition's ``open`` and ``lines`` hashes: ``sku<US>line field``
    (ids may not hold the unit separator, ``policies.ids``)."""
    return f"{sku}{FIELD_SEPARATOR}{line_field}"


def split_line_key(key: str) -> tuple[str, str]:
    """``(sku, line field)`` of a ``line_key``."""
    sku, _, line_field = key.partition(FIELD_SEPARATOR)
    return sku, line_field


def encode_log_ledgers(state: list[str]) -> str:
    """The ``ledgers`` field of a log entry: ``sku<TAB>ledger`` for each changed SKU, from
    the ``[sku, encode_ledger(ledger), ...]`` values the commit writes to ``state``."""
    return "\t".join(state)


def encode_log_lines(*pairs: list[str]) -> str:
    """The ``lines`` field of a log entry: ``line key<TAB>record`` for each changed line
    record, from ``[line_key, encode_record(record), ...]`` lists (in commit order)."""
    return "\t".join(chain.from_iterable(pairs))


def split_field(line_field: str) -> tuple[str, str]:
    """``(channel, order_id)`` of a line field."""
    channel, _, order_id = line_field.partition(FIELD_SEPARATOR)
    return channel, order_id


def format_order_decision(order: OrderDecision) -> str:
    """``order<TAB>order_id<TAB>accepted (1/0)<TAB>reason<TAB>failed_sku<TAB>duplicate (1/0)
    <TAB>lines`` where lines are ``sku:quantity:status-or-reason`` joined by ``;``. Once
    per decided order on the ingest hot path: the tuples are unpacked by position (about
    1.0 against 1.4 us per single-line order, reading their fields by name)."""
    _, order_id, accepted, reason, failed_sku, decisions, duplicate = order
    # a Decision: op, sku, key, accepted, status, quantity, available, reason
    lines = ";".join([f"{d[1]}:{d[5]}:{d[4] or d[7]}" for d in decisions])
    return (
        f"order\t{order_id}\t{1 if accepted else 0}\t{reason}\t{failed_sku}\t{1 if duplicate else 0}\t{lines}"
    )


def format_notice(notice: NoticeDecision) -> str:
    """``payment|cancel<TAB>order_id<TAB>accepted (1/0)<TAB>reason``."""
    return f"{notice.kind}\t{notice.order_id}\t{int(notice.accepted)}\t{notice.reason}"


def decision_fields(entry: Mapping[bytes, bytes]) -> list[list[str]]:
    """The decisions of one entry of ``{ns:ch:<channel>}:decisions``, as fields (a decision's
    line split at tabs: ``format_order_decision`` / ``format_notice``)."""
    return [line.split("\t") for line in entry[b"decisions"].decode().split("\n")]


def entry_time_ms(entry_id: bytes | str) -> int:
    """The Redis clock (milliseconds) in a stream entry id: when the entry was added."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def notification_record(note: Notification) -> dict[str, Any]:
    """The JSON shape of a notification, as stored in the stream and sent out.
    ``quiet``: a resolution stored and shown but not sent to receivers (a TREND that
    resolved within ``quiet_resolve_seconds``); records written before the flag existed
    have no ``quiet`` and read as not quiet (``is_quiet``)."""
    return {
        "kind": note.kind,
        "inhibited": note.inhibited,
        "silenced": note.silenced,
        "quiet": note.quiet,
        "alert": note.alert._asdict(),
    }


def is_quiet(record: Mapping[str, Any]) -> bool:
    """Whether a stored notification record is a quiet resolution (older records, written
    without the flag, are not)."""
    return bool(record.get("quiet", False))


class LedgerCounters(NamedTuple):
    """A SKU's counters (units) after a committed batch, as the ledger stream tells them."""

    sku: str
    on_hand: int
    reserved: int
    sold: int
    version: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.sold


class LedgerEntry(NamedTuple):
    """One committed batch, as the ledger stream tells it (oldest entries first)."""

    entry_id: str
    epoch: int
    counters: tuple[LedgerCounters, ...]
    lines: tuple[tuple[str, str, LineRecord], ...]  # (sku, line field, record) changed


def decode_ledger_entry(entry_id: bytes | str, fields: Mapping[Any, Any]) -> LedgerEntry:
    """One entry of a partition's ledger log (written by the commit script) as a
    ``LedgerEntry``."""
    entry = {text(k): text(v) for k, v in fields.items()}
    counters = []
    ledgers = entry.get("ledgers", "").split("\t") if entry.get("ledgers") else []
    for sku, raw in zip(ledgers[::2], ledgers[1::2], strict=True):
        ledger = decode_ledger(sku, raw)
        counters.append(LedgerCounters(sku, ledger.on_hand, ledger.reserved, ledger.sold, ledger.version))
    lines = []
    values = entry.get("lines", "").split("\t") if entry.get("lines") else []
    for key, record in zip(values[::2], values[1::2], strict=True):
        sku, line_field = split_line_key(key)
        lines.append((sku, line_field, decode_record(record)))
    return LedgerEntry(text(entry_id), int(entry.get("epoch", "0")), tuple(counters), tuple(lines))


def ledger_counters_of(fields: Mapping[Any, Any], sku: str) -> LedgerCounters | None:
    """``sku``'s counters in one ledger log entry, or None when the batch did not change
    it (reads only the entry's ``ledgers`` field, not its line records)."""
    raw = fields.get(b"ledgers", fields.get("ledgers"))
    if not raw:
        return None
    values = text(raw).split("\t")
    for position in range(0, len(values) - 1, 2):
        if values[position] == sku:
            ledger = decode_ledger(sku, values[position + 1])
            return LedgerCounters(sku, ledger.on_hand, ledger.reserved, ledger.sold, ledger.version)
    return None


def text(value: object) -> str:
    """A Redis reply value as text (redis-py returns bytes or str by connection option)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def encode_alert(alert: Alert) -> str:
    return json.dumps(alert._asdict(), ensure_ascii=False)


def decode_alert(raw: str | bytes) -> Alert:
    return alert_of(json.loads(raw))


def alert_of(fields: Mapping[str, Any]) -> Alert:
    """An alert from its JSON fields (a stored alert, or a notification record's ``alert``)."""
    return Alert(**fields)


def encode_silence(silence: Silence) -> str:
    return json.dumps(silence._asdict())


def decode_silence(raw: str | bytes) -> Silence:
    return Silence(**json.loads(raw))


def encode_subscription(subscription: Subscription) -> str:
    return json.dumps({**subscription._asdict(), "secret": subscription.secret.decode()})


def decode_subscription(raw: str | bytes) -> Subscription:
    data = json.loads(raw)
    data["secret"] = data["secret"].encode()
    data["levels"] = tuple(data.get("levels", ()))
    return Subscription(**data)


def encode_notification(note: Notification) -> str:
    return json.dumps(notification_record(note), ensure_ascii=False)


def encode_order(recorded: RecordedOrder) -> str:
    """An order index value: JSON ``{"lines": [[sku, quantity, status, reason], ...],
    "accepted": bool, "reason": str, "failed_sku": str}`` (written once per decided order,
    on the ingest hot path: msgspec, the same text ``json.dumps`` would give, compact)."""
    return msgspec.json.encode(
        {
            "lines": recorded.lines,
            "accepted": recorded.accepted,
            "reason": recorded.reason,
            "failed_sku": recorded.failed_sku,
        }
    ).decode()


def decode_order(value: str) -> RecordedOrder:
    """An order index value; the older form (an accepted order's SKUs joined by commas,
    no quantities) reads as an accepted order whose quantities are unknown (0)."""
    if not value.startswith("{"):
        return RecordedOrder(tuple((sku, 0, "", "") for sku in value.split(",")), True)
    raw = msgspec.json.decode(value)
    lines = tuple((str(s), int(q), str(st), str(r)) for s, q, st, r in raw["lines"])
    return RecordedOrder(lines, bool(raw["accepted"]), str(raw["reason"]), str(raw["failed_sku"]))
