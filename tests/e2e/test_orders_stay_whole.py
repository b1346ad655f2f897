"""Orders stay whole over real HTTP, Ray Serve, Ray and Redis: a request is validated
whole before anything is decided, an order id sent again with other lines is refused
(through ``POST /v1/orders`` and through a platform's signed webhook), a rejected
order shows its released line as released, and a recorded rejection is repeated. The
ledger is read back unchanged after every refusal."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from actors.ingest.store import RedisIngestStore
from policies.channels.signing import webhook_headers
from tests.e2e.conftest import WEBHOOK_SECRET, Service


def order(order_id: str, *lines: tuple[str, int], **changes: Any) -> dict[str, Any]:
    return {
        "channel": "douyin",
        "order_id": order_id,
        "placed_at": time.time(),
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        **changes,
    }


def stock(service: Service, sku: str) -> tuple[int, int, int]:
    view = service.get(f"/v1/skus/{sku}").json()
    return view["reserved"], view["sold"], view["available"]


def place(service: Service, *orders: dict[str, Any]) -> requests.Response:
    return service.post("/v1/orders", {"orders": list(orders)}, role="ingest")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"buyer_id": "buyer\n7"}, "orders.1.buyer_id"),
        ({"order_id": "   "}, "orders.1.order_id"),
        ({"lines": [{"sku": "SKU\u00a0X", "quantity": 1}]}, "orders.1.lines.0.sku"),
    ],
)
def test_a_batch_with_one_bad_order_is_refused_whole_and_deducts_nothing(
    service: Service, bad: dict[str, Any], field: str
) -> None:
    sku = service.new_sku(5)
    good = order(f"g-{uuid.uuid4().hex[:8]}", (sku, 2))
    response = place(service, good, {**order(f"b-{uuid.uuid4().hex[:8]}", (sku, 1)), **bad})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert stock(service, sku) == (0, 0, 5)
    assert service.get(f"/v1/orders/douyin/{good['order_id']}").status_code == 404


def test_an_order_id_sent_again_with_other_lines_is_refused_over_http(service: Service) -> None:
    first, second = service.new_sku(5), service.new_sku(5)
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    assert place(service, order(order_id, (first, 2))).json()["decisions"][0]["accepted"]
    for lines in [((second, 1),), ((first, 3),), ((first, 2), (second, 1))]:
        decision = place(service, order(order_id, *lines)).json()["decisions"][0]
        assert (decision["accepted"], decision["reason"]) == (False, "order_conflict")
        assert stock(service, first) == (2, 0, 3)
        assert stock(service, second) == (0, 0, 5)
    assert service.post(f"/v1/orders/douyin/{order_id}/cancel", role="ingest").json()["accepted"]
    assert stock(service, first) == (0, 0, 5)  # the cancel released the first order's line


def test_a_rejected_order_shows_its_good_line_released_and_repeats_its_rejection(service: Service) -> None:
    sku = service.new_sku(5)
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    missing = f"LATER-{uuid.uuid4().hex[:8]}"
    decision = place(service, order(order_id, (sku, 2), (missing, 1))).json()["decisions"][0]
    assert (decision["accepted"], decision["reason"], decision["failed_sku"]) == (
        False,
        "unknown_sku",
        missing,
    )
    good = decision["lines"][0]
    assert (good["accepted"], good["status"], good["reason"]) == (False, "released", "order_incomplete")
    new = service.put(f"/v1/skus/{missing}", {"on_hand": 5})
    assert new.status_code == 200
    again = place(service, order(order_id, (sku, 2), (missing, 1))).json()["decisions"][0]
    assert (again["accepted"], again["reason"], again["duplicate"]) == (False, "unknown_sku", True)
    assert stock(service, sku) == (0, 0, 5)
    assert stock(service, missing) == (0, 0, 5)


def test_a_platform_order_sent_again_with_another_sku_is_refused_through_the_adapter(
    service: Service,
) -> None:
    first, second = service.new_sku(5), service.new_sku(5)
    p_id = int(time.time() * 1000) % 10**12

    def webhook(sku: str, message_id: str) -> dict[str, Any]:
        data = {
            "p_id": p_id,
            "create_time": int(time.time()),
            "sku_order_list": [{"out_sku_id": sku, "item_num": 2, "pay_amount": 100}],
        }
        body = json.dumps([{"tag": "100", "data": json.dumps(data)}]).encode()
        headers = {
            **service.headers("ingest"),
            "Content-Type": "application/json",
            **webhook_headers(WEBHOOK_SECRET.encode(), message_id, int(time.time()), body),
        }
        response = requests.post(
            service.url + "/v1/channels/douyin/orders", data=body, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        decision: dict[str, Any] = response.json()["decisions"][0]
        return decision

    assert webhook(first, "msg_a")["accepted"]
    conflict = webhook(second, "msg_b")
    assert (conflict["accepted"], conflict["reason"]) == (False, "order_conflict")
    assert stock(service, first) == (2, 0, 3)
    assert stock(service, second) == (0, 0, 5)


def oversold_orders(service: Service) -> dict[str, float]:
    """``flashstock_oversold_orders`` per channel, from /metrics."""
    text = service.get("/metrics", role=None).text
    return {
        sample.labels["channel"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "flashstock_oversold_orders"
    }


def test_a_sold_out_is_an_oversell_only_on_a_platform_first_channel(service: Service) -> None:
    sku = service.new_sku(1)
    asking = {**order(f"m-{uuid.uuid4().hex[:8]}", (sku, 1)), "channel": "miniprogram"}
    first = service.post("/v1/orders", {"orders": [asking]}, role="admin").json()["decisions"][0]
    assert first["accepted"]
    sold_out = {**order(f"m-{uuid.uuid4().hex[:8]}", (sku, 1)), "channel": "miniprogram"}
    refused = service.post("/v1/orders", {"orders": [sold_out]}, role="admin").json()["decisions"][0]
    assert (refused["accepted"], refused["reason"]) == (False, "insufficient")
    assert service.get(f"/v1/skus/{sku}").json()["oversold"] == {}  # reserve-first: a sold-out
    before = oversold_orders(service)
    taken = order(f"d-{uuid.uuid4().hex[:8]}", (sku, 1))  # Douyin sold it before asking
    oversold = place(service, taken).json()["decisions"][0]
    assert (oversold["accepted"], oversold["reason"]) == (False, "insufficient")
    assert service.get(f"/v1/skus/{sku}").json()["oversold"] == {"douyin": 1}
    after = oversold_orders(service)
    assert after.get("douyin", 0) - before.get("douyin", 0) == 1
    assert after.get("miniprogram", 0) == before.get("miniprogram", 0)
    store = RedisIngestStore.connect(service.config, "douyin")
    try:
        asked = [c for c in store.cancellation_requests() if c.order_id == taken["order_id"]]
    finally:
        store.redis.close()
    assert [(c.skus, c.reason) for c in asked] == [((sku,), "insufficient")]
