"""The names of a deployment's Ray actors, and the one place that looks them up.

Every flashstock actor is named and lives in the Ray namespace ``RAY_NAMESPACE``, so any
process of a deployment (a Serve replica, another driver, a restarted actor) finds its
peers by name. Components never look peers up themselves: the bootstrap
(``actors.bootstrap``) or the process that builds them passes handles or lookups in.
"""

from __future__ import annotations

from typing import Any

import ray

from actors.infra.settings import RAY_NAMESPACE, StoreConfig


def owner_name(config: StoreConfig, index: int) -> str:
    """The Ray actor name of owner ``index``: one set of owners per namespace."""
    return f"flashstock-{config.namespace}-owner-{index}-of-{config.shard_count}"


def forecaster_name(config: StoreConfig) -> str:
    return f"flashstock-{config.namespace}-forecaster"


def ingest_name(config: StoreConfig, channel: str) -> str:
    return f"flashstock-{config.namespace}-ingest-{channel}"


def sync_name(config: StoreConfig) -> str:
    return f"flashstock-{config.namespace}-channel-sync"


def actor_options(name: str, *, detached: bool = False) -> dict[str, Any]:
    """Ray actor options that name an actor in the deployment's namespace and find the
    running one instead of starting a second. ``detached`` actors outlive the process that
    started them (a Serve replica, ``flashstock up``): they stop only when killed
    (``flashstock down``) or when the cluster stops."""
    options: dict[str, Any] = {"name": name, "get_if_exists": True, "namespace": RAY_NAMESPACE}
    if detached:
        options["lifetime"] = "detached"
    return options


def find(name: str) -> Any | None:
    """The handle of the named actor, or None when none runs by that name."""
    try:
        return ray.get_actor(name, namespace=RAY_NAMESPACE)
    except ValueError:
        return None


def owner_handles(config: StoreConfig) -> list[Any]:
    """Handles of the deployment's owners, in shard order; ``ValueError`` if one is missing."""
    return [ray.get_actor(owner_name(config, i), namespace=RAY_NAMESPACE) for i in range(config.shard_count)]


def forecaster_handle(config: StoreConfig) -> Any | None:
    """The deployment's forecaster, or None when it does not run."""
    return find(forecaster_name(config))


def ingest_handle(config: StoreConfig, channel: str) -> Any | None:
    return find(ingest_name(config, channel))
