"""Taking a SKU out of the live catalogue.

A SKU may leave the catalogue only when nothing is promised on it: no units reserved for
unpaid orders and no inbound transfer on its way. Sold units are history and do not hold
it (the ledger stream keeps them). Removing is a decision like any other: a refusal is a
result with a reason, not an exception.
"""

from __future__ import annotations

from typing import Final

from policies.ledger import Decision, Ledger, Reason

OP: Final = "remove"
#: units are reserved for orders not yet paid or cancelled
HAS_RESERVATIONS: Final = "has_reservations"
#: an inbound transfer has not arrived yet
HAS_INBOUND: Final = "has_inbound"


def decide_removal(sku: str, ledger: Ledger | None, open_orders: int) -> Decision:
    """Whether ``sku`` may leave the catalogue now; ``open_orders`` is the number of its
    order lines still reserved (units held for orders not yet paid or cancelled)."""
    if ledger is None:
        return Decision(
            OP, sku, sku, False, reason=Reason.UNKNOWN_SKU, detail=f"sku {sku!r} is not in the catalogue"
        )
    if ledger.reserved or open_orders:
        detail = (
            f"sku {sku!r} has {ledger.reserved} units reserved by {open_orders} open order line(s); "
            "confirm or cancel them (or let them expire) first"
        )
        return Decision(
            OP, sku, sku, False, available=ledger.available, reason=HAS_RESERVATIONS, detail=detail
        )
    if ledger.inbound:
        detail = (
            f"sku {sku!r} has {ledger.inbound_units} units inbound in {len(ledger.inbound)} transfer(s) "
            "not yet arrived"
        )
        return Decision(OP, sku, sku, False, available=ledger.available, reason=HAS_INBOUND, detail=detail)
    return Decision(OP, sku, sku, True, "removed", ledger.on_hand, ledger.available)
