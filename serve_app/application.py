"""The Serve application as a module-level object, for ``serve run
serve_app.application:app`` and an import path in a Serve config or a KubeRay
RayService, with its settings from the environment of the process that builds it
(``DeploymentSettings``: ``REDIS_URL``, ``FLASHSTOCK_NAMESPACE``, ``FLASHSTOCK_SHARDS``,
``FLASHSTOCK_RETENTION_SECONDS``, ``FLASHSTOCK_BUCKET_SECONDS``,
or a ``.env`` file in that process's working directory: for ``serve deploy`` and KubeRay
that is a task on the cluster, so set them on the nodes). It is built on first access,
not at import.

Its replicas bootstrap the whole system (owners, ingest, forecaster, sync) as detached
actors before they answer. ``serve_app.app:build_app`` is the same application from a
Serve config's ``args`` (``serve_app/serve.yaml``).
"""

from __future__ import annotations

from ray.serve import Application

from actors.infra.settings import DeploymentSettings, deployment_settings
from serve_app.app import application
from serve_app.backend import AppArgs


def from_settings(settings: DeploymentSettings) -> Application:
    return application(
        AppArgs(
            redis_url=settings.redis_url,
            namespace=settings.namespace,
            shard_count=settings.shards,
            retention_seconds=settings.retention_seconds,
            bucket_seconds=settings.bucket_seconds,
            bootstrap=True,
        )
    )


def __getattr__(name: str) -> Application:
    """``app``, built when Serve (or anyone) asks for it, not when the module is imported:
    importing reads no environment (PEP 562 module attribute)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # pydantic-settings fills the required field from the environment, which mypy cannot see
    return from_settings(deployment_settings())
