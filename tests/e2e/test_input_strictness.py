"""What arrives at the HTTP API, however malformed, is answered in the one JSON error
shape and touches nothing it should not: strict types, one id rule, configured channels
only, webhooks signed with a timestamp, undecodable webhook bodies named as such, and
503 ``unavailable`` while Redis is down. Over real HTTP, Ray Serve, Ray and Redis."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import ray
import redis
import requests
from ray import serve

from actors.alerts.actor import start_forecaster
from actors.infra.keys import ChannelKeys
from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from actors.owner.client import StockClient
from policies.channels.signing import sign_body, webhook_headers
from serve_app.app import application
from serve_app.backend import AppArgs
from serve_app.guards.checks import FrontDoorArgs
from serve_app.ingress import THROUGH_PROXY
from tests.e2e.conftest import TOKENS, WEBHOOK_SECRET, Service
from tests.support import fresh_namespace, wait_for

JSON = {"Content-Type": "application/json"}


def order(sku: str, **changes: Any) -> dict[str, Any]:
    return {
        "channel": "douyin",
        "order_id": f"o-{uuid.uuid4().hex[:8]}",
        "placed_at": int(time.time()),
        "lines": [{"sku": sku, "quantity": 1}],
        **changes,
    }


def assert_error(response: requests.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    if field is not None:
        assert body["field"] == field


# ---- strict types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"paid": "yes"}, "orders.0.paid"),
        ({"paid": 1}, "orders.0.paid"),
        ({"lines": [{"sku": "X", "quantity": True}]}, "orders.0.lines.0.quantity"),
        ({"lines": [{"sku": "X", "quantity": "2"}]}, "orders.0.lines.0.quantity"),
        ({"placed_at": str(int(time.time()))}, "orders.0.placed_at"),
    ],
)
def test_orders_with_coercible_strings_or_booleans_are_refused_and_decide_nothing(
    service: Service, changes: dict[str, Any], field: str
) -> None:
    sku = service.new_sku()
    body = order(sku, **changes)
    if "lines" in changes:
        body["lines"] = [{**line, "sku": sku} for line in changes["lines"]]
    response = service.post("/v1/orders", {"orders": [body]}, role="ingest")
    assert_error(response, 422, "validation_error", field)
    view = service.get(f"/v1/skus/{sku}").json()
    assert (view["reserved"], view["sold"]) == (0, 0)


def test_a_restock_quantity_of_true_or_a_string_restocks_nothing(service: Service) -> None:
    sku = service.new_sku(5)
    for quantity in (True, "2"):
        response = service.post(f"/v1/skus/{sku}/restock", {"quantity": quantity, "transfer_id": "t1"})
        assert_error(response, 422, "validation_error", "quantity")
    assert service.get(f"/v1/skus/{sku}").json()["on_hand"] == 5


# ---- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["%20", "%EF%BF%BD", "%C2%A0x", "%2E%2E", "x%0Ay", " x", "x" * 129])
def test_sku_ids_in_the_path_must_be_printable_trimmed_and_short(service: Service, sku: str) -> None:
    assert_error(service.put(f"/v1/skus/{sku}", {"on_hand": 1}), 422, "validation_error", "sku")
    assert_error(service.get(f"/v1/skus/{sku}"), 422, "validation_error", "sku")


def test_a_silence_with_a_newline_in_its_sku_is_refused(service: Service) -> None:
    response = service.post("/v1/silences", {"sku": "A\nB", "minutes": 5})
    assert_error(response, 422, "validation_error", "sku")


@pytest.mark.parametrize("order_id", ["x" * 129, "%20o1", "o1%20", "%09"])
def test_a_bad_order_id_on_confirm_is_422_and_writes_no_dead_letter(service: Service, order_id: str) -> None:
    client = redis.Redis.from_url(service.config.redis_url)
    dead = ChannelKeys.of(service.config.namespace, "douyin").dead
    before = client.xlen(dead)
    for action in ("confirm", "cancel"):
        response = service.post(f"/v1/orders/douyin/{order_id}/{action}", role="ingest")
        assert_error(response, 422, "validation_error", "order_id")
    assert_error(service.get(f"/v1/orders/douyin/{order_id}"), 422, "validation_error", "order_id")
    assert client.xlen(dead) == before
    client.close()


# ---- configured channels -----------------------------------------------------------------------


def test_made_up_channels_are_refused_and_touch_nothing_in_redis(service: Service) -> None:
    client = redis.Redis.from_url(service.config.redis_url)
    prefix = f"madeup{uuid.uuid4().hex[:6]}"
    connections = int(client.info("clients")["connected_clients"])
    sku = service.new_sku()
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKENS['admin']}"})
    for n in range(300):
        channel = f"{prefix}-{n}"
        body = {"orders": [order(sku, channel=channel)]}
        answer = session.post(service.url + "/v1/orders", json=body, timeout=30)
        assert_error(answer, 422, "unknown_channel", "orders.0.channel")
        if n % 30 == 0:  # the other routes that name a channel
            signed = webhook_headers(WEBHOOK_SECRET.encode(), "msg_1", int(time.time()), b"[]")
            webhook = session.post(
                f"{service.url}/v1/channels/{channel}/orders",
                data=b"[]",
                headers={**JSON, **signed},
                timeout=30,
            )
            assert_error(webhook, 422, "unknown_channel", "channel")
            confirm = session.post(f"{service.url}/v1/orders/{channel}/o1/confirm", timeout=30)
            assert_error(confirm, 422, "unknown_channel", "channel")
            assert_error(
                session.get(f"{service.url}/v1/orders/{channel}/o1", timeout=30), 422, "unknown_channel"
            )
    session.close()
    assert list(client.scan_iter(match=f"*{prefix}*", count=1000)) == []
    assert service.get(f"/v1/skus/{sku}").json()["reserved"] == 0
    # no connection per channel (300 before); a few come and go with other traffic
    assert int(client.info("clients")["connected_clients"]) < connections + 10
    client.close()


# ---- webhooks --------------------------------------------------------------------------------


def post_webhook(
    service: Service, body: bytes, headers: dict[str, str], role: str | None = "ingest"
) -> requests.Response:
    return requests.post(
        service.url + "/v1/channels/douyin/orders",
        data=body,
        timeout=30,
        headers={**service.headers(role), **JSON, **headers},
    )


def signed(body: bytes, at: float | None = None) -> dict[str, str]:
    when = int(time.time() if at is None else at)
    return webhook_headers(WEBHOOK_SECRET.encode(), f"msg_{uuid.uuid4().hex}", when, body)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'[{"tag": "100", "data": "\xff\xfe"}]', 400, "invalid_body"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_body"),
        (b'[{"tag": "100", "p_id": ' + b"9" * 5000 + b"}]", 400, "invalid_body"),
        (b'[{"tag": "100",', 400, "invalid_body"),
        (b'"not a batch"', 422, "invalid_batch"),
        (b"12345", 422, "invalid_batch"),
    ],
    ids=["invalid utf-8", "nested 5,000 deep", "5,000-digit number", "truncated", "a string", "a number"],
)
def test_an_undecodable_body_after_a_valid_signature_is_named_not_a_bad_signature(
    service: Service, body: bytes, status: int, code: str
) -> None:
    assert_error(post_webhook(service, body, signed(body)), status, code, "body")


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_malformed_json_without_a_valid_token_is_401_before_anything_else(
    service: Service, token: str | None
) -> None:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(
        service.url + "/v1/channels/douyin/orders", data=b"{not json", timeout=30, headers={**JSON, **auth}
    )
    assert_error(response, 401, "unauthorized")
    orders = requests.post(
        service.url + "/v1/orders", data=b"{not json", timeout=30, headers={**JSON, **auth}
    )
    assert_error(orders, 401, "unauthorized")


def test_a_replayed_webhook_outside_the_window_is_stale_and_applies_nothing(service: Service) -> None:
    sku = service.new_sku()
    data = {
        "p_id": 880001,
        "create_time": int(time.time()),
        "sku_order_list": [{"out_sku_id": sku, "item_num": 1, "pay_amount": 100}],
    }
    body = json.dumps([{"tag": "100", "data": json.dumps(data)}]).encode()
    captured = signed(body, at=time.time() - 600)
    assert_error(post_webhook(service, body, captured), 401, "stale_signature")
    future = signed(body, at=time.time() + 600)
    assert_error(post_webhook(service, body, future), 401, "stale_signature")
    assert service.get(f"/v1/skus/{sku}").json()["reserved"] == 0
    fresh = post_webhook(service, body, signed(body))
    assert fresh.status_code == 200, fresh.text
    assert service.get(f"/v1/skus/{sku}").json()["reserved"] == 1


def test_the_old_x_signature_alone_is_no_longer_accepted(service: Service) -> None:
    body = b"[]"
    response = post_webhook(service, body, {"X-Signature": sign_body(WEBHOOK_SECRET.encode(), body)})
    assert_error(response, 401, "bad_signature")
    assert "webhook-id" in response.json()["message"]


# ---- Redis down ------------------------------------------------------------------------------


class DownService:
    def __init__(self, url: str, server: RedisServer) -> None:
        self.url, self.server = url, server

    def call(self, method: str, path: str, body: Any = None, role: str = "admin") -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=60)


@contextmanager
def second_deployment(
    service: Service, server: RedisServer, name: str, **args: Any
) -> Iterator[tuple[DownService, Any]]:
    """A second deployment (its own Redis, owners, forecaster) at ``/<name>`` on the same
    Serve HTTP proxy, which the test may break; with its forecaster's handle."""
    config = StoreConfig(server.url, namespace=fresh_namespace(), shard_count=1)
    forecaster = start_forecaster(config, tick_seconds=0.5)
    client = StockClient.start(config)
    env = {
        "FLASHSTOCK_TOKENS": f"admin:ada:{TOKENS['admin']},operator:oliver:{TOKENS['operator']}",
        "FLASHSTOCK_WEBHOOK_SECRET_DOUYIN": WEBHOOK_SECRET,
        **THROUGH_PROXY,  # the service's port belongs to the first application
    }
    app_args = AppArgs(redis_url=server.url, namespace=config.namespace, shard_count=1, **args)
    serve.run(application(app_args, env=env), name=f"flashstock-{name}", route_prefix=f"/{name}")
    down = DownService(f"{service.proxy_url}/{name}", server)

    def up() -> bool:
        try:
            return requests.get(down.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, message="the second HTTP app")
    try:
        yield down, forecaster
    finally:
        serve.delete(f"flashstock-{name}")
        client.close()
        for actor in [forecaster, *client.owners]:
            ray.kill(actor, no_restart=True)


