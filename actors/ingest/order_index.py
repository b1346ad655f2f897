"""A channel's order index (order id -> the order as first decided), kept for the
retention window and no longer: what payments and cancels that name only an order, and a
redelivered order, find its first decision in.

The index is split into **windows** of ``retention_seconds`` of the ingest's clock:
window ``w = now // retention_seconds`` is the hash ``{ns:ch:<channel>}:orders:<w>``,
which expires (``EXPIREAT``) at the end of window ``w + 1``. An order is written once
(only where its id has no record) into the current window, so it stays findable for at
least one retention window and at most two; Redis memory follows the orders of the last
two windows, not every order ever taken. A lookup reads the windows ``w - 1``, ``w`` and ``w + 1`` (the
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
are aged by their first write), written by the same script (the ingest's publication); a
lookup reads the list with the three windows and, when it names another live window (only
after a change), reads that one too in a second round trip. A window keeps the expiry it
was written with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from actors.infra.codec import decode_order, encode_order, text
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient
from policies.orders import RecordedOrder

#: Lua: records orders in one window of the index (``window``), each only where its id
#: has none, from ``ARGV[first .. last]`` (order id, record, ...), and keeps the window's
#: expiry (``expires_at``, epoch seconds; ``now``: the writer's clock). The ids already
#: recorded are found with one ``HMGET`` per chunk and the others written with one
#: ``HSET``: the same as one ``HSETNX`` call per order, which cost Redis 3.4-4.5 against
#: 2.2-2.7 us per record, the network and the append-only file included. A window new
#: to the list of windows (``windows``) is listed; the list then forgets the windows
#: expired and expires with the last live one. Defined as a local function for the
#: publication script (``actors.ingest.publish_script``); ``unpack`` is limited to a few
#: thousand values, hence the chunks.
RECORD_ORDERS_LUA = """
local function record_orders(window, windows, expires_at, now, first, last)
  for s = first, last, 4000 do
    local e = math.min(s + 3999, last)
    local ids = {}
    for i = s, e, 2 do
      ids[#ids + 1] = ARGV[i]
    end
    local recorded = redis.call('HMGET', window, unpack(ids))
    local fresh = {}
    for j = 1, #ids do
      if not recorded[j] then
        fresh[#fresh + 1] = ids[j]
        fresh[#fresh + 1] = ARGV[s + 2 * j - 1]
      end
    end
    if #fresh > 0 then
      redis.call('HSET', window, unpack(fresh))
    end
  end
  redis.call('EXPIREAT', window, expires_at)
  if redis.call('HSETNX', windows, window, now .. ' ' .. expires_at) == 1 then
    local latest = tonumber(expires_at)
    local listed = redis.call('HGETALL', windows)
    for j = 1, #listed, 2 do
      local expires = tonumber(string.match(listed[j + 1], '(%S+)$'))
      if expires <= tonumber(now) then
        redis.call('HDEL', windows, listed[j])
      elseif expires > latest then
        latest = expires
      end
    end
    redis.call('EXPIREAT', windows, latest)
  end
end
"""


#: Looks orders up in the index (module docstring). KEYS[1]: the list of windows, then the
#: hashes to read; ARGV: the order ids. Answers the list of windows (``HGETALL``) and, for
#: every record found, the position of its hash among KEYS[2..] and of its id in ARGV
#: (both from 1) and the record. ``unpack`` is limited to a few thousand values, so the
#: ids go to ``HMGET`` in chunks; a hash that does not exist (most of the four, most of
#: the time) is not read: an ``HMGET`` of thousands of ids on it cost Redis as much as
#: one on a hash that holds them.
LOOKUP_ORDERS_LUA = """
local found = {}
for k = 2, #KEYS do
  local s = 1
  if redis.call('EXISTS', KEYS[k]) == 0 then s = #ARGV + 1 end
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


class IndexWrite(NamedTuple):
    """The arguments of ``record_orders`` (``RECORD_ORDERS_LUA``) for one batch: the
    window's key, the list of windows, the window's expiry (epoch seconds), the writer's
    clock and the records as ``[order id, record, ...]``."""

    window: str
    windows: str
    expires_at: int
    now: str
    fields: list[str]


def index_write(
    keys: ChannelKeys, records: Mapping[str, RecordedOrder], now: float, retention_seconds: float
) -> IndexWrite:
    """The write of ``records`` into the current window: a record is never overwritten;
    the window keeps its expiry."""
    window = window_of(now, retention_seconds)
    fields = [part for order_id, recorded in records.items() for part in (order_id, encode_order(recorded))]
    return IndexWrite(
        window_key(keys, window),
        windows_key(keys),
        window_expires_at(window, retention_seconds),
        repr(now),
        fields,
    )


def bound_unsplit_index(client: RedisClient, keys: ChannelKeys, retention_seconds: float) -> None:
    """Give the unsplit index of versions before a time to live of one window if it has
    none, so it is gone once every order in it is older than the window. Idempotent."""
    if int(client.ttl(keys.orders)) == -1:  # -2: no such key; >= 0: already bounded
        client.expire(keys.orders, int(retention_seconds))
