"""The Ray actor around ``ChannelSync``: a loop thread that tails the ledger stream.

The composition root of the sync's process: it builds the Redis store from the
``StoreConfig`` and passes it to the plain ``ChannelSync``."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray
import structlog

from actors.infra.directory import actor_options, owner_handles, sync_name
from actors.infra.logging import configure_logging
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from actors.sync.core import ChannelSync
from actors.sync.grant_store import RedisGrantStore
from actors.sync.grants import GrantSync
from actors.sync.store import RedisSyncStore

log = structlog.get_logger(__name__)


class ChannelSyncService:
    def __init__(
        self,
        config: StoreConfig,
        shares: Mapping[str, float],
        platforms: Sequence[str] = (),
        **options: Any,
    ) -> None:
        configure_logging()
        #: when this incarnation started (wall clock): a restart is told by a later one
        self.started_wall = time.time()
        self.store = RedisSyncStore(config)
        self.sync = ChannelSync(self.store, shares, **options)
        #: the grant protocol for the platform-first platforms (none: visible counts only);
        #: its grants are held at the SKUs' owners, through a client of its own
        self.owners = StockClient(config, owner_handles(config)) if platforms else None
        self.grants = (
            GrantSync(RedisSyncStore(config), RedisGrantStore(config), self.owners, shares, platforms)
            if self.owners is not None
            else None
        )
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._run, name="channel-sync", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync.step(block_ms=20)
                if self.grants is not None:
                    self.grants.step(block_ms=0)
            except Exception:
                log.exception("channel_sync_step_failed")
                self._stop.wait(0.5)

    def visible(self, sku: str) -> dict[str, int]:
        """What the policy gives each channel for ``sku`` right now."""
        return self.sync.visible_for(sku)

    def stats(self) -> dict[str, Any]:
        """When this incarnation started, and whether it runs the grant protocol."""
        return {"started_wall": self.started_wall, "grants": self.grants is not None}

    def grant_headroom(self) -> dict[str, int]:
        """Per SKU, ``on_hand - reserved - sold - sum(granted - consumed)`` (>= 0 while the
        grant invariant holds); empty without platform-first platforms."""
        return self.grants.headroom() if self.grants is not None else {}

    def stop(self) -> None:
        self._stop.set()
        self._loop.join(timeout=10)
        if self.owners is not None:
            self.owners.close()


# ray's stubs for ray.remote omit the actor options (max_concurrency)
ChannelSyncActor = ray.remote(max_restarts=-1, max_concurrency=2)(ChannelSyncService)  # type: ignore[call-overload]


def start_channel_sync(
    config: StoreConfig,
    shares: Mapping[str, float],
    platforms: Sequence[str] = (),
    *,
    detached: bool = False,
    **options: Any,
) -> Any:
    """Start (or find) the deployment's ChannelSync actor; ``platforms`` are the
    platform-first channels it runs the grant protocol for."""
    actor = ChannelSyncActor.options(**actor_options(sync_name(config), detached=detached)).remote(
        config, shares, list(platforms), **options
    )
    ray.get(actor.visible.remote(""))
    return actor
