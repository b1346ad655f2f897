"""How batches of operations and decisions travel between processes.

Ray serialises call arguments and results with cloudpickle, whose pure-Python hook
runs for every object: ~5 us per small tuple, more than deciding it (measured with
py-spy in an owner at 1,000-line batches). A batch therefore travels as one ``bytes``
value made by the standard library's C pickler, which Ray passes through untouched.
Only flashstock's own processes exchange these payloads.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence

from policies.ledger import Decision
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
