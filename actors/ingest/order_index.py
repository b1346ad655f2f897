"""A channel's order index (order id -> the order as first decided), kept for the
retention window and no longer: what payments and cancels that name only an order, and a
redelivered order, find its first decision in.

The index is split into **windows** of ``retention_seconds`` of the ingest's clock:
window ``w = now // retention_seconds`` is the hash ``{ns:ch:<channel>}:orders:<w>``,
which expires (``EXPIREAT``) at the end of window ``w + 1``. An order is written (once,
``HSETNX``) into the current window, so it stays findable for at least one retention
window and at most two; Redis memory follows the orders of the last two windows, not
every order ever taken. A lookup reads the windows ``w - 1``, ``w`` and ``w + 1`` (the
last for a process whose clock runs a little behind another's at a window's end) and the
unsplit hash ``{ns:ch:<channel>}:orders`` that versions before wrote, which is given the
window as its time to live when a store first connects; the oldest record of an order
wins (its first decision). The lookup is one script call that sends the ids once and
answers only the records found: most orders of a batch are new, and four replies of a
thousand empty values cost the ingest three times what the lookup costs Redis.

The window's length may change (the operator sets ``retention_seconds``): windows are then
numbered on another grid, and ``w - 1 .. w + 1`` would miss the orders written before, so
a redelivered order would be decided afresh. So each window is also listed in
``{ns:ch:<channel>}:orders:windows`` (window key -> ``"<first written> <expires_at>"``,
epoch seconds: a longer window may start before a shorter one written earlier, so windows
are aged by their first write), written by the same script; a lookup reads the list with
the three windows and, when it names another live window (only after a change), reads
that one too in a second round trip. A window keeps the expiry it was written with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actors.infra.codec import decode_order, encode_order, text
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient
from policies.orders import RecordedOrder

#: Records orders in one window of the index (KEYS[1]; ARGV: its expiry in epoch seconds,
#: the writer's clock, then order id, record, ...), each only where its id has
#: none (HSETNX), and keeps the window's expiry: one command per batch instead of one per
#: order, whose packing and reply cost the ingest more than the write costs Redis. A
#: window new to the list of windows (KEYS[2]) is listed; the list then forgets the
#: windows expired and expires with the last live one.
RECORD_ORDERS_LUA = """
for i = 3, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
if redis.call('HSETNX', KEYS[2], KEYS[1], ARGV[2] .. ' ' .. ARGV[1]) == 1 then
  local latest = tonumber(ARGV[1])
  local listed = redis.call('HGETALL', KEYS[2])
  for j = 1, #listed, 2 do
    local expires = tonumber(string.match(listed[j + 1], '(%S+)$'))
    if expires <= tonumber(ARGV[2]) then
      redis.call('HDEL', KEYS[2], listed[j])
    elseif expires > latest then
      latest = expires
    end
  end
  redis.call('EXPIREAT', KEYS[2], latest)
