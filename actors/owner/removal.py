"""Removing a SKU from Redis: one script on the SKU's partition, fenced like a commit
(``OwnerStore.remove_sku``), through ``actors.infra.atomic_write`` (on a Redis Cluster,
acknowledged once a replica has it too).

It deletes the SKU's ledger, settings and oversold counts and appends an entry naming
the removal to the partition's log (``epoch``, empty ``lines`` and ``ledgers``,
``removed``: the SKU), all at once. The owner removes a SKU only when it has no open
reservation; the SKU's line records stay in their buckets until the retention window
expires them (a redelivered order of the removed SKU still gets its first decision).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import redis

from actors.infra.atomic_write import atomic_write
from actors.infra.redis_client import RedisClient
from actors.owner.batch import FENCE_LUA, raise_if_fenced
from policies.operations import FIELD_SEPARATOR

if TYPE_CHECKING:
    from actors.owner.store import LedgerStore

# KEYS: fence, state, settings, oversold, log. ARGV: epoch, shards, sku, log MINID.
_REMOVE_LUA = (
    FENCE_LUA
    + r"""
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
local prefix = ARGV[3] .. ARGV[5]
for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
  if string.sub(field, 1, #prefix) == prefix then
    redis.call('HDEL', KEYS[4], field)
  end
end
redis.call('XADD', KEYS[5], 'MINID', '~', ARGV[4], '*', 'epoch', ARGV[1],
           'lines', '', 'ledgers', '', 'removed', ARGV[3])
return 1
"""
)


def remove_sku(client: RedisClient, layout: LedgerStore, epoch: int, sku: str) -> None:
    """Remove ``sku`` unless its partition's fence refuses ``epoch`` (``OwnerFencedError``)."""
    k = layout.keys_of(sku)
    min_id = max(0, int((time.time() - layout.config.retention_seconds) * 1000))
    args = [k.fence, k.state, k.settings, k.oversold, k.log]
    args += [str(epoch), str(layout.config.shard_count), sku, str(min_id), FIELD_SEPARATOR]
    try:
        # repeatable: the deletions are idempotent, and a second removal entry in the
        # log removes a removed SKU again (the owner's epoch still passes the fence)
        atomic_write(client, k.fence, lambda pipe: pipe.eval(_REMOVE_LUA, 5, *args), repeatable=True)
    except redis.exceptions.ResponseError as error:
        raise_if_fenced(error)
        raise
