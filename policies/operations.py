"""Operations on a SKU ledger and the pure rules that decide them.

Commands are imperative (``Reserve``), small immutable ``NamedTuple``s (cheap to
build and to send between Ray processes). ``decide`` takes one
command with the SKU's current ledger, settings and the earlier record of the same
line, and returns a ``Step``: the decision plus the new ledger and line record when
they change. Nothing here does I/O or raises for a business outcome: a rejected order
is a ``Decision`` with ``accepted=False`` and a ``Reason``.

Idempotency is a property of the rules: a command whose line already has a record
returns the original decision (``duplicate=True``) and changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

from policies.channels.fields import LATEST
from policies.ids import bad_id_character
from policies.ledger import (
    MAX_ID_LENGTH,
    MAX_LINE_QUANTITY,
    Decision,
    InboundTransfer,
    Ledger,
    LineRecord,
    LineStatus,
    Reason,
    SkuSettings,
)

#: Separator inside a line field; ids may not contain it.
FIELD_SEPARATOR = "\x1f"
#: The largest restock or adjustment, in units.
MAX_STOCK_CHANGE = 10_000_000


class Reserve(NamedTuple):
    """Hold ``quantity`` units for one order line; ``paid`` lines are sold at once.
    ``placed_at`` is the platform's event time (epoch seconds). ``asked_first`` says the
    channel is ``reserve-first`` (it asks flashstock before selling): a refusal for want
    of stock is then a plain sold-out, not an oversell (``policies.channel_modes``)."""

    channel: str
    order_id: str
    sku: str
    quantity: int
    placed_at: float = 0.0
    paid: bool = False
    asked_first: bool = False

    @property
    def name(self) -> str:
        return "reserve"

    @property
    def field(self) -> str:
        return f"{self.channel}{FIELD_SEPARATOR}{self.order_id}"


class Confirm(NamedTuple):
    """The order line was paid: its reserved units become sold."""

    channel: str
    order_id: str
    sku: str

    @property
    def name(self) -> str:
        return "confirm"

    @property
    def field(self) -> str:
        return f"{self.channel}{FIELD_SEPARATOR}{self.order_id}"


class Release(NamedTuple):
    """Give an order line's units back: cancel, refund, or an unpaid reservation expired."""

    channel: str
    order_id: str
    sku: str
    reason: str = "cancelled"

    @property
    def name(self) -> str:
        return "release"

    @property
    def field(self) -> str:
        return f"{self.channel}{FIELD_SEPARATOR}{self.order_id}"


class Restock(NamedTuple):
    """Add units. With ``arrives_at`` in the future (epoch seconds) they are an inbound
    transfer until then. ``transfer_id`` makes a retried restock count once."""

    sku: str
    quantity: int
    transfer_id: str
    source: str = ""
    arrives_at: float | None = None

    @property
    def name(self) -> str:
        return "restock"

    @property
    def field(self) -> str:
        return f"~restock{FIELD_SEPARATOR}{self.transfer_id}"


class ReceiveArrivals(NamedTuple):
    """Move inbound transfers whose arrival time has passed into ``on_hand``. With
    ``as_of`` (epoch seconds, event time) the warehouse confirms receipt as of that time:
    transfers due by then arrive even if the owner's clock is earlier (a truck that came
    early, or a simulated show whose event time runs ahead of the wall clock). Like the
    owner's clock tick it is a fact about time, not an order line: sent again later, it
    receives whatever is due by ``as_of`` then."""

    sku: str
    as_of: float | None = None

    @property
    def name(self) -> str:
        return "arrive"

    @property
    def field(self) -> str:
        return ""


class Adjust(NamedTuple):
    """A stock-count correction of ``delta`` units to ``on_hand``, audited with who and why."""

    sku: str
    delta: int
    adjustment_id: str
    reason: str
    actor: str

    @property
    def name(self) -> str:
        return "adjust"

    @property
    def field(self) -> str:
        return f"~adjust{FIELD_SEPARATOR}{self.adjustment_id}"