end
return 0
"""


#: Looks orders up in the index (module docstring). KEYS[1]: the list of windows, then the
#: hashes to read; ARGV: the order ids. Answers the list of windows (``HGETALL``) and, for
#: every record found, the position of its hash among KEYS[2..] and of its id in ARGV
#: (both from 1) and the record. ``unpack`` is limited to a few thousand values, so the
#: ids go to ``HMGET`` in chunks.
LOOKUP_ORDERS_LUA = """
local found = {}
for k = 2, #KEYS do
  local s = 1
  while s <= #ARGV do
    local e = math.min(s + 3999, #ARGV)
    local values = redis.call('HMGET', KEYS[k], unpack(ARGV, s, e))
    for i = 1, #values do
      if values[i] then
        found[#found + 1] = k - 1
        found[#found + 1] = s + i - 1
        found[#found + 1] = values[i]
      end
    end
    s = e + 1
  end
end
return {redis.call('HGETALL', KEYS[1]), found}
"""


def window_of(now: float, retention_seconds: float) -> int:
    """The index window of ``now`` (epoch seconds)."""
    return int(now // retention_seconds)


def windows_to_read(now: float, retention_seconds: float) -> tuple[int, int, int]:
    """The windows a lookup at ``now`` reads, oldest first."""
    current = window_of(now, retention_seconds)
    return current - 1, current, current + 1


def window_expires_at(window: int, retention_seconds: float) -> int:
    """When window ``window``'s hash expires (epoch seconds): the end of the next window."""
    return int((window + 2) * retention_seconds)


def window_key(keys: ChannelKeys, window: int) -> str:
    return f"{keys.orders}:{window}"


def windows_key(keys: ChannelKeys) -> str:
    """The list of the index's windows (module docstring)."""
    return f"{keys.orders}:windows"


def current_window(now: float, retention_seconds: float) -> tuple[float, int]:
    """The start and the expiry (epoch seconds) of the window records are written into at
    ``now``: one window's identity, whatever its length."""
    window = window_of(now, retention_seconds)
    return window * retention_seconds, window_expires_at(window, retention_seconds)


def live_windows(listed: Mapping[Any, Any], now: float) -> dict[str, float]:
    """The windows of a list of windows (window key -> ``"<first written> <expires_at>"``)
    that have not expired at ``now``, with when each was first written."""
    live: dict[str, float] = {}
    for name, value in listed.items():
        written, expires_at = text(value).split()
        if float(expires_at) > now:
            live[text(name)] = float(written)
    return live


def read_recorded(
    client: RedisClient, keys: ChannelKeys, order_ids: Sequence[str], now: float, retention_seconds: float
) -> dict[str, RecordedOrder]:
    """The first decisions of the orders among ``order_ids`` still in the index."""
    if not order_ids:
        return {}
    ids = list(order_ids)
    # the age of each window read: the unsplit index of versions before is the oldest; a
    # window not listed (written before the list was kept) is as old as its start
    ages = {keys.orders: float("-inf")}
    ages |= {window_key(keys, w): w * retention_seconds for w in windows_to_read(now, retention_seconds)}
    names = list(ages)
    listed, hits = _lookup(client, keys, names, ids)
    live = live_windows(_pairs(listed), now)
    others = [name for name in live if name not in ages]
    if others:  # windows of another length (the retention changed): a second round trip
        _, more = _lookup(client, keys, others, ids)
        hits += [(len(names) + position, index, raw) for position, index, raw in more]
        names += others
    ages |= live
    found: dict[str, RecordedOrder] = {}
    # oldest window first: the first record of an order wins
    for _, index, raw in sorted(hits, key=lambda hit: (ages[names[hit[0]]], hit[0])):
        order_id = ids[index]
        if order_id not in found:
            found[order_id] = decode_order(text(raw))
    return found


def _lookup(
    client: RedisClient, keys: ChannelKeys, names: Sequence[str], ids: Sequence[str]
) -> tuple[list[Any], list[tuple[int, int, Any]]]:
    """The list of windows and ``(position in names, position in ids, record)`` of every
    record of ``ids`` in the hashes ``names`` (one ``LOOKUP_ORDERS_LUA`` call)."""
    reply: Any = client.eval(LOOKUP_ORDERS_LUA, 1 + len(names), windows_key(keys), *names, *ids)
    listed, flat = reply
    cells = iter(flat)
    return listed, [(int(k) - 1, int(i) - 1, raw) for k, i, raw in zip(cells, cells, cells, strict=True)]


def _pairs(flat: Sequence[Any]) -> dict[Any, Any]:
    """A flat ``HGETALL`` reply as a mapping."""
    cells = iter(flat)
    return dict(zip(cells, cells, strict=True))


def queue_records(
    pipe: Any, keys: ChannelKeys, records: Mapping[str, RecordedOrder], now: float, retention_seconds: float
) -> None:
    """Queue the writes of ``records`` into the current window (in the caller's
    transaction): a record is never overwritten; the window keeps its expiry."""
    if not records:
        return
    window = window_of(now, retention_seconds)
    fields = [part for order_id, recorded in records.items() for part in (order_id, encode_order(recorded))]
    expires_at = window_expires_at(window, retention_seconds)
    pipe.eval(
        RECORD_ORDERS_LUA, 2, window_key(keys, window), windows_key(keys), expires_at, repr(now), *fields
    )


def bound_unsplit_index(client: RedisClient, keys: ChannelKeys, retention_seconds: float) -> None:
    """Give the unsplit index of versions before a time to live of one window if it has
    none, so it is gone once every order in it is older than the window. Idempotent."""
    if int(client.ttl(keys.orders)) == -1:  # -2: no such key; >= 0: already bounded
        client.expire(keys.orders, int(retention_seconds))
