"""StockClient: start the SKU owners, route operations to them, batch single calls.

Routing is ``owner_of(sku, shard_count)``, so any process computes the same owner.
Bulk calls (``submit``) split a batch by owner and send one Ray call per owner, or a
few when its share is larger than a call carries (``MAX_CALL_OPS``, split by SKU: an
operation never overtakes an earlier one of its SKU).
Single calls (``reserve``, ``submit_one``) from many threads or coroutines are gathered
for up to ``batch_window`` seconds (or ``max_batch`` operations) by a batcher thread
and sent as one call per owner: a Ray call costs ~0.5 ms, a decision microseconds.

Errors and retry: if a call fails (an owner died and its retry failed too, or Redis
was unreachable), some owners of a multi-owner batch may have committed their part.
Sending the same batch again is safe: decided lines return their original decisions.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import ray
import structlog

from actors.infra.directory import actor_options, owner_name
from actors.infra.placement import one_per_node
from actors.infra.settings import StoreConfig
from actors.infra.wire import pack_operations, unpack_decisions
from actors.owner.actor import SkuOwnerActor
from actors.owner.handoff import prepare_layout
from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import Operation, Reserve
from policies.routing import owner_of

log = structlog.get_logger(__name__)

#: SKUs whose owner a client remembers (then it starts afresh): a catalogue's worth
_OWNER_CACHE_SIZE = 100_000
#: the most operations in one call to an owner. Ray passes a call's argument and its result
#: inline up to 100 KB (``max_direct_call_object_size``) and through its object store above
#: that, which cost 2-3 us more CPU per order at 2,000-operation calls (their decisions
#: were 108 KB); 1,200 single-line orders' operations and decisions are 56 and 65 KB
#: (docs/benchmarks.md, "Session 8")
MAX_CALL_OPS = 1200


def start_owners(config: StoreConfig, *, tick_seconds: float = 0.25, detached: bool = False) -> list[Any]:
    """Start (or find, when already running) the ``shard_count`` owner actors and wait
    until each has loaded its shard. If the deployment ran with another shard count, its
    owners hand over first (``actors.owner.handoff``). Owners are spread over the cluster's
    nodes, one per node (``actors.infra.placement``); one restarted after a node's death
    goes wherever there is room."""
    prepare_layout(config, owner_name)
    owners = [
        SkuOwnerActor.options(
            **actor_options(owner_name(config, index), detached=detached), scheduling_strategy=strategy
        ).remote(config, index, tick_seconds)
        for index, strategy in enumerate(one_per_node(config.shard_count))
    ]
    ray.get([owner.health.remote() for owner in owners])
    return owners


def call_parts(ops: Sequence[Operation], positions: list[int]) -> list[list[int]]:
    """One owner's share of a batch (``positions`` in ``ops``) as the calls it travels in:
    one call up to ``MAX_CALL_OPS`` operations, else parts split by SKU. The calls run
    concurrently, so only the operations of one SKU keep their order, which is the order
    an owner promises (each SKU's ledger is its own); an operation never overtakes an
    earlier one of its SKU."""
    if len(positions) <= MAX_CALL_OPS:
        return [positions]
    count = -(-len(positions) // MAX_CALL_OPS)
    parts: list[list[int]] = [[] for _ in range(count)]
    for position in positions:
        sku = ops[position].sku
        parts[hash(sku) % count if isinstance(sku, str) else 0].append(position)
    return [part for part in parts if part]


def apply_on(owner: Any, ops: Sequence[Operation]) -> Any:
    """Send a batch to one owner actor; the ObjectRef resolves to packed decisions."""
    return owner.apply.remote(pack_operations(ops))


class StockClient:
    """Routes operations to SKU owners; safe to share between threads."""

    def __init__(
        self,
        config: StoreConfig,
        owners: Sequence[Any],
        *,
        batch_window: float = 0.002,
        max_batch: int = 2000,
        call_timeout: float | None = None,
    ) -> None:
        """``call_timeout``: the most seconds ``submit`` and the reads wait for the owners
        (``ray.exceptions.GetTimeoutError`` after it; the operations may still be decided,
        and sending them again is safe: every operation is idempotent by its id); None
        waits for as long as it takes."""
        if len(owners) != config.shard_count:
            raise ValueError(f"{len(owners)} owners given for {config.shard_count} shards")
        self.config = config
        self.owners = list(owners)
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.call_timeout = call_timeout
        self._owner_of: dict[str, int] = {}
        self._pending: list[tuple[Operation, Future[Decision]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._batcher = threading.Thread(target=self._run_batcher, name="stock-batcher", daemon=True)
        self._batcher.start()

    @classmethod
    def start(cls, config: StoreConfig, *, detached: bool = False, **kwargs: Any) -> StockClient:
        """Start (or find) the owners of ``config`` and a client for them."""
        return cls(config, start_owners(config, detached=detached), **kwargs)

    def owner_index(self, sku: str) -> int:
        # ``owner_of`` hashes the SKU (~2 us, as much as the rest of routing a line); the
        # answer never changes for a client's config, so it is remembered, a bounded number
        known = self._owner_of.get(sku) if isinstance(sku, str) else 0
        if known is None:
            if len(self._owner_of) >= _OWNER_CACHE_SIZE:
                self._owner_of.clear()
            known = self._owner_of[sku] = owner_of(sku, self.config.shard_count, self.config.partitions)
        return known

    # ---- bulk ------------------------------------------------------------------------

    def _send(self, ops: Sequence[Operation]) -> list[tuple[list[int], Any]]:
        by_owner: dict[int, list[int]] = defaultdict(list)
        for position, op in enumerate(ops):
            by_owner[self.owner_index(op.sku)].append(position)
        return [
            (part, apply_on(self.owners[index], [ops[p] for p in part]))
            for index, positions in by_owner.items()
            for part in call_parts(ops, positions)
        ]

    @staticmethod
    def _merge(size: int, parts: Sequence[tuple[list[int], list[Decision]]]) -> list[Decision]:
        decisions: list[Decision | None] = [None] * size
        for positions, owner_decisions in parts:
            for position, decision in zip(positions, owner_decisions, strict=True):
                decisions[position] = decision
        return decisions  # type: ignore[return-value]  # every position is filled above

    def submit(self, ops: Sequence[Operation]) -> list[Decision]:
        """Decide a batch; the decisions come back in the order of ``ops``."""
        sent = self._send(ops)
        results = [
            unpack_decisions(blob) for blob in ray.get([ref for _, ref in sent], timeout=self.call_timeout)
        ]
        return self._merge(len(ops), [(p, r) for (p, _), r in zip(sent, results, strict=True)])

    # ---- single operations, micro-batched ---------------------------------------------

    def submit_one_future(self, op: Operation) -> Future[Decision]:
        """Queue one operation for the next micro-batch."""
        future: Future[Decision] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the client is closed")
            self._pending.append((op, future))
            if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
                self._cond.notify()
        return future

    def submit_one(self, op: Operation, timeout: float | None = 60.0) -> Decision:
        """Decide one operation (micro-batched with concurrent callers)."""
        return self.submit_one_future(op).result(timeout=timeout)

    def reserve(
        self,
        channel: str,
        order_id: str,
        sku: str,
        quantity: int = 1,
        placed_at: float | None = None,
        paid: bool = False,
    ) -> Decision:
        """Reserve units for one order line; ``placed_at`` defaults to now."""
        placed = time.time() if placed_at is None else placed_at
        return self.submit_one(Reserve(channel, order_id, sku, quantity, placed, paid))

    def _run_batcher(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
            deadline = time.monotonic() + self.batch_window
            with self._cond:
                while len(self._pending) < self.max_batch and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(timeout=remaining)
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            self._dispatch(batch)

    def _dispatch(self, batch: list[tuple[Operation, Future[Decision]]]) -> None:
        ops = [op for op, _ in batch]
        try:
            sent = self._send(ops)
        except Exception as error:
            for _, future in batch:
                future.set_exception(error)
            return
        for positions, ref in sent:
            futures = [batch[p][1] for p in positions]
            ref.future().add_done_callback(lambda done, futures=futures: _resolve(done, futures))

    def remove_sku(self, sku: str) -> Decision:
        """Take ``sku`` out of the catalogue, decided by its owner (``SkuOwner.remove``)."""
        decision: Decision = ray.get(
            self.owners[self.owner_index(sku)].remove_sku.remote(sku), timeout=self.call_timeout
        )
        return decision

    # ---- reads -----------------------------------------------------------------------

    def _read(self, method: str, skus: Sequence[str]) -> dict[str, Any]:
        """Call read ``method`` of each owner with its share of ``skus``; merged answers."""
        by_owner: dict[int, list[str]] = defaultdict(list)
        for sku in skus:
            by_owner[self.owner_index(sku)].append(sku)
        calls = [getattr(self.owners[i], method).remote(part) for i, part in by_owner.items()]
        found: dict[str, Any] = {}
        for answer in ray.get(calls, timeout=self.call_timeout):
            found.update(answer)
        return found

    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        """Committed ledgers of ``skus`` (unknown SKUs are absent)."""
        return self._read("ledgers", skus)

    def settings(self, skus: Sequence[str]) -> dict[str, SkuSettings]:
        """Settings of ``skus`` (unknown SKUs are absent)."""
        return self._read("settings", skus)

    def oversold(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        """Orders platforms accepted that the pool could not cover: sku -> channel -> count
        (SKUs with none are absent)."""
        return self._read("oversold", skus)

    def ledger(self, sku: str) -> Ledger | None:
        return self.ledgers([sku]).get(sku)

    def all_ledgers(self) -> dict[str, Ledger]:
        found: dict[str, Ledger] = {}
        for part in ray.get([owner.all_ledgers.remote() for owner in self.owners], timeout=self.call_timeout):
            found.update(part)
        return found

    def close(self) -> None:
        """Stop the batcher after it has sent what is queued."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._batcher.join(timeout=10)


def _resolve(done: Future[bytes], futures: list[Future[Decision]]) -> None:
    error = done.exception()
    if error is not None:
        for future in futures:
            future.set_exception(error)
        return
    for future, decision in zip(futures, unpack_decisions(done.result()), strict=True):
        future.set_result(decision)