class Hold(NamedTuple):
    """Change the units of ``sku`` held for platform-first platforms' grants by ``delta``
    (the grant sync asks before an "add N" reaches a platform, and gives back what a
    platform confirmed removed). ``hold_id`` makes a retried hold count once."""

    sku: str
    delta: int
    hold_id: str

    @property
    def name(self) -> str:
        return "hold"

    @property
    def field(self) -> str:
        return f"~hold{FIELD_SEPARATOR}{self.hold_id}"


class DefineSku(NamedTuple):
    """Create a SKU with ``on_hand`` units, or update the settings of an existing one
    (its stock then changes only through restock and adjust)."""

    settings: SkuSettings
    on_hand: int = 0

    @property
    def name(self) -> str:
        return "define"

    @property
    def field(self) -> str:
        return ""

    @property
    def sku(self) -> str:
        return self.settings.sku


Operation = Reserve | Confirm | Release | Restock | ReceiveArrivals | Adjust | Hold | DefineSku


class Step(NamedTuple):
    """One decided operation: the decision, and the new ledger / line record / settings
    when the operation changed them (None when unchanged)."""

    decision: Decision
    ledger: Ledger | None = None
    record: LineRecord | None = None
    settings: SkuSettings | None = None


def invalid_id(value: object, what: str) -> str | None:
    """Why ``value`` is not a usable id (non-empty text, at most MAX_ID_LENGTH
    characters, none that ``policies.ids`` refuses), or None when it is."""
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"{what} is longer than {MAX_ID_LENGTH} characters"
    bad = bad_id_character(value)
    if bad is not None:
        return f"{what} contains a character ids may not hold (U+{ord(bad):04X})"
    return None


def invalid_quantity(value: object, what: str, low: int, high: int) -> str | None:
    """Why ``value`` is not a whole number of units in ``[low, high]``, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{what} must be a whole number, got {type(value).__name__}"
    if not low <= value <= high:
        return f"{what} must be between {low} and {high}, got {value}"
    return None


def invalid_settings(settings: SkuSettings) -> str | None:
    """Why SKU settings cannot be used, or None."""
    problem = invalid_id(settings.sku, "sku")
    if problem:
        return problem
    if not _is_finite_number(settings.lead_time_minutes) or settings.lead_time_minutes < 0:
        return "lead_time_minutes must be a number >= 0"
    ttl = settings.reservation_ttl_seconds
    if not _is_finite_number(ttl) or ttl <= 0:
        return "reservation_ttl_seconds must be a number > 0"
    if settings.purchase_limit is not None:
        problem = invalid_quantity(settings.purchase_limit, "purchase_limit", 1, MAX_LINE_QUANTITY)
        if problem:
            return problem
    for floor_name in ("safety_floor", "critical_floor"):
        problem = invalid_quantity(getattr(settings, floor_name), floor_name, 0, MAX_STOCK_CHANGE)
        if problem:
            return problem
    for substitute in settings.substitutes:
        problem = invalid_id(substitute, "substitute sku")
        if problem:
            return problem
    for time_name in ("on_sale_since", "on_sale_until"):
        value = getattr(settings, time_name)
        if value is not None and (not _is_finite_number(value) or not 0 < value <= LATEST):
            return f"{time_name} must be epoch seconds > 0 and at most {LATEST:.0f} (2100) or null"
    since, until = settings.on_sale_since, settings.on_sale_until
    if since is not None and until is not None and until <= since:
        return f"on_sale_until ({until}) must be after on_sale_since ({since})"
    return None


def decide(
    op: Operation,
    ledger: Ledger | None,
    settings: SkuSettings | None,
    previous: LineRecord | None,
    now: float,
) -> Step:
    """Decide one operation against the SKU's state; ``now`` is wall-clock epoch seconds."""
    if isinstance(op, Reserve):
        return decide_reservation(op, ledger, settings, previous, now)
    if isinstance(op, Confirm):
        return decide_confirmation(op, ledger, previous)
    if isinstance(op, Release):
        return decide_release(op, ledger, previous)
    if isinstance(op, Restock):
        return decide_restock(op, ledger, previous, now)
    if isinstance(op, ReceiveArrivals):
        return decide_arrivals(op, ledger, now)
    if isinstance(op, Adjust):
        return decide_adjustment(op, ledger, previous)
    if isinstance(op, Hold):
        return decide_hold(op, ledger, previous)
    return decide_definition(op, ledger, settings, now)


