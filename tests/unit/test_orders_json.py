"""``serve_app.orders_json`` against the route it replaces: FastAPI validating the body
with ``OrdersRequest``, then ``serve_app.orders.platform_orders``.

Hypothesis builds valid bodies (ids of every shape the schema takes, times as integers
and floats at the bounds, whole-number floats as quantities, optional fields left out,
lines of one SKU to merge) and mutates them (a value replaced by any JSON value, a key
removed or added, a key repeated, lists emptied, NaN, a BOM, bytes cut or changed,
other content types). Every body must give what the reference gives: the same orders,
or the same 422 with the same field and message; a valid body must take the fast path,
and the fast path alone must never take a body the reference refuses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message

from policies.channels.fields import EARLIEST, LATEST
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY, Decision
from policies.orders import OrderDecision
from serve_app.app import create_api
from serve_app.backend import AppArgs
from serve_app.errors import ApiError, error_body, install_error_handlers
from serve_app.orders import InvalidOrder, platform_orders
from serve_app.orders_json import DecodedOrders, decode_fast, decode_orders, encode_decisions, order_json
from serve_app.schemas import MAX_ORDERS_PER_REQUEST, OrdersRequest, OrdersResponse

EXAMPLES = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
JSON = "application/json"


def reference_app() -> FastAPI:
    """The route as it was: FastAPI reads and validates the body with the schema."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/orders")
    def orders(body: OrdersRequest) -> dict[str, Any]:
        converted = platform_orders(body.orders)
        return {"channels": [o.channel for o in body.orders], "orders": repr(converted)}

    return app


REFERENCE = reference_app()


