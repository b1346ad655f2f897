"""The HTTP API over real HTTP, Ray Serve, Ray and Redis: roles, errors, stock, orders,
platform webhooks, alerts, SSE resume, live hints and operations routes."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from actors.infra.codec import text
from policies.channels.signing import webhook_headers
from tests.e2e.conftest import WEBHOOK_SECRET, Service
from tests.support import wait_for


def order(sku: str, order_id: str, quantity: int = 1, channel: str = "douyin") -> dict[str, Any]:
    return {
        "channel": channel,
        "order_id": order_id,
        "placed_at": time.time(),
        "lines": [{"sku": sku, "quantity": quantity}],
    }


@pytest.mark.parametrize(
    ("method", "path", "role", "status", "code"),
    [
        ("get", "/v1/skus", None, 401, "unauthorized"),
        ("get", "/v1/alerts", None, 401, "unauthorized"),
        ("put", "/v1/skus/X", "operator", 403, "forbidden"),
        ("post", "/v1/skus/X/restock", "viewer", 403, "forbidden"),
        ("post", "/v1/silences", "viewer", 403, "forbidden"),
        ("post", "/v1/orders", "viewer", 403, "forbidden"),
        ("get", "/v1/skus", "ingest", 403, "forbidden"),
    ],
)
def test_each_role_is_refused_what_it_may_not_do(
    service: Service, method: str, path: str, role: str | None, status: int, code: str
) -> None:
    # a GET with a body is refused (400) before its role is checked
    body: dict[str, Any] | None = None if method == "get" else {}
    response = requests.request(
        method, service.url + path, json=body, timeout=30, headers=service.headers(role)
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_a_wrong_token_and_a_malformed_header_are_unauthorized(service: Service) -> None:
    for header in ("Bearer nope", "Basic abc", "Bearer"):
        response = requests.get(service.url + "/v1/skus", headers={"Authorization": header}, timeout=30)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_sku_lifecycle_over_http(service: Service) -> None:
    sku = service.new_sku(100, name="测试款", lead_time_minutes=60, purchase_limit=5)
    view = service.get(f"/v1/skus/{sku}").json()
    assert (view["on_hand"], view["available"], view["settings"]["purchase_limit"]) == (100, 100, 5)
    restock = service.post(f"/v1/skus/{sku}/restock", {"quantity": 20, "transfer_id": "t1"}).json()
    assert restock["accepted"]
    assert restock["available"] == 120
    again = service.post(f"/v1/skus/{sku}/restock", {"quantity": 20, "transfer_id": "t1"}).json()
    assert again["duplicate"]
    adjust = service.post(
        f"/v1/skus/{sku}/adjust", {"delta": -500, "adjustment_id": "a1", "reason": "recount"}
    )
    assert adjust.status_code == 409
    assert adjust.json()["code"] == "would_oversell"
    page = service.get("/v1/skus", params={"low_stock": 200}).json()
    assert sku in [item["sku"] for item in page["items"]]


def test_errors_name_the_problem(service: Service) -> None:
    missing = service.get("/v1/skus/NO-SUCH-SKU")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_sku")
    bad = service.post(
        "/v1/orders",
        {
            "orders": [
                {
                    "channel": "douyin",
                    "order_id": "x",
                    "placed_at": time.time(),
                    "lines": [{"sku": "A", "quantity": 0}],
                }
            ]
        },
        role="ingest",
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    assert bad.json()["field"] == "orders.0.lines.0.quantity"
    huge = requests.post(
        service.url + "/v1/orders",
        data=b"x" * (3 * 1024 * 1024),
        timeout=30,
        headers={**service.headers("ingest"), "Content-Type": "application/json"},
    )
    assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
    restock_unknown = service.post("/v1/skus/NO-SUCH-SKU/restock", {"quantity": 1, "transfer_id": "t"})
    assert restock_unknown.status_code == 404
    sku = service.new_sku(5)
    # milliseconds as seconds: the transfer would never arrive and the SKU never be deleted
    late = service.post(f"/v1/skus/{sku}/restock", {"quantity": 1, "transfer_id": "t", "arrives_at": 1.8e12})
    assert (late.status_code, late.json()["field"]) == (422, "arrives_at")
    nothing = service.post(f"/v1/skus/{sku}/adjust", {"delta": 0, "adjustment_id": "a0", "reason": "recount"})
    assert (nothing.status_code, nothing.json()["field"]) == (422, "delta")
    assert service.post(f"/v1/skus/{sku}/restock", {"quantity": 5, "transfer_id": "t5"}).status_code == 200
    other = service.post(f"/v1/skus/{sku}/restock", {"quantity": 7, "transfer_id": "t5"})  # not a retry
    assert (other.status_code, other.json()["code"], other.json()["field"]) == (
        409,
        "id_conflict",
        "transfer_id",
    )
    assert service.get(f"/v1/skus/{sku}").json()["on_hand"] == 10  # 5 + the first 5, once
    hint = service.get("/v1/live/hints", params={"skus": f"{sku},A\x00B"})
    assert (hint.status_code, hint.json()["field"]) == (422, "skus")
    typo = service.get("/v1/live/hints", params={"skus": f"{sku},NO-SUCH-SKU"})  # not "sold out"
    assert (typo.status_code, typo.json()["code"], typo.json()["field"]) == (404, "unknown_sku", "skus")
    assert "NO-SUCH-SKU" in typo.json()["message"]
    deep = requests.post(
        service.url + "/v1/orders",
        data=b"[" * 100_000 + b"]" * 100_000,
        timeout=30,
        headers={**service.headers("ingest"), "Content-Type": "application/json"},
    )
    assert (deep.status_code, deep.json()["code"]) == (400, "bad_request")  # was a 500


def test_orders_batch_confirm_cancel_and_lookup(service: Service) -> None:
    sku = service.new_sku(3, name="测试款")
    body = {"orders": [order(sku, "o1", 2), order(sku, "o2", 2), order(sku, "o3", 1)]}
    decisions = service.post("/v1/orders", body, role="ingest").json()["decisions"]
    assert [(d["order_id"], d["accepted"], d["reason"]) for d in decisions] == [
        ("o1", True, ""),
        ("o2", False, "insufficient"),
        ("o3", True, ""),
    ]
    assert service.post("/v1/orders/douyin/o1/confirm", role="ingest").json()["accepted"]
    assert service.post("/v1/orders/douyin/o3/cancel", role="ingest").json()["accepted"]
    lines = service.get("/v1/orders/douyin/o1").json()["lines"]
    assert [(line["sku"], line["status"]) for line in lines] == [(sku, "sold")]
    assert service.get("/v1/orders/douyin/o2").status_code == 404  # rejected: not an order
    view = service.get(f"/v1/skus/{sku}").json()
    assert (view["sold"], view["reserved"], view["available"]) == (2, 0, 1)
    assert view["oversold"] == {"douyin": 1}
    wrong_channel = service.post("/v1/orders", {"orders": [order(sku, "t1", 1, "taobao")]}, role="ingest")
    assert wrong_channel.status_code == 403


def test_an_order_whose_id_holds_a_slash_is_looked_up_and_confirmed(service: Service) -> None:
    # ids may hold "/"; sent as %2F, the server decodes it before routing
    sku = service.new_sku(3, name="测试款")
    placed = service.post("/v1/orders", {"orders": [order(sku, "a/b", 1)]}, role="ingest").json()
    assert placed["decisions"][0]["accepted"]
    assert service.post("/v1/orders/douyin/a%2Fb/confirm", role="ingest").json()["accepted"]
    lines = service.get("/v1/orders/douyin/a%2Fb").json()["lines"]
    assert [(line["sku"], line["status"]) for line in lines] == [(sku, "sold")]
    assert service.get("/v1/orders/douyin/a%2Fc").status_code == 404  # unknown, not 405


def test_platform_webhook_needs_a_valid_signature(service: Service) -> None:
    sku = service.new_sku(10, name="测试款")
    data = {
        "p_id": 777001,
        "create_time": int(time.time()),
        "sku_order_list": [{"out_sku_id": sku, "item_num": 2, "pay_amount": 100}],
    }
    body = json.dumps([{"tag": "100", "data": json.dumps(data)}]).encode()
    path = service.url + "/v1/channels/douyin/orders"
    headers = {**service.headers("ingest"), "Content-Type": "application/json"}
    now = int(time.time())
    forged = requests.post(
        path, data=body, timeout=30, headers={**headers, **webhook_headers(b"wrong", "msg_1", now, body)}
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "bad_signature")
    assert service.get(f"/v1/skus/{sku}").json()["reserved"] == 0
    signed = requests.post(
        path,
        data=body,
        timeout=30,
        headers={**headers, **webhook_headers(WEBHOOK_SECRET.encode(), "msg_1", now, body)},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["decisions"][0]["accepted"]
    assert service.get(f"/v1/skus/{sku}").json()["reserved"] == 2


def sse_events(response: requests.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (id, data) of each SSE event of a streaming response, as they come."""
    event_id = ""
    for raw in response.iter_lines(decode_unicode=True):
        line = text(raw)
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            yield event_id, json.loads(line[6:])