def decide_reservation(
    op: Reserve,
    ledger: Ledger | None,
    settings: SkuSettings | None,
    previous: LineRecord | None,
    now: float,
) -> Step:
    """Hold units for an order line if the SKU has them and the line is within the
    purchase limit (限购); never take more than ``available``. An unpaid hold lapses
    ``reservation_ttl_seconds`` after ``now``."""
    # The common case is checked with cheap type tests; messages are built only on failure.
    # (``x - x == 0`` is the cheap finiteness test: it fails for inf and nan.)
    channel, order_id, sku, quantity, placed_at, paid, _ = op
    if not (
        type(quantity) is int
        and 0 < quantity <= MAX_LINE_QUANTITY
        and usable_id(channel)
        and usable_id(order_id)
        and usable_id(sku)
        and type(placed_at) in _NUMBER_TYPES
        and placed_at - placed_at == 0
    ):
        # The slow path: full checks (they also admit subclasses of str / int / float).
        problem = (
            invalid_id(channel, "channel")
            or invalid_id(order_id, "order_id")
            or invalid_id(sku, "sku")
            or invalid_quantity(quantity, "quantity", 1, MAX_LINE_QUANTITY)
            or (None if _is_finite_number(placed_at) else "placed_at must be a finite number (epoch seconds)")
        )
        if problem:
            return _rejected(op, ledger, Reason.INVALID, problem)
    if previous is not None:
        if previous.quantity != quantity:  # not a redelivery: the line stays as first decided
            detail = (
                f"line {channel}/{order_id} of {sku!r} was first decided with {previous.quantity} "
                f"units; it came again with {quantity}"
            )
            return _rejected(op, ledger, Reason.ORDER_CONFLICT, detail)
        return Step(_repeat(op, ledger, previous))
    if ledger is None or settings is None:
        return _rejected(op, ledger, Reason.UNKNOWN_SKU, f"sku {op.sku!r} is not in the catalogue")
    limit = settings.purchase_limit
    if limit is not None and quantity > limit:
        detail = f"{quantity} units asked, the purchase limit is {limit}"
        return _rejected_line(op, ledger, Reason.OVER_LIMIT, detail)
    on_hand, reserved, sold, held = ledger.on_hand, ledger.reserved, ledger.sold, ledger.held
    available = on_hand - reserved - sold
    if op.asked_first:  # a reserve-first order takes only free units, never a platform's grant
        free = max(0, available - held)
        if quantity > free:
            detail = f"{quantity} units asked, {free} free"
            return _rejected_line(op, ledger, Reason.INSUFFICIENT, detail)
    elif quantity > available:
        detail = f"{quantity} units asked, {available} available"
        return _rejected_line(op, ledger, Reason.INSUFFICIENT, detail)
    else:  # a platform sells within its grant, which is held
        held -= min(held, quantity)
    if paid:
        sold += quantity
        record = LineRecord(LineStatus.SOLD, quantity, "", placed_at, 0.0)
    else:
        reserved += quantity
        record = LineRecord(
            LineStatus.RESERVED, quantity, "", placed_at, now + settings.reservation_ttl_seconds
        )
    new = Ledger(sku, on_hand, reserved, sold, ledger.inbound, ledger.version + 1, held)
    decision = Decision(
        "reserve", sku, f"{channel}/{order_id}", True, record.status, quantity, on_hand - reserved - sold
    )
    return Step(decision, new, record)


def decide_confirmation(op: Confirm, ledger: Ledger | None, previous: LineRecord | None) -> Step:
    """Payment arrived: a reserved line's units move from reserved to sold. Confirming a
    sold line again changes nothing; a released line cannot be confirmed (the platform
    must refund it)."""
    if ledger is None or previous is None or previous.status == LineStatus.REJECTED:
        return _rejected(op, ledger, Reason.UNKNOWN_ORDER, "no accepted reservation for this line")
    if previous.status == LineStatus.SOLD:
        return Step(_repeat(op, ledger, previous))
    if previous.status == LineStatus.RELEASED:
        detail = f"the reservation was released ({previous.reason}); refund the payment"
        return _rejected(op, ledger, Reason.ALREADY_RELEASED, detail)
    quantity = previous.quantity
    new = Ledger(
        ledger.sku,
        ledger.on_hand,
        ledger.reserved - quantity,
        ledger.sold + quantity,
        ledger.inbound,
        ledger.version + 1,
        ledger.held,
    )
    record = LineRecord(LineStatus.SOLD, quantity, "", previous.placed_at, 0.0)
    decision = Decision(op.name, op.sku, _line_key(op), True, record.status, quantity, new.available)
    return Step(decision, new, record)