@pytest.fixture
def redis_down_service(service: Service, own_redis_server: RedisServer) -> Iterator[DownService]:
    with second_deployment(service, own_redis_server, "down") as (down, _):
        yield down


def test_writes_and_reads_while_redis_is_down_are_503_unavailable(redis_down_service: DownService) -> None:
    down = redis_down_service
    assert down.call("put", "/v1/skus/A", {"on_hand": 5}).status_code == 200
    down.server.kill()
    for method, path, body in [
        ("post", "/v1/skus/A/restock", {"quantity": 1, "transfer_id": "t1"}),
        ("put", "/v1/skus/B", {"on_hand": 1}),
        ("get", "/v1/skus", None),
    ]:
        response = down.call(method, path, body)
        assert_error(response, 503, "unavailable")
        assert "Traceback" not in response.text


def test_a_hung_forecaster_is_503_unavailable_after_the_call_timeout_and_holds_no_request_slot(
    service: Service, own_redis_server: RedisServer
) -> None:
    front_door = FrontDoorArgs(max_in_flight=2)
    with second_deployment(
        service, own_redis_server, "hung", call_timeout_seconds=2.0, front_door=front_door
    ) as (hung, forecaster):
        assert hung.call("put", "/v1/skus/A", {"on_hand": 5}).status_code == 200
        pid = ray.get(forecaster.__ray_call__.remote(lambda _: os.getpid()))
        os.kill(pid, signal.SIGSTOP)  # alive but answering nothing: hung
        try:
            for _ in range(3):  # more than the two requests the app lets in at once
                started = time.monotonic()
                response = hung.call("get", "/v1/alerts")
                assert_error(response, 503, "unavailable")
                assert time.monotonic() - started < 15
            stock = hung.call("get", "/v1/skus/A")  # read from Redis: the slots were given back
            assert stock.status_code == 200, stock.text
            assert stock.json()["on_hand"] == 5
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: hung.call("get", "/v1/alerts").status_code == 200, message="alerts once it answers")
