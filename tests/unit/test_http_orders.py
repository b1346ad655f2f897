"""``serve_app.orders``: a request's orders are converted whole or refused with the field
named, before any of them is decided."""

from __future__ import annotations

from policies.channels import PlatformOrder
from policies.ledger import MAX_ID_LENGTH
from serve_app.orders import InvalidOrder, platform_orders
from serve_app.schemas import LineIn, OrderIn

PLACED = 1_764_000_000.0


def order(order_id: str, sku: str = "A", buyer_id: str = "b1") -> OrderIn:
    # built without validation: these are what the schema's edges could let through
    line = LineIn.model_construct(sku=sku, quantity=1)
    return OrderIn.model_construct(
        channel="douyin", order_id=order_id, buyer_id=buyer_id, placed_at=PLACED, paid=False, lines=[line]
    )


def test_every_order_of_a_good_request_is_converted() -> None:
    converted = platform_orders([order("o1"), order("o2", "B")])
    assert isinstance(converted, list)
    assert [(o.order_id, o.lines[0].sku) for o in converted if isinstance(o, PlatformOrder)] == [
        ("o1", "A"),
        ("o2", "B"),
    ]


def test_one_bad_order_refuses_the_request_naming_its_field() -> None:
    assert platform_orders([order("o1"), order("o2", buyer_id="x\ny")]) == InvalidOrder(
        "orders.1.buyer_id", f"orders.1.buyer_id must be printable and at most {MAX_ID_LENGTH} characters"
    )
    problem = platform_orders([order("o1"), order("o2"), order("o3", sku="A\u00a0B")])
    assert isinstance(problem, InvalidOrder)
    assert problem.field == "orders.2.lines.0.sku"
    problem = platform_orders([order("   ")])
    assert isinstance(problem, InvalidOrder)
    assert problem.field == "orders.0.order_id"
