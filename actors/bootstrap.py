"""Bring up a whole flashstock deployment on a running Ray: the one place that builds
the components and hands out their handles.

Order matters: the forecaster first (owners tell it every durable batch), then the SKU
owners (each loads its shard from Redis and takes a new fencing epoch), then one ingest
actor per channel (they route to the owners) and the channel sync (it follows the
ledger). Every actor is named in ``actors.infra.directory``, so starting again finds the
running ones instead of starting twice (idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import ray

from actors.alerts.actor import start_forecaster
from actors.infra.settings import StoreConfig
from actors.ingest.actor import start_ingest
from actors.owner.client import StockClient
from actors.sync.actor import start_channel_sync
from policies.channel_modes import PLATFORM_FIRST, channel_modes


class System(NamedTuple):
    """Handles of a running deployment."""

    config: StoreConfig
    forecaster: Any  # Ray actor handle of ForecasterService
    client: StockClient  # routes operations to the owners
    ingest: dict[str, Any]  # channel -> Ray actor handle of ChannelIngestService
    sync: Any  # Ray actor handle of ChannelSyncService


def start_system(
    config: StoreConfig,
    channels: Mapping[str, str],
    *,
    secrets: Mapping[str, bytes] | None = None,
    shares: Mapping[str, float] | None = None,
    modes: Mapping[str, str] | None = None,
) -> System:
    """Start (or find) every actor of the deployment ``config`` describes.

    ``channels`` maps channel name -> payload format; ``secrets`` their webhook secrets;
    ``shares`` the channels' default shares of visible stock (equal when omitted);
    ``modes`` channel name -> ``platform-first`` / ``reserve-first`` (by format when omitted).
    """
    forecaster = start_forecaster(config)
    client = StockClient.start(config)
    ingest = start_ingest(config, dict(channels), dict(secrets or {}), dict(modes or {}))
    all_modes = channel_modes(channels, modes or {})
    platforms = [channel for channel, mode in all_modes.items() if mode == PLATFORM_FIRST]
    sync = start_channel_sync(config, dict(shares) if shares else dict.fromkeys(channels, 1.0), platforms)
    return System(config, forecaster, client, ingest, sync)


def stop_system(system: System) -> None:
    """Stop the deployment's loops cleanly (ingest first, so nothing new is routed), then
    close the client's owner connections. Durable state stays in Redis."""
    ray.get([actor.stop.remote() for actor in system.ingest.values()])
    ray.get([system.forecaster.stop.remote(), system.sync.stop.remote()])
    system.client.close()
