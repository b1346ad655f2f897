"""Moving SKU ownership to another shard count (a node joined: restart with more shards).

Ownership is ``owner_of(sku, shard_count)``: owner ``i`` holds the partitions ``p`` with
``p % shard_count == i``, so a new shard count moves whole partitions between owners
(never a key: ``docs/storage.md``). The handoff keeps one writer per SKU throughout:

1. every owner of the old layout that is still running is retired: it stops taking
   calls and commits everything it has queued (flush), then leaves;
2. the layout key (``ns:layout``) and every partition's fence are set to the new shard
   count: from then on the commit script refuses any owner of another shard count
   (fenced), including one that could not be reached in step 1 (a partitioned node) and
   comes back later;
3. only then do the new owners start, each loading its SKUs from Redis.

Crash and retry: a crash between the steps leaves either the old layout (step 2 not
done: run the handoff again) or the new one with some owners not started (start them
again); the order of steps 1-3 makes every interleaving safe. Callers of an old owner
get an error for calls the owner had not queued before it retired; resending them to the
new owners is safe, because decisions are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import ray
import structlog

from actors.infra import directory
from actors.infra.redis_client import connect
from actors.infra.settings import StoreConfig
from actors.owner.store import LedgerStore

log = structlog.get_logger(__name__)


def prepare_layout(config: StoreConfig, owner_name: Callable[[StoreConfig, int], str]) -> None:
    """Retire the running owners of another layout, if the deployment had one, and make
    ``config``'s shard count the layout. ``owner_name`` names an owner actor (it lives in
    ``actors.owner.client``, which calls this)."""
    client = connect(config.redis_url, socket_timeout=30.0)
    try:
        store = LedgerStore(config)
        old = store.layout(client)
        if old is not None and old != config.shard_count:
            old_config = replace(config, shard_count=old)
            retired = 0
            for index in range(old):
                name = owner_name(old_config, index)
                actor = directory.find(name)
                if actor is None:
                    continue  # not running (the usual case after a restart)
                ray.get(actor.retire.remote())
                ray.kill(actor, no_restart=True)
                retired += 1
            log.info(
                "layout_handed_over",
                namespace=config.namespace,
                old_shards=old,
                new_shards=config.shard_count,
                retired_owners=retired,
            )
        store.set_layout(client)
    finally:
        client.close()
