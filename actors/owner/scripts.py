"""The Lua scripts of the owners' store (``actors.owner.store``): each declares every key
it touches (``KEYS``), all of one partition, so each runs in one Redis Cluster slot."""

from __future__ import annotations

from actors.owner.batch import FENCE_LUA

# KEYS: fence, state, settings, oversold, open, lines bucket, log. ARGV: epoch, shards,
# bucket EXPIREAT, log MINID, the log's ledgers and lines, then six counts of values
# (state, settings, oversold, open HSET, open HDEL, lines) and the values.
# Lua's unpack() is limited to a few thousand values; commands go in chunks.
COMMIT_LUA = (
    FENCE_LUA
    + r"""
local function apply(command, key, first, count)
  local last = first + count - 1
  local s = first
  while s <= last do
    local e = math.min(s + 3999, last)
    redis.call(command, key, unpack(ARGV, s, e))
    s = e + 1
  end
end
local targets = {{'HSET', 2}, {'HSET', 3}, {'HSET', 4}, {'HSET', 5}, {'HDEL', 5}, {'HSET', 6}}
local i = 13
for t = 1, 6 do
  local count = tonumber(ARGV[6 + t])
  if count > 0 then
    apply(targets[t][1], KEYS[targets[t][2]], i, count)
  end
  i = i + count
end
if tonumber(ARGV[12]) > 0 then
  redis.call('EXPIREAT', KEYS[6], ARGV[3])
end
redis.call('XADD', KEYS[7], 'MINID', '~', ARGV[4], '*', 'epoch', ARGV[1],
           'ledgers', ARGV[5], 'lines', ARGV[6])
return 1
"""
)

# KEYS: fence. ARGV: epoch, shards. Take the partition for the epoch unless the
# deployment was resharded or a newer epoch holds it.
TAKE_LUA = r"""
local fence = redis.call('HMGET', KEYS[1], 'epoch', 'shards')
if fence[2] and fence[2] ~= ARGV[2] then
  return 0
end
if fence[1] and tonumber(fence[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
return 1
"""


# KEYS: fence. ARGV: shards. Hand the partition to the layout of ARGV[1] shards, unless
# it is in it already.
RESHARD_LUA = r"""
if redis.call('HGET', KEYS[1], 'shards') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'shards', ARGV[1])
  redis.call('HDEL', KEYS[1], 'epoch')
end
return 1
"""