def decide_release(op: Release, ledger: Ledger | None, previous: LineRecord | None) -> Step:
    """Cancel, refund or expiry: a reserved or sold line gives its units back to
    ``available``. Releasing a released line again changes nothing."""
    if ledger is None or previous is None or previous.status == LineStatus.REJECTED:
        return _rejected(op, ledger, Reason.UNKNOWN_ORDER, "no accepted reservation for this line")
    if previous.status == LineStatus.RELEASED:
        return Step(_repeat(op, ledger, previous))
    quantity = previous.quantity
    if previous.status == LineStatus.SOLD:
        new = Ledger(
            ledger.sku,
            ledger.on_hand,
            ledger.reserved,
            ledger.sold - quantity,
            ledger.inbound,
            ledger.version + 1,
            ledger.held,
        )
    else:
        new = Ledger(
            ledger.sku,
            ledger.on_hand,
            ledger.reserved - quantity,
            ledger.sold,
            ledger.inbound,
            ledger.version + 1,
            ledger.held,
        )
    record = LineRecord(LineStatus.RELEASED, quantity, op.reason, previous.placed_at, 0.0)
    decision = Decision(op.name, op.sku, _line_key(op), True, record.status, quantity, new.available)
    return Step(decision, new, record)


def decide_restock(op: Restock, ledger: Ledger | None, previous: LineRecord | None, now: float) -> Step:
    """Add units to ``on_hand`` now, or, when ``arrives_at`` is later than ``now``, as
    an inbound transfer that joins ``on_hand`` on arrival. A transfer id counts once."""
    problem = invalid_id(op.transfer_id, "transfer_id") or invalid_quantity(
        op.quantity, "quantity", 1, MAX_STOCK_CHANGE
    )
    if op.arrives_at is not None and not (_is_finite_number(op.arrives_at) and op.arrives_at <= LATEST):
        # a later arrival (milliseconds sent as seconds) would stay inbound, and the SKU
        # undeletable (``sku_in_use``), for ever
        problem = problem or f"arrives_at must be a finite number (epoch seconds) at most {LATEST:.0f} (2100)"
    if problem:
        return _rejected(op, ledger, Reason.INVALID, problem)
    if ledger is None:
        return _rejected(op, ledger, Reason.UNKNOWN_SKU, f"sku {op.sku!r} is not in the catalogue")
    if previous is not None:
        if previous.quantity != op.quantity:  # another transfer under a used id: not a retry
            detail = (
                f"transfer {op.transfer_id!r} was first applied with {previous.quantity} units; "
                f"it came again with {op.quantity}"
            )
            return _rejected(op, ledger, Reason.ID_CONFLICT, detail)
        return Step(_repeat(op, ledger, previous))
    if op.arrives_at is not None and op.arrives_at > now:
        transfer = InboundTransfer(op.transfer_id, op.quantity, op.arrives_at, op.source)
        new = Ledger(
            ledger.sku,
            ledger.on_hand,
            ledger.reserved,
            ledger.sold,
            (*ledger.inbound, transfer),
            ledger.version + 1,
            ledger.held,
        )
    else:
        new = Ledger(
            ledger.sku,
            ledger.on_hand + op.quantity,
            ledger.reserved,
            ledger.sold,
            ledger.inbound,
            ledger.version + 1,
            ledger.held,
        )
    record = LineRecord(LineStatus.APPLIED, op.quantity)
    decision = Decision(op.name, op.sku, op.transfer_id, True, record.status, op.quantity, new.available)
    return Step(decision, new, record)


