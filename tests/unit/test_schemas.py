"""Request schemas (``serve_app.schemas``): no coercion into numbers or booleans, one
rule for every id the API takes, and the error answers every route publishes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ValidationError

from policies.channels.fields import LATEST
from serve_app.routes_alerts import router as alerts_router
from serve_app.routes_stock import router as stock_router
from serve_app.schemas import (
    ID_PATTERN,
    AdjustRequest,
    OrdersRequest,
    RestockRequest,
    SilenceRequest,
    SkuSpec,
    id_problem,
)

ORDER: dict[str, Any] = {
    "channel": "douyin",
    "order_id": "o-1",
    "placed_at": 1_800_000_000,
    "lines": [{"sku": "SKU-1", "quantity": 2}],
}


def refused_field(model: type[BaseModel], body: dict[str, Any]) -> str:
    """The dotted location of the first field ``model`` refuses in ``body``."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return ".".join(str(part) for part in caught.value.errors()[0]["loc"])


def order_with(**changes: Any) -> dict[str, Any]:
    return {"orders": [{**ORDER, **changes}]}


def test_a_well_formed_order_is_taken_with_json_integers_for_numbers() -> None:
    parsed = OrdersRequest.model_validate(order_with(paid=True))
    assert parsed.orders[0].placed_at == 1_800_000_000.0
    assert parsed.orders[0].paid is True
    assert parsed.orders[0].buyer_id == "unknown"


@pytest.mark.parametrize("paid", ["yes", "true", 1, 0, None])
def test_paid_must_be_a_json_boolean(paid: Any) -> None:
    assert refused_field(OrdersRequest, order_with(paid=paid)) == "orders.0.paid"


@pytest.mark.parametrize("quantity", [True, "2", 2.5, "1e3", None])
def test_a_line_quantity_must_be_a_json_integer(quantity: Any) -> None:
    body = order_with(lines=[{"sku": "SKU-1", "quantity": quantity}])
    assert refused_field(OrdersRequest, body) == "orders.0.lines.0.quantity"


def test_a_number_with_nothing_after_the_point_is_the_integer_json_schema_says_it_is() -> None:
    # JSON Schema's "integer" includes 2.0; the published schema and the service agree
    parsed = OrdersRequest.model_validate(order_with(lines=[{"sku": "SKU-1", "quantity": 2.0}]))
    assert parsed.orders[0].lines[0].quantity == 2
    assert type(parsed.orders[0].lines[0].quantity) is int


def test_the_published_id_pattern_states_the_rule_the_service_applies() -> None:
    pattern = re.compile(ID_PATTERN)
    accepted = ["SKU-1", "卫衣 联名", "a.b", "😀", "x" * 128]
    refused = [" a", "a ", "..", "a\u00a0b", "\ufffd", "a\u200bb", "a\nb", "x" * 129]
    for value in accepted + refused:
        assert (pattern.match(value) is not None) == (id_problem(value) is None), repr(value)
    assert all(id_problem(value) is None for value in accepted)


def test_an_arrival_after_2100_is_refused_as_the_owners_refuse_it() -> None:
    # milliseconds sent as seconds: the transfer would stay inbound, the SKU undeletable
    assert refused_field(RestockRequest, {"quantity": 5, "transfer_id": "t", "arrives_at": 1.795e12}) == (
        "arrives_at"
    )
    RestockRequest.model_validate({"quantity": 5, "transfer_id": "t", "arrives_at": LATEST})


