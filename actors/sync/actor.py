"""The Ray actor around ``ChannelSync``: a loop thread that tails the ledger stream.

The composition root of the sync's process: it builds the Redis store from the
``StoreConfig`` and passes it to the plain ``ChannelSync``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import ray
import structlog

from actors.infra.directory import actor_options, sync_name
from actors.infra.logging import configure_logging
from actors.infra.settings import StoreConfig
from actors.sync.core import ChannelSync
from actors.sync.store import RedisSyncStore

log = structlog.get_logger(__name__)


class ChannelSyncService:
    def __init__(self, config: StoreConfig, shares: Mapping[str, float], **options: Any) -> None:
        configure_logging()
        self.store = RedisSyncStore(config)
        self.sync = ChannelSync(self.store, shares, **options)
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._run, name="channel-sync", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync.step(block_ms=20)
            except Exception:
                log.exception("channel_sync_step_failed")
                self._stop.wait(0.5)

    def visible(self, sku: str) -> dict[str, int]:
        """What the policy gives each channel for ``sku`` right now."""
        return self.sync.visible_for(sku)

    def stop(self) -> None:
        self._stop.set()
        self._loop.join(timeout=10)


# ray's stubs for ray.remote omit the actor options (max_concurrency)
ChannelSyncActor = ray.remote(max_restarts=-1, max_concurrency=2)(ChannelSyncService)  # type: ignore[call-overload]


def start_channel_sync(
    config: StoreConfig, shares: Mapping[str, float], *, detached: bool = False, **options: Any
) -> Any:
    """Start (or find) the deployment's ChannelSync actor."""
    actor = ChannelSyncActor.options(**actor_options(sync_name(config), detached=detached)).remote(
        config, shares, **options
    )
    ray.get(actor.visible.remote(""))
    return actor
