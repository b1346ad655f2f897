"""The SKU ledger: what a unit of stock can be, and the values that describe it.

Units of stock move between four buckets. ``on_hand`` counts every unit the shop
physically has to sell (restocks add to it). Of those, ``reserved`` are held by
orders that are not paid yet and ``sold`` are paid. ``available = on_hand - reserved
- sold`` is what can still be promised. Transfers that are on their way are
``inbound``: they are counted apart and join ``on_hand`` when they arrive.

``held`` counts available units kept for platform-first platforms' grants (the grant
protocol, ``policies.grants``: the sum over platforms of granted - consumed). They are
still ``available`` (a platform sells them within its grant), but not ``free``:
``free = available - held`` (never negative) is what a reserve-first order or a new
grant may take. Only the SKU's owner changes ``held`` (``policies.operations.Hold``).

The invariant every operation keeps: ``0 <= reserved``, ``0 <= sold`` and
``reserved + sold <= on_hand``; in words, no unit is promised twice (no oversell).

Everything here is an immutable value. The values on the hot path (one per order
line: ``Ledger``, ``LineRecord``, ``Decision``) are ``NamedTuple``s rather than frozen
dataclasses: equally immutable, and about twice as cheap to build and to pickle
between Ray processes, which matters at 200,000 decisions a second. Operations live
in ``policies.operations``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

#: The most units one order line may ask for; anything larger is a malformed message.
MAX_LINE_QUANTITY = 100_000
#: The longest id (sku, channel, order, transfer) accepted, in characters.
MAX_ID_LENGTH = 128
#: Default replenishment lead time (补货周期): half a day, in minutes.
DEFAULT_LEAD_TIME_MINUTES = 720.0
#: Default time an unpaid reservation holds its units, in seconds.
DEFAULT_RESERVATION_TTL_SECONDS = 900.0


@dataclass(frozen=True, slots=True)
class SkuSettings:
    """Per-SKU rules an operator sets.

    ``lead_time_minutes`` is the replenishment lead time (补货周期) in minutes,
    ``purchase_limit`` the most units one order line may take (限购, None for no limit),
    ``reservation_ttl_seconds`` how long an unpaid reservation holds stock, in seconds;
    ``safety_floor`` / ``critical_floor`` are fixed minimums for the alert lines, in units.
    ``on_sale_since`` / ``on_sale_until`` (epoch seconds of event time, None: unknown):
    when the SKU went on sale (the owner stamps its definition time when none is given)
    and when its show ends; the forecaster measures the SKU's sales rate from the first
    and bounds its alert horizon by the second.
    """

    sku: str
    name: str = ""
    lead_time_minutes: float = DEFAULT_LEAD_TIME_MINUTES
    purchase_limit: int | None = None
    reservation_ttl_seconds: float = DEFAULT_RESERVATION_TTL_SECONDS
    substitutes: tuple[str, ...] = ()
    #: the THRESHOLD safety line is never below this many units
    safety_floor: int = 0
    #: EMERGENCY at or below this many available units
    critical_floor: int = 0
    #: when the SKU went on sale (epoch seconds); its exposure counts from here
    on_sale_since: float | None = None
    #: when its show ends (epoch seconds); the alert horizon is the time left until then
    on_sale_until: float | None = None


@dataclass(frozen=True, slots=True)
class InboundTransfer:
    """Units on their way; they become sellable at ``arrives_at`` (epoch seconds)."""

    transfer_id: str
    quantity: int
    arrives_at: float
    source: str = ""


class Ledger(NamedTuple):
    """The stock of one SKU, in units. ``version`` counts applied changes."""

    sku: str
    on_hand: int = 0
    reserved: int = 0
    sold: int = 0
    inbound: tuple[InboundTransfer, ...] = ()
    version: int = 0
    #: available units held for platform-first platforms' grants
    held: int = 0

    @property
    def available(self) -> int:
        """Units that can still be promised to a new order."""
        return self.on_hand - self.reserved - self.sold

    @property
    def free(self) -> int:
        """Units neither reserved, sold nor held for a platform's grant (never negative):
        what a reserve-first order or a new grant may take."""
        return max(0, self.on_hand - self.reserved - self.sold - self.held)

    @property
    def inbound_units(self) -> int:
        """Units on their way in transfers that have not arrived yet."""
        return sum(transfer.quantity for transfer in self.inbound)


def keeps_invariant(ledger: Ledger) -> bool:
    """True when no unit is promised twice: ``0 <= reserved, sold`` and
    ``reserved + sold <= on_hand``."""
    return ledger.reserved >= 0 and ledger.sold >= 0 and ledger.reserved + ledger.sold <= ledger.on_hand


class LineStatus:
    """Where an order line stands (plain strings: they cross process boundaries often)."""

    RESERVED: Final = "reserved"
    SOLD: Final = "sold"
    RELEASED: Final = "released"
    REJECTED: Final = "rejected"
    #: for restocks and adjustments, which are recorded so a retry is not applied twice
    APPLIED: Final = "applied"
    ALL: Final = frozenset({RESERVED, SOLD, RELEASED, REJECTED, APPLIED})


class Reason:
    """Why an operation was rejected; stable codes callers can branch on."""

    INSUFFICIENT: Final = "insufficient"
    OVER_LIMIT: Final = "over_limit"
    UNKNOWN_SKU: Final = "unknown_sku"
    INVALID: Final = "invalid"
    UNKNOWN_ORDER: Final = "unknown_order"
    ALREADY_RELEASED: Final = "already_released"
    WOULD_OVERSELL: Final = "would_oversell"
    #: an order line (or order) sent again with other contents than first decided
    ORDER_CONFLICT: Final = "order_conflict"
    #: a restock's transfer id or an adjustment's id sent again with another quantity
    ID_CONFLICT: Final = "id_conflict"
    #: the operation reached an owner that does not hold its SKU (a routing fault)
    NOT_OWNER: Final = "not_owner"


class LineRecord(NamedTuple):
    """What was decided for one order line (or restock / adjustment), kept for idempotency.

    ``quantity`` is in units; ``placed_at`` is the order's event time and ``expires_at``
    the wall-clock time an unpaid reservation lapses (both epoch seconds, 0 if unset).
    """

    status: str
    quantity: int
    reason: str = ""
    placed_at: float = 0.0
    expires_at: float = 0.0


class Decision(NamedTuple):
    """The answer to one operation. A rejection is a result, not an exception.

    ``key`` names the line (``channel/order_id``, or the transfer / adjustment id),
    ``status`` is where the line stands after the operation, ``available`` is the
    SKU's available units after it, and ``duplicate`` says this repeats an earlier
    decision instead of making a new one.
    """

    op: str
    sku: str
    key: str
    accepted: bool
    status: str = ""
    quantity: int = 0
    available: int = 0
    reason: str = ""
    detail: str = ""
    duplicate: bool = False
