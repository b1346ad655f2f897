"""Encoded platform messages read back, through the real adapters, as what was meant."""

from __future__ import annotations

import pytest

from policies.channels import Cancellation, OrderLine, Payment, PlatformOrder, parse_message
from scripts.loadgen.messages import cancel_message, format_of, order_message, payment_message

FORMATS = ["douyin", "taobao", "kuaishou", "generic"]
PLACED = 1_762_860_000.25


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_encoded_order_parses_to_the_same_order(fmt: str) -> None:
    message = parse_message("live", fmt, order_message(fmt, "HOODIE-7", "HOODIE", 2, PLACED, "b7"))

    assert isinstance(message, PlatformOrder)
    assert (message.order_id, message.buyer_id) == ("HOODIE-7", "b7")
    assert message.lines == (OrderLine("HOODIE", 2),)
    assert not message.paid
    assert message.placed_at == pytest.approx(PLACED, abs=1.0)  # some platforms send whole seconds


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_encoded_payment_and_cancel_parse_to_the_same_notice(fmt: str) -> None:
    paid = parse_message("live", fmt, payment_message(fmt, "HOODIE-7", PLACED + 60))
    cancelled = parse_message("live", fmt, cancel_message(fmt, "HOODIE-8", "expired"))

    assert isinstance(paid, Payment)
    assert paid.order_id == "HOODIE-7"
    assert paid.paid_at == pytest.approx(PLACED + 60, abs=1.0)
    assert isinstance(cancelled, Cancellation)
    assert (cancelled.order_id, cancelled.skus) == ("HOODIE-8", ())


def test_channels_speak_their_platform_format_by_name() -> None:
    assert [format_of(c) for c in ("douyin", "taobao", "kuaishou", "miniprogram")] == [
        "douyin",
        "taobao",
        "kuaishou",
        "generic",
    ]