def reference(body: bytes, content_type: str | None) -> tuple[int, dict[str, Any]]:
    """The reference app's answer to a POST of ``body``, called as an ASGI server would."""
    headers = [] if content_type is None else [(b"content-type", content_type.encode("latin-1"))]
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/orders",
        "raw_path": b"/orders",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []
    requests: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return requests.pop(0) if requests else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(REFERENCE(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(answer)


def as_answer(decoded: DecodedOrders) -> tuple[int, dict[str, Any]]:
    return 200, {"channels": decoded.channels, "orders": repr(decoded.orders)}


def candidate(body: bytes, content_type: str | None) -> tuple[int, dict[str, Any]]:
    try:
        return as_answer(decode_orders(body, content_type))
    except ApiError as error:
        return error.status, error_body(error.code, error.message, error.field)


def assert_same_as_reference(body: bytes, content_type: str | None = JSON) -> None:
    expected = reference(body, content_type)
    assert candidate(body, content_type) == expected, body
    fast = decode_fast(body)
    if fast is not None and content_type == JSON:
        assert expected[0] == 200, body  # the fast path never takes what the schema refuses
        assert as_answer(fast) == expected, body


# ---- bodies ---------------------------------------------------------------------------

plain_ids = st.text(alphabet="abcXYZ019-_.:/ ", min_size=1, max_size=12)
unicode_ids = st.text(min_size=0, max_size=8)  # any code point: spaces, controls, dots, ...
edge_ids = st.sampled_from(
    [
        "x" * MAX_ID_LENGTH,
        "x" * (MAX_ID_LENGTH + 1),
        "...",
        ".a.",
        " a",
        "a ",
        "a b",
        "直播-1",
        "a\u00a0b",
        "a\n",
    ]
)
ids = st.one_of(plain_ids, plain_ids, unicode_ids, edge_ids)
times = st.one_of(
    st.floats(EARLIEST, LATEST),
    st.integers(int(EARLIEST), int(LATEST)),
    st.sampled_from([EARLIEST, LATEST, EARLIEST - 1, LATEST + 0.5, 0, -1.5, 1e300]),
)
quantities = st.one_of(
    st.integers(1, 5),
    st.sampled_from(
        [0, -1, MAX_LINE_QUANTITY, MAX_LINE_QUANTITY + 1, 2.0, 2.5, 1e20, MAX_LINE_QUANTITY * 1.0]
    ),
)
skus = st.one_of(st.sampled_from(["A", "B", "C-1"]), ids)


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    return {"sku": draw(skus), "quantity": draw(quantities)}


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    order: dict[str, Any] = {
        "channel": draw(st.one_of(st.just("douyin"), ids)),
        "order_id": draw(ids),
        "placed_at": draw(times),
        "lines": draw(st.lists(lines(), min_size=1, max_size=4)),
    }
    if draw(st.booleans()):
        order["buyer_id"] = draw(ids)
    if draw(st.booleans()):
        order["paid"] = draw(st.booleans())
    return order


bodies = st.builds(lambda o: {"orders": o}, st.lists(orders(), min_size=1, max_size=4))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = draw(bodies)
    path = draw(st.sampled_from(paths(body)))
    kind = draw(st.sampled_from(["replace", "remove", "add", "repeat", "empty", "nan", "bytes", "bom"]))
    if kind == "replace":
        body = replaced(body, path, draw(json_values))
    elif kind in ("remove", "add") and path:
        parent_path, key = path[:-1], path[-1]
        parent = body
        for part in parent_path:
            parent = parent[part]
        if kind == "remove" and isinstance(parent, dict):
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Channel", "sku", "lines"]))] = draw(json_values)
    elif kind == "empty":
        body = replaced(body, path, [] if draw(st.booleans()) else {})
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    if kind == "repeat":  # a key given twice: JSON keeps the last
        field = draw(st.sampled_from(['"placed_at": ', '"sku": ', '"paid": ', '"orders": ']))
        text = text.replace(field, f"{field}{json.dumps(draw(json_values))}, {field}", 1)
    if kind == "nan":
        text = text.replace('"placed_at": ', '"placed_at": NaN, "x": ', 1)
    raw = text.encode()
    if kind == "bytes" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.binary(max_size=2))
    if kind == "bom":
        raw = b"\xef\xbb\xbf" + raw
    return raw


# ---- the differential tests -----------------------------------------------------------


@EXAMPLES
@given(body=bodies)
def test_generated_bodies_take_the_fast_path_and_equal_the_reference(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert_same_as_reference(raw)
    if reference(raw, JSON)[0] == 200:
        assert decode_fast(raw) is not None, raw


@EXAMPLES
@given(raw=mutated())
def test_mutated_bodies_are_refused_or_taken_as_the_reference_does(raw: bytes) -> None:
    assert_same_as_reference(raw)


@EXAMPLES
@given(
    body=bodies,
    content_type=st.sampled_from(
        [None, "text/plain", "application/merge-patch+json", "APPLICATION/JSON; charset=utf-8"]
    ),
)
def test_content_types_are_read_as_fastapi_reads_them(body: dict[str, Any], content_type: str | None) -> None:
    assert_same_as_reference(json.dumps(body).encode(), content_type)


def test_a_refusal_names_the_field_of_the_order() -> None:
    body = {"orders": [_order("o1"), _order("o2") | {"buyer_id": "a\tb"}]}
    status, answer = candidate(json.dumps(body).encode(), JSON)
    assert (status, answer["code"], answer["field"]) == (422, "validation_error", "orders.1.buyer_id")
    assert_same_as_reference(json.dumps(body).encode())


def test_lines_of_one_sku_over_the_limit_break_a_channel_rule() -> None:
    order = _order("o1") | {
        "lines": [{"sku": "A", "quantity": MAX_LINE_QUANTITY}, {"sku": "A", "quantity": 1}]
    }
    raw = json.dumps({"orders": [_order("o0"), order]}).encode()
    decoded = decode_fast(raw)
    assert decoded is not None
    assert isinstance(decoded.orders, InvalidOrder)
    assert decoded.orders.field == "orders.1.lines"
    assert_same_as_reference(raw)


def test_the_order_count_bounds_are_the_schemas() -> None:
    for count in (0, 1, MAX_ORDERS_PER_REQUEST, MAX_ORDERS_PER_REQUEST + 1):
        assert_same_as_reference(json.dumps({"orders": [_order(f"o{n}") for n in range(count)]}).encode())


def test_empty_and_unreadable_bodies_are_refused_as_fastapi_refuses_them() -> None:
    for raw in (b"", b"{", b"[]", b"null", b'{"orders": [}', '{"orders": "直播"}'.encode("utf-16")):
        assert_same_as_reference(raw)


def test_bytes_not_utf8_inside_a_string_are_refused_as_fastapi_refuses_them() -> None:
    # msgspec raises UnicodeDecodeError (not a DecodeError) for these: it was a 500
    good = json.dumps({"orders": [_order("o1")]}).encode()
    for bad, status in ((b"\xff", 400), (b"\xc3", 400), (b"\xed\xa0\x80", 422)):  # json.loads: surrogatepass
        raw = good.replace(b'"o1"', b'"o' + bad + b'"')
        assert_same_as_reference(raw)
        assert reference(raw, JSON)[0] == status, raw


def test_json_nested_too_deep_is_refused_as_fastapi_refuses_it() -> None:
    # json.loads raises RecursionError (not a ValueError) for these: it was a 500
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"orders": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"):
        assert_same_as_reference(raw)
        assert reference(raw, JSON)[0] == 400


def test_the_answer_is_the_documented_response() -> None:
    line = Decision("reserve", "A", "douyin|o1", True, "reserved", 1, 9)
    decision = OrderDecision("douyin", "o1", True, "", "", (line,), False)
    encoded = encode_decisions([decision, decision._replace(accepted=False, reason="sold_out")])
    assert json.loads(encoded) == {
        "decisions": [order_json(decision), order_json(decision._replace(accepted=False, reason="sold_out"))]
    }
    OrdersResponse.model_validate_json(encoded)  # the shape the OpenAPI schema states


def _order(order_id: str) -> dict[str, Any]:
    return {
        "channel": "douyin",
        "order_id": order_id,
        "placed_at": EARLIEST + 1,
        "lines": [{"sku": "A", "quantity": 1}],
    }


def test_the_schema_still_documents_the_body() -> None:
    app = create_api(AppArgs(redis_url="redis://unused"))
    document = app.openapi()
    body = document["paths"]["/v1/orders"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrdersRequest"}
    schemas = document["components"]["schemas"]
    assert schemas["OrdersRequest"]["properties"]["orders"]["maxItems"] == MAX_ORDERS_PER_REQUEST
    assert schemas["OrderIn"]["properties"]["channel"]["enum"] == sorted(
        AppArgs(redis_url="redis://unused").channels
    )
    assert set(schemas["LineIn"]["required"]) == {"sku", "quantity"}
