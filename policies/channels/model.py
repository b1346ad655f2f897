"""What every platform's messages become: one internal shape per kind of message."""

from __future__ import annotations

from typing import NamedTuple


class OrderLine(NamedTuple):
    """``quantity`` units of one SKU (the merchant's SKU code, flashstock's SKU id)."""

    sku: str
    quantity: int


class PlatformOrder(NamedTuple):
    """An order a platform accepted. ``placed_at`` is the platform's event time (epoch
    seconds); ``paid`` is true when it arrives already paid."""

    channel: str
    order_id: str
    lines: tuple[OrderLine, ...]
    buyer_id: str
    placed_at: float
    paid: bool = False


class Payment(NamedTuple):
    """The order was paid. ``skus`` empty means every line of the order."""

    channel: str
    order_id: str
    paid_at: float
    skus: tuple[str, ...] = ()


class Cancellation(NamedTuple):
    """The order (or some of its lines) was cancelled or refunded: units go back.
    ``skus`` empty means every line of the order."""

    channel: str
    order_id: str
    reason: str
    skus: tuple[str, ...] = ()


class Ignored(NamedTuple):
    """A well-formed message that does not touch stock (shipping, address change...).
    It is acknowledged and counted, not dead-lettered."""

    channel: str
    kind: str


class Unreadable(NamedTuple):
    """A message that could not be used, with the reason; parked in the dead-letter
    stream with its raw text."""

    channel: str
    reason: str
    raw: str
    order_id: str = ""


ChannelMessage = PlatformOrder | Payment | Cancellation | Ignored
