"""The FastAPI app and its Ray Serve deployment.

``create_api(args)`` builds the app (the front door of ``serve_app.guards``, routes,
errors, dashboard, API docs from vendored assets);
``application(args)`` wraps it in a Serve deployment whose replicas build the app (and
connect to the deployment's actors, starting them first with ``bootstrap: true``) when
they start. ``build_app(args)`` is the builder Ray expects for a config's ``args``:
``serve_app/serve.yaml`` deploys it with
``serve deploy`` / ``serve run``, and ``serve_app.application:app`` is the same
application built from the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from ray import serve
from ray.serve import Application, Deployment

from actors.bootstrap import start_system
from actors.infra.durability import startup_line
from actors.infra.logging import configure_logging
from actors.infra.runtime import guard_durability
from actors.infra.settings import tune_gc_for_throughput
from serve_app.api_docs import install_api_docs
from serve_app.auth import TokenBook
from serve_app.backend import AppArgs, Backend
from serve_app.errors import install_error_handlers
from serve_app.guards import FrontDoor
from serve_app.openapi import install_openapi
from serve_app.routes_alerts import router as alerts_router
from serve_app.routes_stock import router as stock_router
from serve_app.secrets import (
    SECRETS_FILE_ENV,
    Secrets,
    is_secret_variable,
    private_secrets_file,
    webhook_secret,
)

STATIC = Path(__file__).parent / "static"


def create_api(args: AppArgs, backend: Backend | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        app.state.backend = backend or Backend(args)
        app.state.tokens = TokenBook.from_env()
        yield
        app.state.backend.views_cache.close()
        app.state.backend.client.close()

    app = FastAPI(
        title="flashstock",
        version="0.1.0",
        lifespan=lifespan,
        description="Oversell-proof stock and stock-out alerts for live-stream commerce.",
        docs_url=None,  # /docs and /redoc load the vendored assets (serve_app.api_docs)
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app, args.channels)

    app.add_middleware(
        FrontDoor,
        args=args.front_door,
        max_body_bytes=args.max_body_bytes,
        tokens=lambda: app.state.tokens,
    )
    app.include_router(stock_router)
    app.include_router(alerts_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_api_docs(app)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


class FlashstockApi:
    """A replica: builds the app (and connects to the deployment's actors) when it starts;
    with ``args.bootstrap`` it first starts (or finds) those actors, detached."""

    def __init__(self, args: AppArgs) -> None:
        self.args = args
        tune_gc_for_throughput()  # the replica decides POST /v1/orders and webhook batches
        if args.bootstrap:
            # what /readyz says about persistence, as flashstock serve says it at start
            self.args = args.model_copy(update={"redis_durability": bootstrap(args)})

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self.args)


# Serve's decorators applied as calls, so the result has its type (mypy keeps a decorated
# class's own type).
API_DEPLOYMENT: Deployment = serve.deployment(
    name="flashstock-api",
    num_replicas=1,
    # not the limit: the front door (serve_app.guards) budgets SSE streams and other
    # requests apart and sheds load with 503 instead of queueing
    max_ongoing_requests=1000,
    max_queued_requests=100,
    ray_actor_options={"num_cpus": 0},
    # a log line per request costs more CPU than a stock query here
    logging_config={"enable_access_log": False, "log_level": "WARNING"},
)(serve.ingress()(FlashstockApi))


def bootstrap(args: AppArgs) -> str | None:
    """Start (or find) the deployment's actors, detached, with the channels' webhook
    secrets from this replica's secrets file. Idempotent: concurrent replicas find each
    other's actors. A Redis that would lose acknowledged decisions is refused first
    (``VolatileRedisError``: the replica fails to start and Serve shows why); what was
    found about persistence is answered (None: every decision is fsynced)."""
    durability = guard_durability(args.redis_url, allow_volatile=args.allow_volatile_redis)
    secrets = {c: s for c in args.channels if (s := webhook_secret(c))}
    system = start_system(args.store, args.channels, secrets=secrets, modes=args.modes, detached=True)
    system.client.close()
    return startup_line(durability, allow_volatile=args.allow_volatile_redis)


#: environment variables a replica needs from the process that deploys it (a replica on
#: another node does not share its environment): paths and settings, never a secret
PASSED_ENV_PREFIXES = (
    "FLASHSTOCK_SECRETS_FILE",
    "FLASHSTOCK_TOKENS_FILE",
    "FLASHSTOCK_LOG_LEVEL",
    "FLASHSTOCK_LOG_FORMAT",
)


def passthrough_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


def build_app(args: dict[str, Any]) -> Application:
    """The builder Ray calls for an ``import_path`` in a Serve config (one parameter: the
    config's ``args``), with this process's passed-through environment."""
    return application(AppArgs.model_validate(args))


def application(args: AppArgs, env: dict[str, str] | None = None) -> Application:
    """The Serve application for a deployment.

    ``env`` (default: this process's ``FLASHSTOCK_SECRETS_FILE``,
    ``FLASHSTOCK_TOKENS_FILE``, ``FLASHSTOCK_LOG_LEVEL`` and ``FLASHSTOCK_LOG_FORMAT``) is
    set in the replicas. Ray logs a ``runtime_env``, so secrets never go there: secret variables in ``env``
    (``FLASHSTOCK_TOKENS``, ``FLASHSTOCK_WEBHOOK_SECRET_*``) are written to a private
    secrets file (``serve_app.secrets``) whose path the replicas get instead."""
    env_vars = passthrough_env() if env is None else dict(env)
    secret = {k: env_vars.pop(k) for k in [k for k in env_vars if is_secret_variable(k)]}
    if secret:
        if SECRETS_FILE_ENV in env_vars:
            raise ValueError(f"give secrets either in {SECRETS_FILE_ENV} or as variables, not both")
        env_vars[SECRETS_FILE_ENV] = str(private_secrets_file(Secrets.from_environment(secret)))
    return API_DEPLOYMENT.options(
        ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": env_vars}}
    ).bind(args)
