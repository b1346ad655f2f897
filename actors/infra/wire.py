"""How batches of operations and decisions travel between processes.

Ray serialises call arguments and results with cloudpickle, whose pure-Python hook
runs for every object: ~5 us per small tuple, more than deciding it (measured with
py-spy in an owner at 1,000-line batches). A batch therefore travels as one ``bytes``
value made by the standard library's C pickler, which Ray passes through untouched.
Only flashstock's own processes exchange these payloads.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import Operation


def pack_operations(ops: Sequence[Operation]) -> bytes:
    return pickle.dumps(list(ops), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_operations(payload: bytes) -> list[Operation]:
    ops: list[Operation] = pickle.loads(payload)
    return ops


def pack_decisions(decisions: Sequence[Decision]) -> bytes:
    return pickle.dumps(list(decisions), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_decisions(payload: bytes) -> list[Decision]:
    decisions: list[Decision] = pickle.loads(payload)
    return decisions


class SaleEvent(NamedTuple):
    """``units`` sold (negative when released) of ``sku`` at event time ``at``."""

    sku: str
    at: float
    units: int
    channel: str


class StockSnapshot(NamedTuple):
    """A SKU's committed stock: available and reserved units, inbound (arrives_at, units)."""

    available: int
    reserved: int
    inbound: tuple[tuple[float, int], ...] = ()
    #: the ledger version: owners' batches may arrive out of order, older ones are ignored
    version: int = 0


def stock_of(ledger: Ledger) -> StockSnapshot:
    return StockSnapshot(
        ledger.available,
        ledger.reserved,
        tuple((t.arrives_at, t.quantity) for t in ledger.inbound),
        ledger.version,
    )


#: (owner index, owner epoch, the owner's sequence number of the batch)
Origin = tuple[int, int, int]

#: what an owner tells the forecaster of one durable batch
CommitNews = tuple[Origin, list[tuple[str, float, int, str]], dict[str, StockSnapshot], list[SkuSettings]]


def pack_commit(
    origin: Origin,
    sales: Sequence[tuple[str, float, int, str]],
    ledgers: Mapping[str, Ledger],
    settings: Iterable[SkuSettings],
) -> bytes:
    """What the forecaster needs of a durable batch, as one bytes value: the sales
    ``(sku, placed_at, units, channel)``, the fresh stock and the changed settings."""
    stock = {sku: stock_of(ledger) for sku, ledger in ledgers.items()}
    return pickle.dumps((origin, list(sales), stock, list(settings)), protocol=pickle.HIGHEST_PROTOCOL)


def unpack_commit(payload: bytes) -> CommitNews:
    news: CommitNews = pickle.loads(payload)
    return news