def decide_arrivals(op: ReceiveArrivals, ledger: Ledger | None, now: float) -> Step:
    """Inbound transfers whose ``arrives_at`` is at or before ``now`` (or the later
    ``as_of`` of a confirmed receipt) join ``on_hand``."""
    if op.as_of is not None and not _is_finite_number(op.as_of):
        return _rejected(op, ledger, Reason.INVALID, "as_of must be a finite number (epoch seconds)")
    if op.as_of is not None:
        now = max(now, op.as_of)
    if ledger is None:
        return _rejected(op, ledger, Reason.UNKNOWN_SKU, f"sku {op.sku!r} is not in the catalogue")
    arrived = [t for t in ledger.inbound if t.arrives_at <= now]
    units = sum(t.quantity for t in arrived)
    if not arrived:
        return Step(Decision(op.name, op.sku, "", True, "", 0, ledger.available))
    still = tuple(t for t in ledger.inbound if t.arrives_at > now)
    new = Ledger(
        ledger.sku,
        ledger.on_hand + units,
        ledger.reserved,
        ledger.sold,
        still,
        ledger.version + 1,
        ledger.held,
    )
    key = ",".join(t.transfer_id for t in arrived)
    return Step(Decision(op.name, op.sku, key, True, "", units, new.available), new)


def decide_adjustment(op: Adjust, ledger: Ledger | None, previous: LineRecord | None) -> Step:
    """A counted correction of ``on_hand`` by ``delta`` units. It may not leave fewer
    units than are already promised (reserved + sold): cancel orders first."""
    problem = (
        invalid_id(op.adjustment_id, "adjustment_id")
        or invalid_id(op.actor, "actor")
        or invalid_quantity(op.delta, "delta", -MAX_STOCK_CHANGE, MAX_STOCK_CHANGE)
        or ("delta must not be 0" if op.delta == 0 else None)
        or ("reason must be given" if not op.reason else None)
    )
    if problem:
        return _rejected(op, ledger, Reason.INVALID, problem)
    if ledger is None:
        return _rejected(op, ledger, Reason.UNKNOWN_SKU, f"sku {op.sku!r} is not in the catalogue")
    if previous is not None:
        if previous.quantity != op.delta:  # another correction under a used id: not a retry
            detail = (
                f"adjustment {op.adjustment_id!r} was first applied with delta {previous.quantity}; "
                f"it came again with {op.delta}"
            )
            return _rejected(op, ledger, Reason.ID_CONFLICT, detail)
        return Step(_repeat(op, ledger, previous))
    on_hand = ledger.on_hand + op.delta
    if on_hand < ledger.reserved + ledger.sold:
        detail = (
            f"on_hand would be {on_hand} but {ledger.reserved + ledger.sold} units are "
            "reserved or sold; release orders first"
        )
        return _rejected(op, ledger, Reason.WOULD_OVERSELL, detail)
    new = Ledger(
        ledger.sku, on_hand, ledger.reserved, ledger.sold, ledger.inbound, ledger.version + 1, ledger.held
    )
    record = LineRecord(LineStatus.APPLIED, op.delta, f"{op.actor}: {op.reason}")
    decision = Decision(op.name, op.sku, op.adjustment_id, True, record.status, op.delta, new.available)
    return Step(decision, new, record)


def decide_hold(op: Hold, ledger: Ledger | None, previous: LineRecord | None) -> Step:
    """Hold ``delta`` more units for platforms' grants, if that many are free (else
    ``insufficient``, not recorded: the caller asks again with a new id); a negative
    ``delta`` gives held units back (never below 0, always accepted). A hold id counts
    once."""
    problem = invalid_id(op.hold_id, "hold_id") or invalid_quantity(
        op.delta, "delta", -MAX_STOCK_CHANGE, MAX_STOCK_CHANGE
    )
    problem = problem or ("delta must not be 0" if op.delta == 0 else None)
    if problem:
        return _rejected(op, ledger, Reason.INVALID, problem)
    if ledger is None:
        return _rejected(op, ledger, Reason.UNKNOWN_SKU, f"sku {op.sku!r} is not in the catalogue")
    if previous is not None:
        return Step(_repeat(op, ledger, previous))
    if op.delta > ledger.free:
        detail = f"{op.delta} units asked to hold, {ledger.free} free"
        return _rejected(op, ledger, Reason.INSUFFICIENT, detail)
    held = max(0, ledger.held + op.delta)
    new = ledger._replace(version=ledger.version + 1, held=held)
    record = LineRecord(LineStatus.APPLIED, op.delta)
    decision = Decision(op.name, op.sku, op.hold_id, True, record.status, op.delta, new.available)
    return Step(decision, new, record)


