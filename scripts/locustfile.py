"""Locust load test of a running flashstock service (``flashstock serve``).

Three kinds of users, weighted like a live show: viewers reading stock and live hints,
platforms posting batches of orders, and dashboards holding an SSE alert stream open.

The load works on SKUs of its own, never on the catalogue a show sells: at the start it
says so (a warning in Locust's log) and creates ``FLASHSTOCK_LOAD_SKUS`` (20) SKUs named
``load-<run id>-NNN`` with 10,000,000 units each; every order goes to them. At the end
it deletes them where the service allows (``DELETE /v1/skus/{sku}``; a SKU that still
holds reservations is refused until they expire) and logs what stays. Creating SKUs is
an admin's call: ``FLASHSTOCK_LOAD_TOKEN`` must be an admin's token when the service has
tokens (none on a loopback service without tokens).

    pip install -e '.[load]'
    locust -f scripts/locustfile.py --host http://127.0.0.1:8000 \\
        --headless --users 20 --spawn-rate 5 --run-time 1m

Run it against loopback or the project's own test hosts only.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from typing import Any

from locust import HttpUser, between, events, task
from locust.exception import StopTest

from scripts.loadgen.own_catalogue import (
    LOAD_UNITS,
    CatalogueError,
    create_skus,
    load_sku_names,
    remove_skus,
)

BATCH = int(os.environ.get("FLASHSTOCK_LOAD_BATCH", "100"))
SKU_COUNT = int(os.environ.get("FLASHSTOCK_LOAD_SKUS", "20"))
SKUS: list[str] = []
log = logging.getLogger("flashstock.load")


def _headers() -> dict[str, str]:
    token = os.environ.get("FLASHSTOCK_LOAD_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _host(environment: Any) -> str:
    return str(environment.host or "http://127.0.0.1:8000").rstrip("/")


@events.test_start.add_listener
def create_own_skus(environment: Any, **_: Any) -> None:
    SKUS[:] = load_sku_names(SKU_COUNT)
    log.warning(
        "this load test writes to %s: it creates %d SKUs %s..%s with %s units each and orders "
        "only those; the service's own catalogue is not touched",
        _host(environment),
        len(SKUS),
        SKUS[0],
        SKUS[-1],
        f"{LOAD_UNITS:,}",
    )
    try:
        create_skus(_host(environment), SKUS, _headers())
    except CatalogueError as error:
        log.error("cannot set up the load test's SKUs: %s", error)
        SKUS.clear()  # the users stop the run at their start
        environment.process_exit_code = 2


@events.test_stop.add_listener
def remove_own_skus(environment: Any, **_: Any) -> None:
    if not SKUS:
        return
    result = remove_skus(_host(environment), SKUS, _headers())
    if result["kept"]:
        log.warning(
            "%d of the load test's SKUs stay in the catalogue (prefix %s): the service refused "
            "DELETE /v1/skus/{sku} (no such route, or reservations not yet expired)",
            len(result["kept"]),
            SKUS[0].rsplit("-", 1)[0] + "-",
        )


class LoadUser(HttpUser):
    """A user of the load test's own SKUs; the run stops if they could not be created."""

    abstract = True

    def on_start(self) -> None:
        if not SKUS:
            raise StopTest("the load test's SKUs could not be created (see the error above)")


class Viewer(LoadUser):
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


class Platform(LoadUser):
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


class Dashboard(LoadUser):
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
