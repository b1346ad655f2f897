"""The published schema lists the configured channels on every channel field of a
request; a matcher whose default is ``*`` (a silence's) lists ``*`` too."""

from __future__ import annotations

from typing import Any

from serve_app.openapi import with_channels


def body(model: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
        }
    }


def test_channel_fields_list_the_configured_channels_and_a_matcher_also_star() -> None:
    document = {
        "paths": {
            "/v1/silences": {"post": body("SilenceRequest")},
            "/v1/orders": {"post": body("OrdersRequest")},
        },
        "components": {
            "schemas": {
                "SilenceRequest": {"properties": {"channel": {"type": "string", "default": "*"}}},
                "OrdersRequest": {
                    "properties": {"orders": {"items": {"$ref": "#/components/schemas/OrderIn"}}}
                },
                "OrderIn": {"properties": {"channel": {"type": "string"}}},
            }
        },
    }
    schemas = with_channels(document, ["douyin", "taobao"])["components"]["schemas"]
    assert schemas["SilenceRequest"]["properties"]["channel"]["enum"] == ["*", "douyin", "taobao"]
    assert schemas["OrderIn"]["properties"]["channel"]["enum"] == ["douyin", "taobao"]
