"""How batches of operations and decisions travel between processes.

Ray serialises call arguments and results with cloudpickle, whose pure-Python hook
runs for every object: ~5 us per small tuple, more than deciding it (measured with
py-spy in an owner at 1,000-line batches). A batch therefore travels as one ``bytes``
value made by the standard library's C pickler, which Ray passes through untouched.
Only flashstock's own processes exchange these payloads.

Even the C pickler calls back into Python for a ``NamedTuple`` (its ``__getnewargs__``),
and unpickling runs its Python ``__new__``: ~1.7 us per operation out of 2.4 to pack and
unpack. So a batch of operations or decisions travels as plain tuples, with each row's
class beside it (pickled once, then referenced), and is rebuilt with ``tuple.__new__``:
~0.75 us. A payload of the earlier form (a pickled list) is still read, so processes
of both versions can talk during a rolling upgrade in that direction.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import Operation


def _pack_rows(items: Sequence[tuple[Any, ...]]) -> bytes:
    """``items`` as their classes and their plain rows; anything but tuples (a caller's
    mistake, answered by the owner) pickled as it is."""
    classes = list(map(type, items))
    if not all(issubclass(cls, tuple) for cls in set(classes)):
        return pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL)
    return pickle.dumps((classes, list(map(tuple, items))), protocol=pickle.HIGHEST_PROTOCOL)


def _unpack_rows(payload: bytes) -> list[Any]:
    unpacked = pickle.loads(payload)
    if isinstance(unpacked, list):  # the earlier form: the pickled items themselves
        return unpacked
    classes, rows = unpacked
    # ``tuple.__new__`` checks no arity: a row of a sender whose class has other fields
    # would become a value with fields missing, failing far from here
    for cls, width in {(cls, len(row)) for cls, row in zip(classes, rows, strict=True)}:
        fields = getattr(cls, "_fields", None)
        if fields is not None and len(fields) != width:
            raise ValueError(
                f"a {cls.__name__} of {width} fields, not {len(fields)}: the sender runs another "
                f"version of {cls.__module__}"
            )
    new = tuple.__new__
    return [row if cls is tuple else new(cls, row) for cls, row in zip(classes, rows, strict=True)]


def pack_operations(ops: Sequence[Operation]) -> bytes:
    return _pack_rows(ops)


def unpack_operations(payload: bytes) -> list[Operation]:
    ops: list[Operation] = _unpack_rows(payload)
    return ops


def pack_decisions(decisions: Sequence[Decision]) -> bytes:
    return _pack_rows(decisions)


def unpack_decisions(payload: bytes) -> list[Decision]:
    decisions: list[Decision] = _unpack_rows(payload)
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
