"""A batch's publication as one script call: the cancellation requests, the order index
records, the decisions entry, the dead letters, the counters, the acknowledgement of the
inbox entries read onto the pending list and the saved read position of the entries read
without it, from a few arguments (``PUBLISH_LUA``, ``publish_arguments``).

The saved position is a compare-and-set: a batch read in order (``InboxRange``) is
published only if its first entry is the first one after the saved position (checked
before anything is written; otherwise the script fails with ``INBOX_MOVED`` and writes
nothing), and then moves the position to its last entry. So a batch read by a second
reader of the channel (an actor Ray replaced that still runs), or read before a rewind,
is never published twice and never skips an entry no one decided.

Before, the publication was a transaction of its commands whose order index script
called ``HSETNX`` once per order: a thousand calls from Lua per batch, each costing Redis
more to dispatch than its write. Now one script call takes the records and the entry ids
as flat lists and writes the index with one ``HMGET`` and one ``HSET`` per 2,000 records
(``actors.ingest.order_index``); Redis has the same keys and values as before.

Crash and retry. A script runs whole before any other command, and Redis propagates its
writes to the append-only file and to replicas as one ``MULTI``/``EXEC``: a crash leaves
all of it or none of it, so the inbox entries it acknowledges stay pending until it is
applied. It is sent inside ``actors.infra.atomic_write`` (every key shares the channel's
hash tag: one slot on a Redis Cluster, then ``WAIT`` for a replica), never again after an
unknown outcome (it would publish twice). A command that fails as the script runs (a key
of the wrong type: a defect) stops it there; the writes before it stay, as a command
failing inside ``MULTI`` left the others applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from actors.infra.keys import ChannelKeys
from actors.ingest.order_index import RECORD_ORDERS_LUA, IndexWrite, index_write
from policies.orders import RecordedOrder

#: KEYS: inbox, decisions, dead letters, cancellation requests, counters, the index window,
#: the list of windows, the read position. ARGV: consumer group, stream length bound, the
#: decisions entry's text ('' for none), the window's expiry, the writer's clock, then how
#: many counters, dead letters, cancellation requests and index records follow, how many
#: values (field and value) a dead letter and a cancellation request each have, the first
#: and last entry of the range read in order ('' and '' for none), then those (a counter:
#: name, increment; a dead letter or a cancellation request: its field-value pairs; a
#: record: order id, record) and last the inbox entry ids to acknowledge. Written in the
#: order the transaction before wrote them; the position is checked before anything is
#: written and moved last; entries of the range still on the pending list are acknowledged.
PUBLISH_LUA = (
    RECORD_ORDERS_LUA
    + """
local group, maxlen = ARGV[1], ARGV[2]
local counters, letters = tonumber(ARGV[6]), tonumber(ARGV[7])
local cancels, records = tonumber(ARGV[8]), tonumber(ARGV[9])
local letter_width, cancel_width = tonumber(ARGV[10]), tonumber(ARGV[11])
local first, last = ARGV[12], ARGV[13]
if first ~= '' then
  local saved = redis.call('HGET', KEYS[8], 'id')
  if saved then
    local after = redis.call('XRANGE', KEYS[1], '(' .. saved, '+', 'COUNT', 1)
    if #after == 0 or after[1][1] ~= first then
      return redis.error_reply('INBOX_MOVED the inbox was decided up to ' .. saved ..
        ', and this batch does not start with the entry after it: ' .. first)
    end
  end
end
local at = 14
if first ~= '' then
  -- entries of the range another reader holds on the pending list (read before a position
  -- was saved) are decided by this batch: they leave the pending list, never to be decided
  -- a second time through it
  local held = redis.call('XPENDING', KEYS[1], group, first, last, 100000)
  for _, entry in ipairs(held) do redis.call('XACK', KEYS[1], group, entry[1]) end
end
for _ = 1, cancels do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, at, at + cancel_width - 1))
  at = at + cancel_width
end
local letters_at = at
at = at + letter_width * letters
local counters_at = at
at = at + 2 * counters
if records > 0 then
  record_orders(KEYS[6], KEYS[7], ARGV[4], ARGV[5], at, at + 2 * records - 1)
  at = at + 2 * records
end
if ARGV[3] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'decisions', ARGV[3])
end
for n = 0, letters - 1 do
  local i = letters_at + n * letter_width
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, i, i + letter_width - 1))
end
for i = counters_at, counters_at + 2 * counters - 1, 2 do
  redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1])
end
while at <= #ARGV do
  local e = math.min(at + 3999, #ARGV)
  redis.call('XACK', KEYS[1], group, unpack(ARGV, at, e))
  at = e + 1
end
if first ~= '' then
  local read = ''
  for _, fields in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local info = {}
    for i = 1, #fields - 1, 2 do info[fields[i]] = fields[i + 1] end
    if info['name'] == group and info['last-delivered-id'] == last and info['entries-read'] then
      read = info['entries-read']
    end
  end
  redis.call('HSET', KEYS[8], 'id', last, 'read', read)
end
return 0
"""
)

#: the number of KEYS of ``PUBLISH_LUA``
PUBLISH_KEYS = 8
#: the start of the error ``PUBLISH_LUA`` fails with when the read position moved
INBOX_MOVED = "INBOX_MOVED"


def publish_arguments(
    keys: ChannelKeys,
    group: str,
    stream_maxlen: int,
    decisions: str,
    *,
    counts: Mapping[str, int],
    dead_letters: Sequence[Mapping[str, str]],
    cancellations: Sequence[Mapping[str, str]],
    order_index: Mapping[str, RecordedOrder],
    acknowledged: Sequence[str],
    read_range: tuple[str, str] | None = None,
    now: float,
    retention_seconds: float,
) -> list[str | int]:
    """The keys and arguments of ``PUBLISH_LUA`` (after its ``numkeys``): ``decisions``
    is the decisions entry's text ('' for none), dead letters and cancellation requests
    are their stream fields; ``read_range`` the first and last inbox entry of a batch read
    in order after the saved position (which it then moves)."""
    index: IndexWrite = index_write(keys, order_index, now, retention_seconds)
    arguments: list[str | int] = [
        keys.inbox,
        keys.decisions,
        keys.dead,
        keys.cancellations,
        keys.stats,
        index.window,
        index.windows,
        keys.position,
        group,
        stream_maxlen,
        decisions,
        index.expires_at,
        index.now,
        len(counts),
        len(dead_letters),
        len(cancellations),
        len(order_index),
        _width(dead_letters),
        _width(cancellations),
        *(read_range or ("", "")),
    ]
    arguments += _pairs(cancellations)
    arguments += _pairs(dead_letters)
    for name, value in counts.items():
        arguments += (name, value)
    arguments += index.fields
    arguments += acknowledged
    return arguments


def _width(entries: Sequence[Mapping[str, str]]) -> int:
    """How many values (field and value) each of ``entries`` has: the script steps by it,
    so entries of one kind must all have the same fields."""
    widths = {2 * len(fields) for fields in entries}
    if len(widths) > 1:
        raise ValueError(f"stream entries of one kind with different fields: {sorted(widths)} values")
    return widths.pop() if widths else 0


def _pairs(entries: Iterable[Mapping[str, str]]) -> list[str]:
    return [part for fields in entries for pair in fields.items() for part in pair]
