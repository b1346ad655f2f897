"""Locust load test of a running flashstock service (``flashstock serve``).

Three kinds of users, weighted like a live show: viewers reading stock and live hints,
platforms posting batches of orders, and dashboards holding an SSE alert stream open.
SKUs come from ``GET /v1/skus`` at start. Tokens, when the service needs them, come from
``FLASHSTOCK_LOAD_TOKEN`` (a token whose role may read and ingest, e.g. admin).

    pip install -e '.[load]'
    locust -f scripts/locustfile.py --host http://127.0.0.1:8000 \\
        --headless --users 20 --spawn-rate 5 --run-time 1m

Run it against loopback or the project's own test hosts only.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from typing import Any

from locust import HttpUser, between, events, task

BATCH = int(os.environ.get("FLASHSTOCK_LOAD_BATCH", "100"))
SKUS: list[str] = []


def _headers() -> dict[str, str]:
    token = os.environ.get("FLASHSTOCK_LOAD_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


@events.test_start.add_listener
def load_skus(environment: Any, **_: Any) -> None:
    import requests

    host = environment.host or "http://127.0.0.1:8000"
    page = requests.get(f"{host}/v1/skus?limit=500", headers=_headers(), timeout=30).json()
    SKUS[:] = [item["sku"] for item in page["items"]]
    if not SKUS:
        raise RuntimeError("the service has no SKUs: start it with --catalog")


class Viewer(HttpUser):
    """Operators and the live room polling stock."""

    weight = 6
    wait_time = between(0.5, 2)

    @task(3)
    def stock(self) -> None:
        self.client.get(f"/v1/skus/{random.choice(SKUS)}", headers=_headers(), name="/v1/skus/{sku}")

    @task(1)
    def hints(self) -> None:
        self.client.get(
            f"/v1/live/hints?skus={','.join(random.sample(SKUS, min(3, len(SKUS))))}",
            headers=_headers(),
            name="/v1/live/hints",
        )


class Platform(HttpUser):
    """A platform pushing order batches in the internal format."""

    weight = 3
    wait_time = between(0.2, 1)

    @task
    def orders(self) -> None:
        now = time.time()
        body = {
            "orders": [
                {
                    "channel": "douyin",
                    "order_id": uuid.uuid4().hex,
                    "placed_at": now,
                    "lines": [{"sku": random.choice(SKUS), "quantity": 1}],
                }
                for _ in range(BATCH)
            ]
        }
        self.client.post("/v1/orders", json=body, headers=_headers(), name="/v1/orders")


class Dashboard(HttpUser):
    """An operator's screen holding the SSE alert stream open for a while."""

    weight = 1
    wait_time = between(1, 3)

    @task
    def listen(self) -> None:
        deadline = time.monotonic() + 10
        with self.client.get(
            "/v1/alerts/stream",
            headers=_headers(),
            stream=True,
            name="/v1/alerts/stream",
            catch_response=True,
        ) as response:
            for _ in response.iter_lines():
                if time.monotonic() > deadline:
                    break
            response.success()