def test_an_adjustment_of_zero_units_is_refused_as_the_owners_refuse_it() -> None:
    # it was answered 200 with accepted false, reason invalid
    with pytest.raises(ValidationError) as caught:
        AdjustRequest.model_validate({"delta": 0, "adjustment_id": "a", "reason": "r"})
    assert [(e["loc"], e["msg"]) for e in caught.value.errors()] == [(("delta",), "delta must not be 0")]
    assert AdjustRequest.model_validate({"delta": -1.0, "adjustment_id": "a", "reason": "r"}).delta == -1


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (RestockRequest, {"quantity": True, "transfer_id": "t"}, "quantity"),
        (RestockRequest, {"quantity": "5", "transfer_id": "t"}, "quantity"),
        (RestockRequest, {"quantity": 5, "transfer_id": "t", "arrives_at": "soon"}, "arrives_at"),
        (RestockRequest, {"quantity": 5, "transfer_id": "t", "arrives_at": float("inf")}, "arrives_at"),
        (AdjustRequest, {"delta": "-1", "adjustment_id": "a", "reason": "r"}, "delta"),
        (SkuSpec, {"on_hand": "10"}, "on_hand"),
        (SkuSpec, {"on_hand": False}, "on_hand"),
        (SkuSpec, {"lead_time_minutes": "60"}, "lead_time_minutes"),
        (SilenceRequest, {"minutes": "30"}, "minutes"),
        (OrdersRequest, order_with(placed_at="1800000000"), "orders.0.placed_at"),
    ],
)
def test_numbers_and_booleans_are_never_coerced_from_strings_or_booleans(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    assert refused_field(model, body) == field


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        " SKU-1",
        "SKU-1 ",
        "SKU-1\n",
        "a\nb",
        "a\tb",
        "a\x00b",
        "a\x7fb",
        "\ufffd",
        "a\u00a0b",  # no-break space
        "a\u200bb",  # zero-width space (a format character)
        "a\u202eb",  # right-to-left override
        ".",
        "..",
        "...",
        "x" * 129,
    ],
)
def test_ids_must_be_printable_trimmed_and_short(value: str) -> None:
    assert id_problem(value) is not None
    assert refused_field(OrdersRequest, order_with(order_id=value)) == "orders.0.order_id"
    assert refused_field(OrdersRequest, order_with(channel=value)) == "orders.0.channel"
    assert refused_field(OrdersRequest, order_with(buyer_id=value)) == "orders.0.buyer_id"
    line = [{"sku": value, "quantity": 1}]
    assert refused_field(OrdersRequest, order_with(lines=line)) == "orders.0.lines.0.sku"
    assert refused_field(RestockRequest, {"quantity": 1, "transfer_id": value}) == "transfer_id"
    adjust = {"delta": 1, "adjustment_id": value, "reason": "recount"}
    assert refused_field(AdjustRequest, adjust) == "adjustment_id"
    assert refused_field(SilenceRequest, {"sku": value, "minutes": 5}) == "sku"
    assert refused_field(SkuSpec, {"substitutes": [value]}) == "substitutes.0"


@pytest.mark.parametrize("value", ["SKU-1", "测试款-红色", "a b", "a.b", "*", "x" * 128, "1234567890"])
def test_printable_ids_up_to_the_limit_are_taken(value: str) -> None:
    assert id_problem(value) is None
    assert OrdersRequest.model_validate(order_with(order_id=value)).orders[0].order_id == value


def test_an_id_problem_is_a_sentence_about_the_id() -> None:
    with pytest.raises(ValidationError) as caught:
        OrdersRequest.model_validate(order_with(order_id=" o-1"))
    assert caught.value.errors()[0]["msg"] == "id must not start or end with whitespace"


@pytest.mark.parametrize("field", ["on_sale_since", "on_sale_until"])
def test_an_on_sale_time_past_the_year_2100_is_refused_naming_its_field(field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SkuSpec.model_validate({field: LATEST + 1})

    assert refused.value.errors()[0]["loc"] == (field,)
    assert SkuSpec.model_validate({field: LATEST}).model_dump()[field] == LATEST


def test_every_write_publishes_the_front_doors_refusals_in_the_error_shape() -> None:
    app = FastAPI()
    app.include_router(stock_router)
    app.include_router(alerts_router)
    document = get_openapi(title="flashstock", version="0", routes=app.routes)
    writes = [
        operation
        for operations in document["paths"].values()
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert writes
    for operation in writes:
        for status in ("401", "408", "413", "415", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (operation["operationId"], status)
