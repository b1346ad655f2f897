"""POST /v1/subscriptions with a receiver kind, over HTTP against the running service:
each kind's needs are checked with a clear error naming the field, the timing is kept,
a robot's URL (its secret) is never shown back, and the OpenAPI schema states the kinds."""

from __future__ import annotations

import requests

from tests.e2e.conftest import Service

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
