"""What the host says and what the chat replies with: the live-room hints.

The host needs one number: how many more orders can still be taken (锁单), counting the
units of unpaid orders that will come back because not everyone pays. The chat (弹幕)
reply templates get a hint per alert level, and, when a SKU is nearly gone or gone, the
substitute that still has stock. Templates are Chinese by default and configurable.

Host line and chat come from one count (sellable units, reserved units expected back
included), so they never contradict: both say sold out, or neither does. "最后N件" is
said only when N is small in absolute terms and in minutes of sales
(``N <= max(last_units_floor, last_units_minutes * rate)``); otherwise the chat says
"few left". The substitute is offered when the stock-out is at most
``substitute_eta_minutes`` away, or the SKU is sold out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from policies.alert_rules import Level

DEFAULT_TEMPLATES: dict[str, str] = {
    "host": "这款还能卖{orders}单",
    "host_sold_out": "这款已经卖完了",
    Level.TREND: "",
    Level.THRESHOLD: "这款库存不多了，想要的宝宝抓紧拍",
    Level.EMERGENCY: "最后{units}件，手慢无",
    "sold_out": "这款已经抢光了",
    "substitute": "没抢到的宝宝可以看看这个：{substitute}",
}


@dataclass(frozen=True, slots=True)
class LiveRoomSettings:
    #: share of unpaid reservations expected to be paid (the rest come back)
    pay_ratio: float = 0.9
    #: units an order takes on average (1 for most live-room items)
    units_per_order: float = 1.0
    #: "最后N件" only when N <= max(last_units_floor, last_units_minutes x units/minute)
    last_units_floor: int = 20
    last_units_minutes: float = 5.0
    #: offer the substitute when the projected stock-out is this close (minutes)
    substitute_eta_minutes: float = 10.0
    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))


class LiveHint(NamedTuple):
    """The live room's view of one SKU."""

    sku: str
    sellable_orders: int
    host_line: str
    chat_hint: str
    substitute: str | None


def sellable_units(available: int, reserved: int, settings: LiveRoomSettings) -> int:
    """Units that can still be sold: available plus the unpaid units expected to be
    released (``reserved * (1 - pay_ratio)``), rounded down. Never negative."""
    coming_back = max(reserved, 0) * (1.0 - min(max(settings.pay_ratio, 0.0), 1.0))
    return max(math.floor(max(available, 0) + coming_back + 1e-9), 0)


def sellable_orders(available: int, reserved: int, settings: LiveRoomSettings) -> int:
    """Orders that can still be taken: ``sellable_units`` divided by units per order,
    rounded down. Never negative."""
    units = sellable_units(available, reserved, settings)
    return max(math.floor(units / max(settings.units_per_order, 1e-9) + 1e-9), 0)


def pick_substitute(substitutes: Sequence[str], available: Mapping[str, int]) -> str | None:
    """The first substitute (in the operator's order) that still has stock."""
    return next((s for s in substitutes if available.get(s, 0) > 0), None)


def live_hint(
    sku: str,
    available: int,
    reserved: int,
    level: str | None,
    substitutes: Sequence[str],
    available_of: Mapping[str, int],
    settings: LiveRoomSettings,
    names: Mapping[str, str] | None = None,
    *,
    rate: float = 0.0,
    eta_minutes: float | None = None,
) -> LiveHint:
    """The host's line and the chat hint for ``sku`` at its alert ``level``, selling
    ``rate`` units/minute with the stock-out ``eta_minutes`` away (None: not selling out)."""
    t = settings.templates
    units = sellable_units(available, reserved, settings)
    orders = sellable_orders(available, reserved, settings)
    host = t["host"].format(orders=orders) if orders > 0 else t["host_sold_out"]
    near = eta_minutes is not None and eta_minutes <= settings.substitute_eta_minutes
    if orders <= 0:
        chat = t["sold_out"]
    elif level == Level.EMERGENCY and units <= max(
        settings.last_units_floor, settings.last_units_minutes * rate
    ):
        chat = t[Level.EMERGENCY].format(units=units, orders=orders)
    elif level in (Level.EMERGENCY, Level.THRESHOLD):
        chat = t[Level.THRESHOLD].format(units=units, orders=orders)
    elif level is not None:
        chat = t.get(level, "").format(units=units, orders=orders)
    else:
        chat = ""
    substitute = pick_substitute(substitutes, available_of) if orders <= 0 or near else None
    if substitute is not None:
        name = (names or {}).get(substitute, substitute)
        offer = t["substitute"].format(substitute=name)
        chat = f"{chat}，{offer}" if chat else offer
    return LiveHint(sku, orders, host, chat, substitute)