def decide_definition(op: DefineSku, ledger: Ledger | None, settings: SkuSettings | None, now: float) -> Step:
    """Create a SKU with ``on_hand`` units, or replace the settings of an existing one.

    A new SKU without ``on_sale_since`` went on sale now (``now``, epoch seconds); an
    update without ``on_sale_since`` / ``on_sale_until`` keeps the SKU's earlier ones, so
    a redefinition (or a retried one) never moves when the SKU went on sale."""
    problem = invalid_settings(op.settings) or invalid_quantity(op.on_hand, "on_hand", 0, MAX_STOCK_CHANGE)
    if problem:
        return _rejected(op, ledger, Reason.INVALID, problem)
    if ledger is None:
        new = Ledger(op.sku, op.on_hand, version=1)
        decision = Decision(op.name, op.sku, op.sku, True, "created", op.on_hand, new.available)
        created = op.settings
        if created.on_sale_since is None:
            created = replace(created, on_sale_since=now)
        problem = invalid_settings(created)
        if problem:
            return _rejected(op, ledger, Reason.INVALID, problem)
        return Step(decision, new, None, created)
    wanted = op.settings
    if settings is not None:
        wanted = replace(
            wanted,
            on_sale_since=settings.on_sale_since if wanted.on_sale_since is None else wanted.on_sale_since,
            on_sale_until=settings.on_sale_until if wanted.on_sale_until is None else wanted.on_sale_until,
        )
        problem = invalid_settings(wanted)
        if problem:
            return _rejected(op, ledger, Reason.INVALID, problem)
    detail = (
        ""
        if op.on_hand in (0, ledger.on_hand)
        else ("settings updated; on_hand of an existing sku changes only by restock or adjust")
    )
    decision = Decision(op.name, op.sku, op.sku, True, "updated", 0, ledger.available, detail=detail)
    return Step(decision, None, None, wanted if wanted != settings else None)


def _line_key(op: Reserve | Confirm | Release) -> str:
    return f"{op.channel}/{op.order_id}"


def _key_of(op: Operation) -> str:
    if isinstance(op, Reserve | Confirm | Release):
        return _line_key(op)
    if isinstance(op, Restock):
        return op.transfer_id
    if isinstance(op, Adjust):
        return op.adjustment_id
    if isinstance(op, Hold):
        return op.hold_id
    return op.sku


def _repeat(op: Operation, ledger: Ledger | None, previous: LineRecord) -> Decision:
    available = ledger.available if ledger is not None else 0
    accepted = previous.status != LineStatus.REJECTED
    return Decision(
        op.name,
        op.sku,
        _key_of(op),
        accepted,
        previous.status,
        previous.quantity,
        available,
        previous.reason if not accepted else "",
        "",
        True,
    )


def _rejected(op: Operation, ledger: Ledger | None, reason: str, detail: str) -> Step:
    """A rejection that is not recorded: the input itself was unusable."""
    available = ledger.available if ledger is not None else 0
    sku = op.sku if isinstance(op.sku, str) else repr(op.sku)
    return Step(Decision(op.name, sku, _key_of(op), False, "", 0, available, reason, detail))


def _rejected_line(op: Reserve, ledger: Ledger, reason: str, detail: str) -> Step:
    """A rejection recorded against the line, so a redelivery gets the same answer."""
    record = LineRecord(LineStatus.REJECTED, op.quantity, reason, op.placed_at, 0.0)
    decision = Decision(
        op.name, op.sku, _line_key(op), False, record.status, op.quantity, ledger.available, reason, detail
    )
    return Step(decision, None, record)


_NUMBER_TYPES = (int, float)


def usable_id(value: object) -> bool:
    """True when ``value`` is a plain ``str`` id that ``invalid_id`` accepts (the cheap test)."""
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and bad_id_character(value) is None


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
