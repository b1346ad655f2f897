"""Deciding a whole batch of operations at once: the same answers as ``decide`` called
line by line, with the reservation path kept tight.

``decide_batch`` folds ``policies.operations.decide`` over a batch, in arrival order,
against the working state (ledgers, settings and line records of the SKUs), and returns
what the fold would: every decision, the ledgers and settings the batch changed (each
as it stands after the batch) and every line record written, in order. It is faster
because the common lines (reserve, confirm and release of a SKU that exists) do not
build an immutable ``Ledger`` and a ``Step`` per line: each SKU's counters are copied
into a small mutable state the first time the batch meets the SKU and turned back into
one ``Ledger`` at the end. Every other line (definitions, restocks, adjustments,
arrivals, input that is not well formed, and the rare outcomes of the common ones) is
decided by ``decide`` itself against the state the lines before it left, so the rules
live in one place. ``tests/unit/test_tight_decide.py`` holds the two to each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from policies.ids import bad_id_character
from policies.ledger import (
    MAX_ID_LENGTH,
    MAX_LINE_QUANTITY,
    Decision,
    Ledger,
    LineRecord,
    LineStatus,
    Reason,
    SkuSettings,
)
from policies.operations import (
    FIELD_SEPARATOR,
    Confirm,
    Operation,
    Release,
    Reserve,
    decide,
    usable_id,
)

RESERVED, SOLD, RELEASED, REJECTED = (
    LineStatus.RESERVED,
    LineStatus.SOLD,
    LineStatus.RELEASED,
    LineStatus.REJECTED,
)
INSUFFICIENT, OVER_LIMIT = Reason.INSUFFICIENT, Reason.OVER_LIMIT
_NUMBER_TYPES = (int, float)
#: builds a NamedTuple from its full field tuple without its Python-level ``__new__``
#: (a third of the cost of a ``Decision`` on the hot path)
_build = tuple.__new__


class BatchOutcome(NamedTuple):
    """What a decided batch changed. ``ledgers`` and ``settings`` hold each SKU the batch
    changed, as it stands after the batch, in the order the batch first changed it;
    ``records`` every line record written, in order, as ``(sku, line field, record)``
    (a line changed twice appears twice); ``sales`` the units of accepted reservations
    (+) and releases (-) as ``(sku, placed_at, units, channel)``, event time in epoch
    seconds; ``oversold`` one ``(sku, channel)`` per order line refused for want of stock
    that a platform had already sold (not ``Reserve.asked_first``)."""

    decisions: list[Decision]
    ledgers: dict[str, Ledger]
    settings: dict[str, SkuSettings]
    records: list[tuple[str, str, LineRecord]]
    sales: list[tuple[str, float, int, str]]
    oversold: list[tuple[str, str]]


class _Sku:
    """One SKU's state inside a batch: counters that change in place. ``last`` is the
    ledger as the batch found it or ``decide`` last left it (for its name and inbound
    transfers; its counters are stale once the tight loop changed them)."""

    __slots__ = (
        "base",
        "changed",
        "held",
        "last",
        "limit",
        "lines",
        "on_hand",
        "owned",
        "ready",
        "reserved",
        "settings",
        "sold",
        "ttl",
        "version",
    )
    limit: int | None
    ttl: float

    def __init__(
        self,
        ledger: Ledger | None,
        settings: SkuSettings | None,
        base: Mapping[str, LineRecord] | None,
        owned: bool,
        usable: bool,
    ) -> None:
        self.owned = owned
        self.base = base
        #: line records written by this batch (looked up before ``base``)
        self.lines: dict[str, LineRecord] = {}
        self.changed = False
        self.take(ledger, settings, usable)

    def take(self, ledger: Ledger | None, settings: SkuSettings | None, usable: bool) -> None:
        """Start from ``ledger`` and ``settings``; the fast path is open when both exist
        and the SKU is a usable id."""
        self.last = ledger
        if ledger is None:
            self.on_hand = self.reserved = self.sold = self.version = self.held = 0
        else:
            _, self.on_hand, self.reserved, self.sold, _, self.version, self.held = ledger
        self.settings = settings
        if settings is not None:
            self.limit = settings.purchase_limit
            self.ttl = settings.reservation_ttl_seconds
        self.ready = usable and ledger is not None and settings is not None

    def ledger(self) -> Ledger | None:
        last = self.last
        if last is None:
            return None
        return Ledger(last.sku, self.on_hand, self.reserved, self.sold, last.inbound, self.version, self.held)

    def previous(self, line_field: str) -> LineRecord | None:
        record = self.lines.get(line_field)
        if record is None and self.base is not None:
            record = self.base.get(line_field)
        return record


def decide_batch(
    ops: Sequence[Operation],
    ledgers: Mapping[str, Ledger],
    settings: Mapping[str, SkuSettings],
    records: Mapping[str, Mapping[str, LineRecord]],
    now: float,
    *,
    holds: Callable[[str], bool] | None = None,
    refuse: Callable[[Operation], Decision] | None = None,
) -> BatchOutcome:
    """Decide ``ops`` in order, exactly as ``decide`` would line by line, against the
    ledgers, settings and line records (SKU -> line field -> record) given, which are
    read and never changed; ``now`` is wall-clock epoch seconds. With ``holds`` and
    ``refuse`` the caller holds only some SKUs: an operation whose SKU is not a ``str``
    or not held (``holds`` is asked once per SKU) is answered ``refuse(op)`` and
    changes nothing."""
    decisions: list[Decision] = []
    add = decisions.append
    states: dict[str, _Sku] = {}
    changed: list[tuple[str, _Sku]] = []
    new_settings: dict[str, SkuSettings] = {}
    written: list[tuple[str, str, LineRecord]] = []
    write = written.append
    sales: list[tuple[str, float, int, str]] = []
    oversold: list[tuple[str, str]] = []
    channels: set[str] = set()
    for op in ops:
        sku = op.sku
        state: _Sku | None = None
        if type(sku) is str or (refuse is None and isinstance(sku, str)):
            state = states.get(sku)
            if state is None:
                owned = True if holds is None or type(sku) is not str else holds(sku)
                state = states[sku] = _Sku(
                    ledgers.get(sku), settings.get(sku), records.get(sku), owned, usable_id(sku)
                )
            if not state.owned and refuse is not None:
                add(refuse(op))
                continue
        elif refuse is not None:
            add(refuse(op))
            continue
        if type(op) is Reserve and state is not None and state.ready:
            channel, order_id, _, quantity, placed_at, paid, asked_first = op
            if (
                type(quantity) is int
                and 0 < quantity <= MAX_LINE_QUANTITY
                and (channel in channels or _note_usable(channel, channels))
                and type(order_id) is str  # usable_id(order_id), inline: once per line
                and 0 < len(order_id) <= MAX_ID_LENGTH
                and ((order_id.isascii() and order_id.isprintable()) or bad_id_character(order_id) is None)
                and type(placed_at) in _NUMBER_TYPES
                and placed_at - placed_at == 0
            ):
                line_field = channel + FIELD_SEPARATOR + order_id
                previous = state.lines.get(line_field)
                if previous is None and state.base is not None:
                    previous = state.base.get(line_field)
                available = state.on_hand - state.reserved - state.sold
                key = channel + "/" + order_id
                if previous is not None:
                    if previous[1] == quantity:
                        add(_repeat("reserve", sku, key, previous, available))
                        continue
                    # another quantity under a decided line: ``decide`` answers it (a conflict)
                else:
                    limit = state.limit
                    if limit is not None and quantity > limit:
                        reason, detail = OVER_LIMIT, f"{quantity} units asked, the purchase limit is {limit}"
                    elif asked_first and quantity > available - state.held:
                        # a reserve-first order takes only free units, never a platform's grant
                        free = max(0, available - state.held)
                        reason, detail = INSUFFICIENT, f"{quantity} units asked, {free} free"
                    elif quantity > available:
                        reason, detail = INSUFFICIENT, f"{quantity} units asked, {available} available"
                        if not asked_first:  # a reserve-first channel's refusal is a sold-out
                            oversold.append((sku, channel))
                    else:
                        if not asked_first:  # a platform sells within its grant, which is held
                            state.held -= min(state.held, quantity)
                        if paid:
                            state.sold += quantity
                            record = _build(LineRecord, (SOLD, quantity, "", placed_at, 0.0))
                        else:
                            state.reserved += quantity
                            record = _build(LineRecord, (RESERVED, quantity, "", placed_at, now + state.ttl))
                        state.version += 1
                        if not state.changed:
                            state.changed = True
                            changed.append((sku, state))
                        state.lines[line_field] = record
                        write((sku, line_field, record))
                        sales.append((sku, placed_at, quantity, channel))
                        add(
                            _build(
                                Decision,
                                (
                                    "reserve",
                                    sku,
                                    key,
                                    True,
                                    record[0],
                                    quantity,
                                    available - quantity,
                                    "",
                                    "",
                                    False,
                                ),
                            )
                        )
                        continue
                    record = _build(LineRecord, (REJECTED, quantity, reason, placed_at, 0.0))
                    state.lines[line_field] = record
                    write((sku, line_field, record))
                    add(
                        _build(
                            Decision,
                            (
                                "reserve",
                                sku,
                                key,
                                False,
                                REJECTED,
                                quantity,
                                available,
                                reason,
                                detail,
                                False,
                            ),
                        )
                    )
                    continue
        elif (type(op) is Confirm or type(op) is Release) and state is not None and state.last is not None:
            channel, order_id = op[0], op[1]
            if type(channel) is str and type(order_id) is str:
                line_field = channel + FIELD_SEPARATOR + order_id
                previous = state.previous(line_field)
                if previous is not None:
                    status, quantity, _, placed_at, _ = previous
                    record = None
                    if type(op) is Release:
                        name, repeat = "release", status == RELEASED
                        if status in (RESERVED, SOLD):
                            if status == RESERVED:
                                state.reserved -= quantity
                            else:
                                state.sold -= quantity
                            record = _build(LineRecord, (RELEASED, quantity, op.reason, placed_at, 0.0))
                            sales.append((sku, placed_at, -quantity, channel))
                    else:
                        name, repeat = "confirm", status == SOLD
                        if status == RESERVED:
                            state.reserved -= quantity
                            state.sold += quantity
                            record = _build(LineRecord, (SOLD, quantity, "", placed_at, 0.0))
                    available = state.on_hand - state.reserved - state.sold
                    key = channel + "/" + order_id
                    if repeat:
                        add(_repeat(name, sku, key, previous, available))
                        continue
                    if record is not None:
                        state.version += 1
                        if not state.changed:
                            state.changed = True
                            changed.append((sku, state))
                        state.lines[line_field] = record
                        write((sku, line_field, record))
                        add(
                            _build(
                                Decision,
                                (name, sku, key, True, record[0], quantity, available, "", "", False),
                            )
                        )
                        continue
                    # a released line confirmed, or a line that was refused: left to ``decide``
        # everything else: the rules themselves, against the state the lines before left
        line_field = op.field
        if state is None:
            add(decide(op, None, None, None, now).decision)
            continue
        previous = state.previous(line_field) if line_field else None
        decision, ledger, record, changed_settings = decide(op, state.ledger(), state.settings, previous, now)
        add(decision)
        # only an order line is an oversell: a refused Hold (the grant sync asking for
        # more than is free) is not, and was counted as one of channel ""
        if decision.reason == INSUFFICIENT and not decision.duplicate:
            if isinstance(op, Reserve) and not op.asked_first:
                oversold.append((sku, op.channel))
        elif record is not None and decision.accepted and not decision.duplicate:
            if decision.op == "reserve":
                sales.append((sku, record.placed_at, record.quantity, op.channel))  # type: ignore[union-attr]
            elif decision.op == "release":
                sales.append((sku, record.placed_at, -record.quantity, op.channel))  # type: ignore[union-attr]
        if ledger is not None or changed_settings is not None:
            state.take(
                ledger if ledger is not None else state.ledger(),
                changed_settings if changed_settings is not None else state.settings,
                usable_id(sku),
            )
        if ledger is not None and not state.changed:
            state.changed = True
            changed.append((sku, state))
        if changed_settings is not None:
            new_settings[sku] = changed_settings
        if record is not None:
            state.lines[line_field] = record
            write((sku, line_field, record))
    final: dict[str, Ledger] = {}
    for sku, state in changed:
        last = state.last
        if last is not None:  # always: a SKU changes only once it has a ledger
            counts = (state.on_hand, state.reserved, state.sold, last.inbound, state.version, state.held)
            final[sku] = _build(Ledger, (last.sku, *counts))
    return BatchOutcome(decisions, final, new_settings, written, sales, oversold)


def _repeat(name: str, sku: str, key: str, previous: LineRecord, available: int) -> Decision:
    """The earlier decision of a line, answered again (``duplicate=True``)."""
    status, quantity, reason, _, _ = previous
    accepted = status != REJECTED
    return _build(
        Decision,
        (name, sku, key, accepted, status, quantity, available, "" if accepted else reason, "", True),
    )


def _note_usable(channel: object, usable: set[str]) -> bool:
    if usable_id(channel):
        usable.add(channel)  # type: ignore[arg-type]
        return True
    return False


def decide_lines(
    ops: Sequence[Operation],
    ledgers: Mapping[str, Ledger],
    settings: Mapping[str, SkuSettings],
    records: Mapping[str, Mapping[str, LineRecord]],
    now: float,
    *,
    holds: Callable[[str], bool] | None = None,
    refuse: Callable[[Operation], Decision] | None = None,
) -> BatchOutcome:
    """The reference for ``decide_batch`` (same arguments, same outcome): ``decide``
    called line by line, each line's ledger, settings and record kept for the next."""
    ledgers, settings = dict(ledgers), dict(settings)
    #: line records written by this batch, looked up before ``records``
    written: dict[str, dict[str, LineRecord]] = {}
    outcome = BatchOutcome([], {}, {}, [], [], [])
    for op in ops:
        sku = op.sku
        if refuse is not None and (type(sku) is not str or not (holds is None or holds(sku))):
            outcome.decisions.append(refuse(op))
            continue
        line_field = op.field
        previous = None
        if line_field and isinstance(sku, str):
            previous = written.get(sku, {}).get(line_field) or records.get(sku, {}).get(line_field)
        decision, ledger, record, new_settings = decide(
            op, ledgers.get(sku), settings.get(sku), previous, now
        )
        outcome.decisions.append(decision)
        if decision.reason == INSUFFICIENT and not decision.duplicate:
            if isinstance(op, Reserve) and not op.asked_first:  # an order line, not a Hold
                outcome.oversold.append((sku, op.channel))
        elif record is not None and decision.accepted and not decision.duplicate:
            if decision.op == "reserve":
                outcome.sales.append((sku, record.placed_at, record.quantity, op.channel))  # type: ignore[union-attr]
            elif decision.op == "release":
                outcome.sales.append((sku, record.placed_at, -record.quantity, op.channel))  # type: ignore[union-attr]
        if ledger is not None:
            ledgers[sku] = outcome.ledgers[sku] = ledger
        if new_settings is not None:
            settings[sku] = outcome.settings[sku] = new_settings
        if record is not None:
            written.setdefault(sku, {})[line_field] = record
            outcome.records.append((sku, line_field, record))
    return outcome
