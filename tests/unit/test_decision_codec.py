"""The published decisions' stored form (``actors.infra.codec``): a line per decision,
its fields at tabs, read back as written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.infra.codec import decision_fields, format_notice, format_order_decision
from policies.ledger import Decision
from policies.orders import NoticeDecision, OrderDecision

# ids and reasons hold neither tabs, newlines nor the line separators (policies.ids)
words = st.text(st.characters(blacklist_characters="\t\n;:", blacklist_categories=["Cs"]))
decisions = st.builds(
    Decision,
    op=st.sampled_from(["reserve", "confirm", "release"]),
    sku=words.filter(bool),
    key=words,
    accepted=st.booleans(),
    status=st.sampled_from(["", "reserved", "sold", "released"]),
    quantity=st.integers(0, 100_000),
    available=st.integers(-5, 100_000),
    reason=words,
)
orders = st.builds(
    OrderDecision,
    channel=words,
    order_id=words,
    accepted=st.booleans(),
    reason=words,
    failed_sku=words,
    lines=st.lists(decisions, min_size=1, max_size=4).map(tuple),
    duplicate=st.booleans(),
)


@given(orders)
def test_an_order_decision_is_a_line_of_its_fields_with_each_line_as_sku_quantity_and_status(
    order: OrderDecision,
) -> None:
    lines = ";".join(f"{d.sku}:{d.quantity}:{d.status if d.status else d.reason}" for d in order.lines)
    flags = ["1" if order.accepted else "0", order.reason, order.failed_sku, "1" if order.duplicate else "0"]
    assert format_order_decision(order).split("\t") == ["order", order.order_id, *flags, lines]


@given(st.lists(orders, min_size=1, max_size=5), words, st.booleans())
def test_an_entry_of_decisions_reads_back_as_each_decision_s_fields(
    batch: list[OrderDecision], order_id: str, accepted: bool
) -> None:
    notice = NoticeDecision("payment", order_id, accepted, "unknown_order", ())
    text = "\n".join([*map(format_order_decision, batch), format_notice(notice)])
    fields = decision_fields({b"decisions": text.encode()})
    assert fields[:-1] == [format_order_decision(order).split("\t") for order in batch]
    assert fields[-1] == ["payment", order_id, "1" if accepted else "0", "unknown_order"]
