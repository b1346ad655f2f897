"""The Redis keys of the previous layout (before partitions and hash tags per component,
commit dcc225d), and the name each takes in the current one (``actors.infra.keys``).
``actors.upgrade`` finds them (the start guard) and moves them (``flashstock migrate``).

Old layout (``ns`` the namespace, ``<x>`` a value):

- ``ns:skus``                      set: the catalogue
- ``ns:sku:{<sku>}:state``         hash: on_hand, reserved, sold, version, held, inbound,
                                   settings
- ``ns:sku:{<sku>}:lines``         hash: line field -> record
- ``ns:sku:{<sku>}:oversold``      hash: channel -> orders
- ``ns:ledger``                    stream: the audit trail of committed batches
- channels: ``ns:in:<c>``, ``ns:decisions:<c>``, ``ns:dead:<c>``, ``ns:orders:<c>``,
  ``ns:ingest-stats:<c>``, ``ns:cancel-requests:<c>``
- sync and grants: ``ns:visible:<c>``, ``ns:visible-changes``, ``ns:grants:book``,
  ``ns:grants:headroom``, ``ns:grant-updates:<c>``, ``ns:grant-answers:<c>``
- alerts: ``ns:alerts``, ``ns:alerts:open``, ``ns:alerts:silences``,
  ``ns:alerts:subscriptions``, ``ns:webhook-dead:<id>``

Unchanged, so not listed here: ``ns:layout`` and ``ns:epoch:<shards>:<index>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from actors.infra import keys

#: what the old ledger stream is renamed to: kept as an audit trail that nothing reads
LEGACY_LEDGER_SUFFIX = "legacy-ledger"

_SKU_PARTS = ("state", "lines", "oversold")


class LegacyKey(NamedTuple):
    """One key of the old layout: the catalogue set, a SKU's owner data (``sku``: moved
    into its partition's hashes) or a key renamed as it is to ``target``."""

    key: str
    sku: str = ""
    target: str = ""

    @property
    def is_catalogue(self) -> bool:
        return not self.sku and not self.target


def skus(ns: str) -> str:
    return f"{ns}:skus"


def sku_key(ns: str, sku: str, part: str) -> str:
    """``part`` (state, lines, oversold) of ``sku``'s old keys."""
    return f"{ns}:sku:{{{sku}}}:{part}"


def ledger_stream(ns: str) -> str:
    return f"{ns}:ledger"


def legacy_ledger(ns: str) -> str:
    """Where ``flashstock migrate`` keeps the old ledger stream."""
    return f"{ns}:{LEGACY_LEDGER_SUFFIX}"


def scan_pattern(ns: str) -> str:
    """A SCAN MATCH pattern covering every old key of ``ns`` (and the unchanged global
    ones, which ``classify`` leaves out)."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in ns)
    return f"{escaped}:*"


#: old name after ``ns:`` -> new name, for the keys that carry no value in their name
_FIXED: dict[str, Callable[[str], str]] = {
    "visible-changes": keys.visible_changes,
    "grants:book": keys.grant_book,
    "grants:headroom": keys.grant_headroom,
    "alerts": keys.alert_stream,
    "alerts:open": keys.open_alerts,
    "alerts:silences": keys.silences,
    "alerts:subscriptions": keys.subscriptions,
    "ledger": legacy_ledger,
}

#: old prefix after ``ns:`` -> new name of the value that follows it (a channel, an id)
_BY_VALUE: dict[str, Callable[[str, str], str]] = {
    "in:": lambda ns, c: keys.ChannelKeys.of(ns, c).inbox,
    "decisions:": lambda ns, c: keys.ChannelKeys.of(ns, c).decisions,
    "dead:": lambda ns, c: keys.ChannelKeys.of(ns, c).dead,
    "orders:": lambda ns, c: keys.ChannelKeys.of(ns, c).orders,
    "ingest-stats:": lambda ns, c: keys.ChannelKeys.of(ns, c).stats,
    "cancel-requests:": lambda ns, c: keys.ChannelKeys.of(ns, c).cancellations,
    "visible:": keys.visible,
    "grant-updates:": keys.grant_updates,
    "grant-answers:": keys.grant_answers,
    "webhook-dead:": keys.webhook_dead,
}


def fixed_keys(ns: str) -> list[str]:
    """The old keys that carry no value in their name (the catalogue set aside)."""
    return [f"{ns}:{rest}" for rest in _FIXED]


def classify(ns: str, key: str) -> LegacyKey | None:
    """``key`` as a key of the old layout of ``ns``, or None when it is not one (a key
    of the current layout, another namespace's, or an unchanged global key)."""
    prefix = f"{ns}:"
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if rest == "skus":
        return LegacyKey(key)
    if rest.startswith("sku:{") and "}:" in rest:
        sku, _, part = rest[len("sku:{") :].rpartition("}:")
        return LegacyKey(key, sku=sku) if part in _SKU_PARTS else None
    fixed = _FIXED.get(rest)
    if fixed is not None:
        return LegacyKey(key, target=fixed(ns))
    for old, new in _BY_VALUE.items():
        if rest.startswith(old) and len(rest) > len(old):
            return LegacyKey(key, target=new(ns, rest[len(old) :]))
    return None
