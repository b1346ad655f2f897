"""The Ray actor around ``SkuOwner``: one process per shard, restarted by Ray on death.

A threaded actor: each write (``apply``) waits on the owner's ``GroupCommitter`` in
one of ``WRITE_THREADS`` threads, so Ray delivers more calls meanwhile, which is what
fills the next group commit. Reads and health checks run in their own concurrency group,
on their own threads, so a stock query never waits behind a batch of writes; they read
only committed state. Threads, not asyncio: an asyncio actor cost 1.3-2.8 us more CPU
per decided line at ~500-line calls (its event loop, the future's hand-off back to it),
measured with one ingest feeding two owners, alternated 3 times (docs/benchmarks.md).

This module is the composition root of an owner's process: it builds the Redis store
and the forecaster lookup (``actors.infra.directory``) and passes them to the plain
``SkuOwner`` and ``ForecasterFeed``.

Restart: Ray re-runs the constructor, which takes a new fencing epoch and reloads the
shard from Redis before any call is served; a call that was in flight when the process
died is retried by Ray (``max_task_retries``) and, being idempotent, answered with its
original decisions if it had been committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ray

from actors.infra import directory
from actors.infra.logging import configure_logging
from actors.infra.metrics import OwnerMetrics
from actors.infra.settings import StoreConfig, tune_gc_for_throughput
from actors.infra.wire import pack_decisions, unpack_operations
from actors.owner.commit import GroupCommitter
from actors.owner.core import SkuOwner
from actors.owner.feed import ForecasterFeed, Send
from actors.owner.store import OwnerFencedError, RedisOwnerStore
from policies.ledger import Decision, Ledger, SkuSettings

#: writes an owner waits on at once (each holds a thread until its batch is durable);
#: more queue in Ray until one finishes
WRITE_THREADS = 64
#: the longest ``retire`` waits for the writes it committed to be answered
RETIRE_ANSWER_SECONDS = 10.0


class SkuOwnerService:
    """The face of one shard owner; ``SkuOwnerActor`` is its Ray actor class."""

    def __init__(
        self,
        config: StoreConfig,
        index: int,
        tick_seconds: float = 0.25,
        *,
        find_forecaster: Callable[[], Send | None] | None = None,
    ) -> None:
        configure_logging()
        tune_gc_for_throughput()
        self.config = config
        self.store = RedisOwnerStore(config)
        self.owner = SkuOwner(config, index, self.store)
        self.feed = ForecasterFeed(index, self.owner.epoch, find_forecaster or forecaster_lookup(config))
        self.metrics = OwnerMetrics(index)
        self.committer = GroupCommitter(
            self.owner, tick_seconds=tick_seconds, on_commit=self.feed, on_durable=self.metrics.committed
        )
        #: writes between their arrival and their answer (``retire`` waits for them)
        self._writes = 0
        self._writes_changed = threading.Condition()

    def apply(self, payload: bytes) -> bytes:
        """Decide a batch of operations (``wire.pack_operations``) and return their
        decisions (``wire.pack_decisions``) once they are durable in Redis."""
        with self._writes_changed:
            self._writes += 1
        try:
            decisions = self.committer.submit(unpack_operations(payload)).result()
            return pack_decisions(decisions)
        except OwnerFencedError:
            # A newer incarnation owns the shard: leave for good (no restart).
            ray.actor.exit_actor()  # type: ignore[no-untyped-call]  # ray leaves it unannotated
            raise
        finally:
            with self._writes_changed:
                self._writes -= 1
                self._writes_changed.notify_all()

    def remove_sku(self, sku: str) -> Decision:
        """Take ``sku`` out of the catalogue unless something is promised on it (the
        decision says which); run between batches, with no commit in flight."""
        try:
            return self.committer.run_exclusively(lambda: self.owner.remove(sku)).result()
        except OwnerFencedError:
            ray.actor.exit_actor()  # type: ignore[no-untyped-call]  # ray leaves it unannotated
            raise

    @ray.method(concurrency_group="reads")
    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        """Committed ledgers of the given SKUs this owner holds (unknown ones omitted)."""
        committed = self.owner.committed
        return {sku: committed[sku] for sku in skus if sku in committed}

    @ray.method(concurrency_group="reads")
    def all_ledgers(self) -> dict[str, Ledger]:
        """Committed ledgers of every SKU this owner holds."""
        return dict(self.owner.committed)

    @ray.method(concurrency_group="reads")
    def oversold(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        """Committed oversold counts (sku -> channel -> orders) of the given SKUs."""
        counts = self.owner.committed_oversold
        return {sku: dict(counts[sku]) for sku in skus if sku in counts}

    @ray.method(concurrency_group="reads")
    def states(self, skus: Sequence[str]) -> dict[str, tuple[Ledger, SkuSettings | None, dict[str, int]]]:
        """Committed ledger, settings and oversold counts of the given SKUs, in one call
        (what an operator's stock query needs)."""
        committed, settings = self.owner.committed, self.owner.settings
        oversold = self.owner.committed_oversold
        return {
            sku: (committed[sku], settings.get(sku), dict(oversold.get(sku, {})))
            for sku in skus
            if sku in committed
        }

    @ray.method(concurrency_group="reads")
    def forecast_sent(self) -> tuple[int, int, int]:
        """(index, epoch, batches told to the forecaster): once the forecaster has heard
        as many from this epoch (``HeardFrom.has_all``, which ``advance_to`` waits for), it
        knows every decision this owner has answered so far."""
        return self.owner.index, self.owner.epoch, self.feed.sent

    @ray.method(concurrency_group="reads")
    def settings(self, skus: Sequence[str]) -> dict[str, SkuSettings]:
        known = self.owner.settings
        return {sku: known[sku] for sku in skus if sku in known}

    @ray.method(concurrency_group="reads")
    def commit_stats(self, reset: bool = False) -> dict[str, float]:
        """Group-commit figures (see ``GroupCommitter.stats``); ``reset`` starts afresh."""
        stats = self.committer.stats()
        if reset:
            self.committer.reset_stats()
        return stats

    def retire(self) -> dict[str, Any]:
        """Hand over (``actors.owner.handoff``): take no more calls, commit everything queued,
        and report once every write it took has been answered (for at most
        ``RETIRE_ANSWER_SECONDS``): the caller then removes this actor, and a write whose
        decision was committed must not lose its answer to that."""
        self.committer.stop()
        with self._writes_changed:
            self._writes_changed.wait_for(lambda: self._writes == 0, timeout=RETIRE_ANSWER_SECONDS)
        return self._health()

    @ray.method(concurrency_group="reads")
    def health(self) -> dict[str, Any]:
        """Liveness with facts: epoch, node, SKUs held, commits so far, the CPU seconds its
        process has used (every thread: deciding, committing, Ray's own), a Redis PING."""
        return self._health()

    def _health(self) -> dict[str, Any]:
        return {
            "index": self.owner.index,
            "epoch": self.owner.epoch,
            "node": ray.get_runtime_context().get_node_id(),
            "load_seconds": round(self.owner.load_seconds, 3),
            "skus": len(self.owner.committed),
            "commits": self.committer.commits,
            "cpu_seconds": time.process_time(),
            "fenced": self.owner.fenced,
            "redis": self.store.ping(),
        }


def forecaster_lookup(config: StoreConfig) -> Callable[[], Send | None]:
    """Finds the deployment's forecaster by name (``directory.forecaster_handle``) and
    sends to it fire-and-forget; None while it does not run."""

    def find() -> Send | None:
        handle = directory.forecaster_handle(config)
        if handle is None:
            return None

        def send(payload: bytes) -> None:
            handle.record.remote(payload)

        return send

    return find


#: The Ray actor: restarted forever on process death, in-flight calls retried.
# ray's stubs for ray.remote omit the actor options (concurrency_groups, max_task_retries)
SkuOwnerActor = ray.remote(  # type: ignore[call-overload]
    max_restarts=-1,
    max_task_retries=-1,
    max_concurrency=WRITE_THREADS,
    concurrency_groups={"reads": 4},
)(SkuOwnerService)
