"""The order index's stored form (``actors.infra.codec``): compact JSON, read back whole,
and the older comma form still read."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from actors.infra.codec import decode_order, encode_order
from policies.orders import RecordedOrder

lines = st.tuples(st.text(min_size=1), st.integers(0, 100_000), st.text(), st.text())
orders = st.builds(
    RecordedOrder, st.lists(lines, min_size=1, max_size=4).map(tuple), st.booleans(), st.text(), st.text()
)


@given(orders)
def test_an_order_reads_back_as_it_was_written_in_plain_json(recorded: RecordedOrder) -> None:
    stored = encode_order(recorded)
    assert decode_order(stored) == recorded
    as_json = {"lines": [list(line) for line in recorded.lines], "accepted": recorded.accepted}
    assert json.loads(stored) == {**as_json, "reason": recorded.reason, "failed_sku": recorded.failed_sku}


def test_the_older_comma_form_reads_as_accepted_with_unknown_quantities() -> None:
    assert decode_order("A,B") == RecordedOrder((("A", 0, "", ""), ("B", 0, "", "")), True)


@given(orders)
def test_an_order_is_stored_as_the_compact_text_json_dumps_gives(recorded: RecordedOrder) -> None:
    as_json = {"lines": recorded.lines, "accepted": recorded.accepted}
    as_json |= {"reason": recorded.reason, "failed_sku": recorded.failed_sku}
    assert encode_order(recorded) == json.dumps(as_json, ensure_ascii=False, separators=(",", ":"))
