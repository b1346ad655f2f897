"""The whole service, as operators reach it: owners, forecaster and the Ray Serve HTTP
app on a free port, with tokens for each role, shared by the e2e tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import ray
import requests
from ray import serve

from actors.alerts.actor import start_forecaster
from actors.infra.redis_server import RedisServer, free_port
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from policies.alert_lifecycle import LifecycleSettings
from serve_app.app import application
from serve_app.backend import AppArgs
from serve_app.ingress import default_ingress, start_http
from tests.support import fresh_namespace, wait_for

TOKENS = {
    "viewer": "view-tok-1",
    "operator": "op-tok-1",
    "admin": "admin-tok-1",
    "ingest": "douyin-ingest-tok",
}
WEBHOOK_SECRET = "douyin-webhook-secret"


class Service(NamedTuple):
    url: str
    config: StoreConfig
    client: StockClient
    #: Serve's proxy: the way to another application on the same Serve
    proxy_url: str

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}

    # ``body`` is Any: tests send any JSON value, well-formed or not, and ``kw`` is passed
    # through to requests as is

    def get(self, path: str, role: str | None = "viewer", **kw: Any) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers(role), timeout=30, **kw)

    def post(
        self, path: str, body: Any = None, role: str | None = "operator", **kw: Any
    ) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=self.headers(role), timeout=30, **kw)

    def put(self, path: str, body: Any, role: str | None = "admin") -> requests.Response:
        return requests.put(self.url + path, json=body, headers=self.headers(role), timeout=30)

    def delete(self, path: str, role: str | None = "operator") -> requests.Response:
        return requests.delete(self.url + path, headers=self.headers(role), timeout=30)

    def new_sku(self, on_hand: int = 10, *, prefix: str = "SKU", **spec: Any) -> str:
        """A SKU of the calling test's own (a fresh id under ``prefix``) with ``on_hand``
        units and the given settings."""
        sku = f"{prefix}-{uuid.uuid4().hex[:8]}"
        response = self.put(f"/v1/skus/{sku}", {"on_hand": on_hand, **spec})
        assert response.status_code == 200, response.text
        return sku

    def sell(self, sku: str, count: int) -> None:
        """``count`` Douyin orders of one unit of ``sku`` (order ids ``{sku}-0``, ...)."""
        orders = [
            {
                "channel": "douyin",
                "order_id": f"{sku}-{n}",
                "placed_at": time.time(),
                "lines": [{"sku": sku, "quantity": 1}],
            }
            for n in range(count)
        ]
        response = self.post("/v1/orders", {"orders": orders}, role="ingest")
        assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def service(ray_cluster: None, redis_server: RedisServer) -> Iterator[Service]:
    config = StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2)
    forecaster = start_forecaster(config, tick_seconds=0.1, lifecycle=LifecycleSettings(pending_seconds=0))
    client = StockClient.start(config)
    port = free_port()
    http = start_http("127.0.0.1", port, default_ingress())  # as flashstock serve does
    tokens = ",".join(
        [
            f"viewer:vera:{TOKENS['viewer']}",
            f"operator:oliver:{TOKENS['operator']}",
            f"admin:ada:{TOKENS['admin']}",
            f"ingest:douyin:{TOKENS['ingest']}",
        ]
    )
    env = {"FLASHSTOCK_TOKENS": tokens, "FLASHSTOCK_WEBHOOK_SECRET_DOUYIN": WEBHOOK_SECRET} | http.env
    args = AppArgs(
        redis_url=redis_server.url, namespace=config.namespace, shard_count=2, max_body_bytes=2 * 1024 * 1024
    )
    serve.run(application(args, env=env), name="flashstock-e2e", route_prefix="/")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, message="the HTTP app")
    yield Service(url, config, client, f"http://127.0.0.1:{http.proxy_port}")
    serve.shutdown()  # type: ignore[no-untyped-call]  # Ray Serve leaves it unannotated
    client.close()
    ray.get(forecaster.stop.remote())
    for actor in [forecaster, *client.owners]:
        ray.kill(actor, no_restart=True)
