"""POST /v1/subscriptions with a receiver kind, over HTTP against the running service:
each kind's needs are checked with a clear error naming the field, the timing is kept,
a robot's URL (its secret) is never shown back, and the OpenAPI schema states the kinds."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from tests.e2e.conftest import Service
from tests.support import wait_for

#: .invalid never resolves (RFC 2606): accepted, and nothing is ever sent
DING = "https://oapi.dingtalk.invalid/robot/send?access_token=robot-token-1"


def delete(service: Service, subscription_id: str) -> None:
    answer = requests.delete(
        f"{service.url}/v1/subscriptions/{subscription_id}", headers=service.headers("operator"), timeout=30
    )
    assert answer.status_code == 204


def test_a_dingtalk_subscription_keeps_its_kind_and_timing_and_hides_its_token(service: Service) -> None:
    created = service.post(
        "/v1/subscriptions",
        {
            "kind": "dingtalk",
            "url": DING,
            "secret": "SEC0123456789",
            "levels": ["EMERGENCY"],
            "group_wait_seconds": 0,
            "group_interval_seconds": 10,
            "repeat_interval_seconds": 600,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "dingtalk"
    assert body["url"] == "https://oapi.dingtalk.invalid/***"
    assert (body["group_wait_seconds"], body["group_interval_seconds"], body["repeat_interval_seconds"]) == (
        0,
        10,
        600,
    )
    listed = {s["id"]: s for s in service.get("/v1/subscriptions", role="operator").json()}
    assert listed[body["id"]] == body
    assert "robot-token-1" not in service.get("/v1/subscriptions", role="operator").text
    delete(service, body["id"])


def test_a_plain_webhook_subscription_gets_the_documented_defaults(service: Service) -> None:
    created = service.post("/v1/subscriptions", {"url": "https://hooks.invalid/ops", "secret": "s" * 20})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "webhook"
    assert body["url"] == "https://hooks.invalid/ops"
    assert (body["group_wait_seconds"], body["group_interval_seconds"], body["repeat_interval_seconds"]) == (
        5,
        30,
        1800,
    )
    delete(service, body["id"])


def test_what_a_receiver_cannot_take_is_refused_naming_the_field(service: Service) -> None:
    cases = [
        ({"kind": "wecom", "url": "https://qyapi.invalid/send?key=k", "secret": "x" * 20}, "secret"),
        ({"kind": "dingtalk", "url": "https://oapi.dingtalk.invalid/robot/send"}, "url"),
        ({"url": "https://hooks.invalid/a", "secret": "short"}, "secret"),
        ({"kind": "slack", "url": "https://hooks.invalid/a"}, "kind"),
        ({"url": "https://hooks.invalid/a", "secret": "s" * 20, "levels": ["LOW"]}, "levels.0"),
        (
            {"url": "https://hooks.invalid/a", "secret": "s" * 20, "repeat_interval_seconds": 10},
            "repeat_interval_seconds",
        ),
        (
            {"url": "https://hooks.invalid/a", "secret": "s" * 20, "group_wait_seconds": -1},
            "group_wait_seconds",
        ),
    ]
    before = service.get("/v1/subscriptions", role="operator").json()
    for request, field in cases:
        answer = service.post("/v1/subscriptions", request)
        assert answer.status_code == 422, (request, answer.text)
        assert answer.json()["field"] == field, (request, answer.json())
        assert answer.json()["code"] in ("invalid_subscription", "validation_error")
    assert service.get("/v1/subscriptions", role="operator").json() == before  # nothing half made


def test_the_openapi_schema_lists_the_receiver_kinds(service: Service) -> None:
    schema = service.get("/openapi.json", role=None).json()
    request = schema["components"]["schemas"]["SubscriptionRequest"]
    assert request["properties"]["kind"]["enum"] == [
        "webhook",
        "alertmanager",
        "alertmanager-api",
        "dingtalk",
        "wecom",
        "feishu",
    ]
    assert request["properties"]["kind"]["default"] == "webhook"
    assert request["properties"]["group_wait_seconds"]["default"] == 5


def test_a_receiver_that_never_answers_ends_in_its_dead_letters_over_http(service: Service) -> None:
    created = service.post(
        "/v1/subscriptions",
        {
            "url": "http://hooks.invalid/hook",
            "secret": "s" * 20,
            "levels": ["EMERGENCY"],
            "group_wait_seconds": 0,
        },
    )
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    assert (
        service.put(f"/v1/skus/{sku}", {"on_hand": 10, "name": "测试款", "critical_floor": 3}).status_code
        == 200
    )
    order = {
        "channel": "douyin",
        "order_id": "d1",
        "placed_at": time.time(),
        "lines": [{"sku": sku, "quantity": 8}],
    }
    assert service.post("/v1/orders", {"orders": [order]}, role="ingest").status_code == 200

    def ours() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get(
            f"/v1/subscriptions/{sub_id}/dead-letters", role="operator"
        ).json()["items"]
        return [i for i in items if sku in {n["alert"]["sku"] for n in i["payload"]["notifications"]}]

    # hooks.invalid never resolves: five attempts with backoff, then the dead letter
    wait_for(lambda: bool(ours()), timeout=90, message="the digest in the dead letters")
    [letter] = ours()
    assert letter["attempts"] == 5
    assert "cannot resolve hooks.invalid" in letter["error"]
    assert letter["url"] == "http://hooks.invalid/hook"
    delete(service, sub_id)
    # kept after the subscription is gone, for a resend
    assert ours() == [letter]
    unknown = service.get("/v1/subscriptions/sub-never/dead-letters", role="operator")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_subscription")
