"""Bring up a whole flashstock deployment on a running Ray: the one place that builds
the components and hands out their handles.

Order matters: the forecaster first (owners tell it every durable batch), then the SKU
owners (each loads its shard from Redis and takes a new fencing epoch), then one ingest
actor per channel (they route to the owners) and the channel sync (it follows the
ledger). Every actor is named in ``actors.infra.directory``, so starting again finds the
running ones instead of starting twice (idempotent): every Serve replica may run it as it
starts, and concurrent runs find each other's actors.

A namespace that still holds data of the previous storage layout is refused first
(``actors.upgrade.guard``: ``LegacyLayoutError``, run ``flashstock migrate``).

``detached=True`` makes the actors outlive the process that starts them, which is what a
cluster deployment needs (``serve run``/``serve deploy``/a KubeRay RayService start them
from a replica, ``flashstock up`` from a short-lived driver); ``kill_system`` removes
them. Without it (``flashstock serve``, tests) they stop with their driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import ray
import structlog

from actors.alerts.actor import start_forecaster
from actors.infra.directory import find, forecaster_name, ingest_name, owner_name, sync_name
from actors.infra.settings import RAY_NAMESPACE, StoreConfig
from actors.ingest.actor import start_ingest
from actors.owner.client import StockClient
from actors.sync.actor import start_channel_sync
from actors.upgrade.guard import guard_layout
from policies.channel_modes import PLATFORM_FIRST, channel_modes

log = structlog.get_logger(__name__)


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
    detached: bool = False,
) -> System:
    """Start (or find) every actor of the deployment ``config`` describes.

    ``channels`` maps channel name -> payload format; ``secrets`` their webhook secrets;
    ``shares`` the channels' default shares of visible stock (equal when omitted);
    ``modes`` channel name -> ``platform-first`` / ``reserve-first`` (by format when omitted);
    ``detached``: the actors outlive this process (see the module's docstring).
    """
    log.info("bootstrap", namespace=config.namespace, shards=config.shard_count, detached=detached)
    guard_layout(config.redis_url, config.namespace)  # data of the previous layout: migrate first
    forecaster = start_forecaster(config, detached=detached)
    client = StockClient.start(config, detached=detached)
    ingest = start_ingest(config, dict(channels), dict(secrets or {}), dict(modes or {}), detached=detached)
    all_modes = channel_modes(channels, modes or {})
    platforms = [channel for channel, mode in all_modes.items() if mode == PLATFORM_FIRST]
    sync = start_channel_sync(
        config, dict(shares) if shares else dict.fromkeys(channels, 1.0), platforms, detached=detached
    )
    return System(config, forecaster, client, ingest, sync)


def stop_system(system: System, *, stop_timeout: float = 30.0) -> None:
    """Stop the deployment's loops cleanly (ingest first, so nothing new is routed), each
    given ``stop_timeout`` seconds (one that is hung or dead is logged and left: Ctrl-C
    never waits for ever), then close the client's owner connections. Durable state
    stays in Redis."""
    config = system.config
    ingest = {ingest_name(config, channel): actor.stop.remote() for channel, actor in system.ingest.items()}
    _await_stops(ingest, stop_timeout)
    others = {
        forecaster_name(config): system.forecaster.stop.remote(),
        sync_name(config): system.sync.stop.remote(),
    }
    _await_stops(others, stop_timeout)
    system.client.close()


def _await_stops(stopping: Mapping[str, Any], timeout: float) -> None:
    """Wait for each actor's ``stop`` call (actor name -> its ref) at most ``timeout``
    seconds; one that fails or does not answer is logged."""
    for name, ref in stopping.items():
        try:
            ray.get(ref, timeout=timeout)
        except (ray.exceptions.RayError, TimeoutError) as error:
            log.warning("actor_stop_failed", actor=name, error=type(error).__name__)


def kill_system(config: StoreConfig, channels: Iterable[str], *, stop_timeout: float = 30.0) -> list[str]:
    """Stop and remove every actor of the deployment ``config`` describes, detached or
    not (the ingest actors of ``channels`` and of any other channel running in its
    namespace): the ingest actors' loops first (nothing new is routed), then the forecaster's and
    the sync's, each given ``stop_timeout`` seconds; an actor that does not stop in time
    or is dead is removed all the same. Answers the names removed. Durable state stays in
    Redis: ``start_system`` again resumes from it."""
    # the given channels' ingest actors and any other channel's running in the namespace
    prefix = ingest_name(config, "")
    running = {
        entry["name"]
        for entry in ray.util.list_named_actors(all_namespaces=True)
        if entry["namespace"] == RAY_NAMESPACE and entry["name"].startswith(prefix)
    }
    ingest = sorted({ingest_name(config, channel) for channel in channels} | running)
    others = [forecaster_name(config), sync_name(config)]
    owners = [owner_name(config, i) for i in range(config.shard_count)]
    found = {name: handle for name in [*ingest, *others, *owners] if (handle := find(name)) is not None}
    for group in (ingest, others):
        _await_stops({name: found[name].stop.remote() for name in group if name in found}, stop_timeout)
    for name, handle in found.items():
        ray.kill(handle, no_restart=True)
        log.info("actor_removed", actor=name)
    return list(found)
