"""``POST /v1/orders`` without pydantic on the hot path: its body decoded by a typed
msgspec decoder, its answer encoded by msgspec.

``OrdersRequest`` (``serve_app.schemas``) still defines and documents the body; the
decoder here accepts exactly what it accepts (strict types, ids by ``id_problem``, the
same bounds, unknown fields refused), proved by a differential test against it
(``tests/unit/test_orders_json.py``). Whatever the fast decoder does not take, the body
goes through ``OrdersRequest`` as FastAPI would validate it, so a refusal names the same
field with the same message, and a body only the slow path takes (UTF-16, a BOM, a key
repeated after an invalid value) is still taken.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple

import msgspec
from pydantic import ValidationError

from policies.channels import OrderLine, PlatformOrder
from policies.channels import fields as f
from policies.channels.fields import EARLIEST, LATEST
from policies.ledger import MAX_LINE_QUANTITY
from policies.orders import OrderDecision
from serve_app.errors import ApiError, first_problem
from serve_app.guards.checks import is_json
from serve_app.orders import InvalidOrder, platform_orders
from serve_app.schemas import MAX_ORDERS_PER_REQUEST, OrdersRequest, id_problem


class _Line(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    sku: str
    #: a float only when it is whole (``2.0``): checked after decoding, as ``Whole`` does
    quantity: int | float


class _Order(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    channel: str
    order_id: str
    placed_at: Annotated[float, msgspec.Meta(ge=EARLIEST, le=LATEST)]
    lines: Annotated[list[_Line], msgspec.Meta(min_length=1, max_length=100)]
    buyer_id: str = "unknown"
    paid: bool = False


class _Orders(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    orders: Annotated[list[_Order], msgspec.Meta(min_length=1, max_length=MAX_ORDERS_PER_REQUEST)]


_DECODER = msgspec.json.Decoder(_Orders)
_ENCODER = msgspec.json.Encoder()


class DecodedOrders(NamedTuple):
    """A valid body's orders in request order: their channels, and the internal orders
    or the first order that breaks a channel rule (lines of one SKU over the limit
    together: ``serve_app.orders``)."""

    channels: list[str]
    orders: list[PlatformOrder] | InvalidOrder


def decode_fast(body: bytes) -> DecodedOrders | None:
    """What ``decode_orders`` answers, or None when the body is not one the typed
    decoder takes whole (then ``decode_orders`` asks the schema).

    Ids are checked with ``id_problem``, the schema's own rule, which is stricter than
    the channel adapters' ``fields.ident``: an id that passes needs no trimming."""
    try:
        request = _DECODER.decode(body)
    except msgspec.DecodeError:  # ValidationError (a wrong field) is one too
        return None
    except UnicodeDecodeError:  # bytes not UTF-8 inside a string: the schema path says 400
        return None
    good: set[str] = set()  # ids already checked in this body (channels, buyers, SKUs repeat)
    orders: list[PlatformOrder] = []
    broken: InvalidOrder | None = None  # a channel rule; only after every field is valid
    for position, order in enumerate(request.orders):
        for value in (order.channel, order.order_id, order.buyer_id):
            if value not in good:
                if id_problem(value) is not None:
                    return None
                good.add(value)
        lines = []
        for line in order.lines:
            sku, units = line.sku, line.quantity
            if sku not in good:
                if id_problem(sku) is not None:
                    return None
                good.add(sku)
            if type(units) is float:
                if not units.is_integer():
                    return None
                units = int(units)
            if not 1 <= units <= MAX_LINE_QUANTITY:
                return None
            lines.append(OrderLine(sku, int(units)))
        if len(lines) > 1:  # lines of one SKU are merged, and may then be too many
            field = f"orders.{position}.lines"
            try:
                merged = f.merge_lines([(line.sku, line.quantity) for line in lines], field)
                lines = [OrderLine(sku, units) for sku, units in merged]
            except f.FieldError as error:
                broken = broken or InvalidOrder(field, str(error))
        orders.append(
            PlatformOrder(
                order.channel, order.order_id, tuple(lines), order.buyer_id, order.placed_at, paid=order.paid
            )
        )
    channels = [order.channel for order in request.orders]
    return DecodedOrders(channels, broken or orders)


def decode_orders(body: bytes, content_type: str | None) -> DecodedOrders:
    """The orders of a ``POST /v1/orders`` body, by the typed decoder, else by the
    schema; ``ApiError`` 422 ``validation_error`` naming the first field the schema
    refuses, exactly as FastAPI would have refused the body."""
    if content_type is not None and is_json(content_type):
        fast = decode_fast(body)
        if fast is not None:
            return fast
    checked = schema_orders(body, content_type).orders
    return DecodedOrders([order.channel for order in checked], platform_orders(checked))


def schema_orders(body: bytes, content_type: str | None) -> OrdersRequest:
    """``body`` validated by ``OrdersRequest`` the way FastAPI validates a JSON body
    parameter: an empty body is missing, a body without a JSON content type is
    validated as bytes (and refused), JSON that does not parse is refused at its
    position (and bytes in no encoding JSON may have are 400); ``ApiError`` 422 says the
    first problem."""
    if not body:
        raise ApiError(422, "validation_error", "Field required")
    value: Any = body  # FastAPI reads JSON only under a JSON content type
    if content_type is not None and is_json(content_type):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as error:
            raise ApiError(422, "validation_error", "JSON decode error", str(error.pos)) from None
        except (ValueError, RecursionError):  # bytes in no encoding JSON may have, or nested too deep
            raise ApiError(400, "bad_request", "There was an error parsing the body") from None
    try:
        # as FastAPI validates a body parameter (from_attributes: its wording of a refusal)
        return OrdersRequest.model_validate(value, from_attributes=True)
    except ValidationError as error:
        message, field = first_problem(error.errors())
        raise ApiError(422, "validation_error", message, field) from None


def order_json(decision: OrderDecision) -> dict[str, Any]:
    """One order's decision as ``OrderOut`` states it."""
    return {
        "channel": decision.channel,
        "order_id": decision.order_id,
        "accepted": decision.accepted,
        "reason": decision.reason,
        "failed_sku": decision.failed_sku,
        "duplicate": decision.duplicate,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "accepted": line.accepted,
                "status": line.status,
                "reason": line.reason,
                "available": line.available,
            }
            for line in decision.lines
        ],
    }


def encode_decisions(decisions: Sequence[OrderDecision]) -> bytes:
    """The answer of ``POST /v1/orders`` (``OrdersResponse``) as JSON bytes."""
    return _ENCODER.encode({"decisions": [order_json(d) for d in decisions]})