def read_events(response: requests.Response, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The next ``count`` SSE events (the stream's keep-alives bound the wait)."""
    return list(itertools.islice(sse_events(response), count))


def read_until(response: requests.Response, sku: str) -> tuple[str, dict[str, Any]]:
    """SSE events until the first one about ``sku``."""
    for event_id, record in sse_events(response):
        if record["alert"]["sku"] == sku:
            return event_id, record
    raise AssertionError(f"the stream ended before an alert for {sku}")


def test_alerts_ack_silence_subscriptions_and_sse_resume(service: Service) -> None:
    first, second = (
        service.new_sku(10, name="测试款", critical_floor=3),
        service.new_sku(10, name="测试款", critical_floor=3),
    )
    stream = requests.get(
        service.url + "/v1/alerts/stream", headers=service.headers("viewer"), stream=True, timeout=60
    )
    assert stream.status_code == 200
    service.post("/v1/orders", {"orders": [order(first, "f1", 8)]}, role="ingest")
    event_id, record = read_until(stream, first)  # other tests' SKUs may alert meanwhile
    stream.close()  # the client goes away...

    service.post("/v1/orders", {"orders": [order(second, "s1", 8)]}, role="ingest")

    def since() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get(
            "/v1/alerts", params={"state": "history", "after": event_id}
        ).json()["items"]
        return items

    wait_for(lambda: any(i["alert"]["sku"] == second for i in since()), message="the second alert")
    expected = [i["event_id"] for i in since()]
    resumed = requests.get(
        service.url + "/v1/alerts/stream",
        stream=True,
        timeout=60,
        headers={**service.headers("viewer"), "Last-Event-ID": event_id},
    )
    missed = read_events(resumed, len(expected))  # ...and gets all it missed on reconnect
    resumed.close()
    assert [entry_id for entry_id, _ in missed] == expected
    assert second in {r["alert"]["sku"] for _, r in missed}
    emergency = next(
        a
        for a in service.get("/v1/alerts").json()["items"]
        if a["sku"] == first and a["level"] == "EMERGENCY"
    )
    record = {"alert": emergency}

    alert_id = record["alert"]["id"]
    acked = service.post(f"/v1/alerts/{alert_id}/ack", {"comment": "on it"}).json()
    assert acked["acked_by"] == "oliver"
    assert service.post("/v1/alerts/no-such/ack", {}).status_code == 404
    silence = service.post("/v1/silences", {"sku": second, "minutes": 30}).json()
    assert silence["created_by"] == "oliver"
    # .invalid never resolves (RFC 2606): the subscription is kept, nothing is ever sent
    created = service.post(
        "/v1/subscriptions", {"url": "http://hooks.invalid/hook", "secret": "s" * 20, "levels": ["EMERGENCY"]}
    )
    assert created.status_code == 201
    listed = service.get("/v1/subscriptions", role="operator").json()
    assert [s["id"] for s in listed] == [created.json()["id"]]
    bad = service.post("/v1/subscriptions", {"url": "ftp://x/y", "secret": "s" * 20})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_url")
    loopback = service.post("/v1/subscriptions", {"url": "http://127.0.0.1:9/hook", "secret": "s" * 20})
    assert (loopback.status_code, loopback.json()["code"]) == (422, "invalid_url")
    delete = requests.delete(
        f"{service.url}/v1/subscriptions/{created.json()['id']}",
        headers=service.headers("operator"),
        timeout=30,
    )
    assert delete.status_code == 204
    history = service.get("/v1/alerts", params={"state": "history", "sku": first}).json()
    assert history["items"][0]["alert"]["sku"] == first
    # a filter reads on past other SKUs' entries: page by page, one match a page, the
    # same entries as one read of them all
    whole = [item["event_id"] for item in history["items"]]
    paged: list[str] = []
    cursor = "-"
    for _ in range(len(whole) + 1):
        page = service.get(
            "/v1/alerts", params={"state": "history", "sku": first, "limit": 1, "after": cursor}
        )
        paged += [item["event_id"] for item in page.json()["items"]]
        cursor = page.json()["next_after"]
    assert paged == whole

    hints = service.get("/v1/live/hints", params={"skus": f"{first},{second}"}).json()
    assert hints[0]["host_line"] == "这款还能卖2单"  # 2 available + 10% of 8 unpaid, rounded down
    assert "最后2件" in hints[0]["chat_hint"]


def test_health_readiness_metrics_and_openapi(service: Service) -> None:
    assert service.get("/healthz", role=None).json() == {"status": "ok"}
    ready = service.get("/readyz", role=None).json()
    assert ready["status"] == "ready"
    assert ready["redis"] is True
    assert ready["redis_durability"] == "durable"  # the embedded Redis fsyncs every commit
    metrics = service.get("/metrics", role=None).text
    assert 'flashstock_ingest_backlog{channel="douyin",state="pending"}' in metrics
    assert 'flashstock_alerts_open{level="EMERGENCY"}' in metrics
    schema = service.get("/openapi.json", role=None).json()
    assert "/v1/orders" in schema["paths"]
    assert "/v1/alerts/stream" in schema["paths"]
    page = requests.get(service.url + "/", timeout=30)
    assert page.status_code == 200
    assert "flashstock" in page.text
