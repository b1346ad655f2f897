"""Sales through the live Forecaster and alert policy, offline and in event time.

The one engine behind ``flashstock replay`` (a recorded CSV), ``--compare`` and the alert
scenario suite with its Monte Carlo (``scripts/replay/suite.py``): the same
``actors.alerts.forecaster.Forecaster`` and ``policies`` code the service runs, with no
Ray and no Redis. Sales are fed in ``step_seconds`` event-time steps with a tick after
each; stock goes down with every sale and up with restocks and arriving transfers. A
sale beyond the stock is not taken (it is counted in ``beyond_stock`` and the caller says so).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_book import AlertBook
from policies.alert_lifecycle import LifecycleSettings
from policies.alert_rules import AlertSettings
from policies.ledger import SkuSettings
from policies.velocity import ForecastSettings


class Sale(NamedTuple):
    at: float
    sku: str
    quantity: int
    channel: str = "recorded"


class Restock(NamedTuple):
    """``units`` ordered at event time ``at`` for ``sku``, sellable at ``arrives_at``
    (``arrives_at == at``: a restock on the shelf at once)."""

    at: float
    sku: str
    units: int
    arrives_at: float


class Event(NamedTuple):
    """One notification of the replay, at event time ``at``."""

    at: float
    kind: str
    sku: str
    level: str
    status: str
    reason: str
    available: int
    eta_minutes: float | None
    inhibited: bool
    silenced: bool
    #: stored and shown, not sent to receivers (``Notification.quiet``)
    quiet: bool = False

    @property
    def told(self) -> bool:
        """Whether receivers (webhooks) are sent it."""
        return not (self.inhibited or self.silenced or self.quiet)


@dataclass(frozen=True)
class Tunables:
    """Every setting of the alert policy a replay can change."""

    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    step_seconds: float = 10.0


@dataclass
class Outcome:
    """What a replay saw: every notification, when each SKU first sold out (event time),
    the units of sales that found no stock, and the forecaster at the end (its views)."""

    events: list[Event]
    sold_out_at: dict[str, float]
    beyond_stock: dict[str, int]
    forecaster: Forecaster


def with_show_end(
    settings: Sequence[SkuSettings], sold: set[str], show_ends_at: float | None
) -> list[SkuSettings]:
    """``settings`` (and defaults for the ``sold`` SKUs they miss) with ``show_ends_at``
    as the end of every SKU that has no ``on_sale_until`` of its own."""
    every = list(settings) + [SkuSettings(sku) for sku in sorted(sold - {s.sku for s in settings})]
    if show_ends_at is None:
        return every
    return [s if s.on_sale_until is not None else replace(s, on_sale_until=show_ends_at) for s in every]


def run_replay(
    sales: Sequence[Sale],
    stock: dict[str, int],
    settings: Sequence[SkuSettings],
    tunables: Tunables | None = None,
    *,
    restocks: Sequence[Restock] = (),
    show_ends_at: float | None = None,
    tail_minutes: float = 15.0,
    start: float | None = None,
) -> Outcome:
    """Feed ``sales`` (sorted by event time) and ``restocks`` through a fresh
    Forecaster; ``tail_minutes`` of quiet after the last sale let alerts resolve.
    ``show_ends_at``: the show's end for the SKUs whose settings give none (it becomes
    their ``on_sale_until``, as a defined SKU carries it in the service)."""
    tune = tunables or Tunables()
    clock = [0.0]
    forecaster = Forecaster(
        clock=lambda: clock[0],
        forecast=tune.forecast,
        alerts=tune.alerts,
        book=AlertBook(tune.lifecycle),
        evaluate_every_seconds=float("inf"),
    )
    forecaster.update_skus(with_show_end(settings, {s.sku for s in sales}, show_ends_at))
    available = {sku: max(units, 0) for sku, units in stock.items()}
    inbound: dict[str, list[tuple[float, int]]] = defaultdict(list)
    outcome = Outcome([], {}, {}, forecaster)
    if not sales and not restocks:
        return outcome
    first = min([s.at for s in sales[:1]] + [r.at for r in restocks]) if start is None else start
    last = max([s.at for s in sales[-1:]] + [r.at for r in restocks])
    end = max(last, show_ends_at or last) + tail_minutes * 60
    pending_sales = list(reversed(sales))
    pending_restocks = sorted(restocks, reverse=True)
    now = first
    while now <= end:
        now += tune.step_seconds
        clock[0] = now
        while pending_restocks and pending_restocks[-1].at <= now:
            restock = pending_restocks.pop()
            inbound[restock.sku].append((restock.arrives_at, restock.units))
        for sku, transfers in inbound.items():
            for transfer in [t for t in transfers if t[0] <= now]:
                transfers.remove(transfer)
                available[sku] = available.get(sku, 0) + transfer[1]
        batch: list[SaleEvent] = []
        while pending_sales and pending_sales[-1].at <= now:
            sale = pending_sales.pop()
            left = available.get(sale.sku, 0)
            taken = min(sale.quantity, left)
            if taken < sale.quantity:
                outcome.beyond_stock[sale.sku] = outcome.beyond_stock.get(sale.sku, 0) + sale.quantity - taken
            if taken > 0:
                available[sale.sku] = left - taken
                batch.append(SaleEvent(sale.sku, sale.at, taken, sale.channel))
                if available[sale.sku] == 0:
                    outcome.sold_out_at.setdefault(sale.sku, sale.at)
        snapshot = {sku: StockSnapshot(units, 0, tuple(inbound[sku])) for sku, units in available.items()}
        notes = forecaster.record(batch, snapshot) + forecaster.advance(now)
        for note in notes:
            evidence = note.alert.evidence
            eta = evidence.get("eta_minutes")
            outcome.events.append(
                Event(
                    now,
                    note.kind,
                    note.alert.sku,
                    note.alert.level,
                    note.alert.status,
                    note.alert.reason,
                    int(evidence.get("available", 0)),
                    eta if isinstance(eta, int | float) else None,
                    note.inhibited,
                    note.silenced,
                    note.quiet,
                )
            )
    return outcome
