"""Removing a SKU from Redis: one script, fenced like a commit (``OwnerStore.remove_sku``).

It deletes the SKU's state, line records and oversold counts, takes it out of the
catalogue set and appends an entry naming the removal to the ledger stream (``epoch``,
empty ``lines`` and ``ledgers``, ``removed``: the SKU), all at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis

from actors.infra.redis_client import RedisClient
from actors.owner.batch import fence_lua, raise_if_fenced

if TYPE_CHECKING:
    from actors.owner.store import LedgerStore

_REMOVE_LUA = (
    fence_lua(epoch_key=1, epoch=2, layout_key=3, shards=4)
    + r"""
redis.call('DEL', ARGV[8], ARGV[9], ARGV[10])
redis.call('SREM', ARGV[5], ARGV[11])
redis.call('XADD', ARGV[6], 'MAXLEN', '~', ARGV[7], '*', 'epoch', ARGV[2],
           'lines', '', 'ledgers', '', 'removed', ARGV[11])
return 1
"""
)


def remove_sku(client: RedisClient, layout: LedgerStore, epoch: int, index: int, sku: str) -> None:
    """Remove ``sku`` unless owner ``index`` at ``epoch`` is fenced (``OwnerFencedError``)."""
    args = [
        layout.epoch_key(index),
        str(epoch),
        layout.layout_key,
        str(layout.config.shard_count),
        layout.skus_key,
        layout.ledger_stream,
        str(layout.config.ledger_stream_maxlen),
        layout.state_key(sku),
        layout.lines_key(sku),
        layout.oversold_key(sku),
        sku,
    ]
    try:
        client.eval(_REMOVE_LUA, 0, *args)
    except redis.exceptions.ResponseError as error:
        raise_if_fenced(error)
        raise
