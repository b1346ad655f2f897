"""Group commit: every caller's operations that arrive while a commit is in flight are
decided and committed together in the next one.

One committer thread per owner takes everything queued, decides it (pure, no I/O),
commits it to Redis in one round trip and then resolves each caller's future. While
that round trip (and its fsync) is under way, new calls queue up; so the busier the
owner, the bigger its batches and the cheaper each decision. The thread also wakes
every ``tick_seconds`` to expire unpaid reservations and receive inbound transfers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

import structlog

from actors.owner.core import PendingCommit, SkuOwner
from actors.owner.store import CommitBatch, OwnerFencedError
from policies.ledger import Decision
from policies.operations import Operation

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: The most operations decided and committed in one batch.
MAX_GROUP_OPERATIONS = 20_000


class GroupCommitter:
    """Serialises all writes of one ``SkuOwner`` through a single committer thread."""

    def __init__(
        self,
        owner: SkuOwner,
        *,
        tick_seconds: float = 0.25,
        on_commit: Callable[[CommitBatch], None] | None = None,
        on_durable: Callable[[float, list[Decision]], None] | None = None,
    ) -> None:
        self.owner = owner
        #: told about every durable batch (after its callers), e.g. to feed the forecaster
        self.on_commit = on_commit
        #: told each commit's seconds from send to durable and its decisions (metrics)
        self.on_durable = on_durable
        self.tick_seconds = tick_seconds
        self._queue: deque[_Call] = deque()
        #: actions to run on this thread with no commit in flight (``run_exclusively``)
        self._exclusive: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._wakeup = threading.Condition()
        self._stopping = False
        self.commits = 0
        #: recent (seconds from send to durable, operations) of each commit
        self.recent_commits: deque[tuple[float, int]] = deque(maxlen=10_000)
        self._thread = threading.Thread(target=self._run, name=f"committer-{owner.index}", daemon=True)
        self._thread.start()

    def submit(self, ops: Sequence[Operation]) -> Future[list[Decision]]:
        """Queue ``ops``; the future gets their decisions once they are durable."""
        future: Future[list[Decision]] = Future()
        if self.owner.fenced:
            future.set_exception(OwnerFencedError(f"owner {self.owner.index} was fenced"))
            return future
        with self._wakeup:
            if self._stopping:
                raise RuntimeError("the committer is stopped")
            self._queue.append((ops, future))
            self._wakeup.notify()
        return future

    def run_exclusively(self, action: Callable[[], T]) -> Future[T]:
        """Run ``action`` on the committer thread between two batches, with no commit in
        flight and none decided but not sent (removing a SKU needs that: no batch may
        touch it meanwhile); the future gets its result or its exception."""
        future: Future[T] = Future()
        with self._wakeup:
            if self._stopping:
                raise RuntimeError("the committer is stopped")
            self._exclusive.append((action, future))
            self._wakeup.notify()
        return future

    def _run_exclusive(self) -> None:
        while self._exclusive:
            action, future = self._exclusive.popleft()
            try:
                future.set_result(action())
            except Exception as error:
                future.set_exception(error)

    def stats(self) -> dict[str, float]:
        """Commits so far, and p50 / p99 commit latency (ms) and mean operations per
        commit over the recent ones."""
        recent = list(self.recent_commits)
        latencies = sorted(seconds for seconds, _ in recent)
        return {
            "commits": self.commits,
            "commit_ms_p50": _quantile(latencies, 0.50) * 1000,
            "commit_ms_p99": _quantile(latencies, 0.99) * 1000,
            "ops_per_commit": sum(n for _, n in recent) / len(recent) if recent else 0.0,
        }

    def reset_stats(self) -> None:
        self.recent_commits.clear()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        self._thread.join(timeout=10)

    def _take(self, wait: bool) -> list[_Call]:
        with self._wakeup:
            if wait and not self._queue and not self._exclusive and not self._stopping:
                self._wakeup.wait(timeout=self.tick_seconds)
            taken: list[_Call] = []
            count = 0
            while self._queue and (not taken or count + len(self._queue[0][0]) <= MAX_GROUP_OPERATIONS):
                item = self._queue.popleft()
                taken.append(item)
                count += len(item[0])
            return taken

    def _run(self) -> None:
        """Decide the next batch while the previous one is being committed.

        At most one commit is in flight. If it fails, the next batch (decided on top of
        it, but not sent nor answered) is decided again from the state reloaded from
        Redis, so no caller hears a decision that rested on a lost commit.
        """
        in_flight: _Sent | None = None
        while not (self._stopping and in_flight is None and not self._queue):
            if self._exclusive:
                if in_flight is not None:  # let the commit in flight land first
                    self._finish(in_flight)
                    in_flight = None
                if self.owner.fenced:
                    fenced = OwnerFencedError(f"owner {self.owner.index} was fenced")
                    while self._exclusive:
                        self._exclusive.popleft()[1].set_exception(fenced)
                    return
                self._run_exclusive()
            calls = self._take(wait=in_flight is None)
            ops = self._operations(calls)
            decided = self._decide(ops, calls) if ops else None
            if in_flight is not None:
                if not self._finish(in_flight) and decided is not None:
                    decided = self._decide(ops, calls)  # re-decide on the reloaded state
                in_flight = None
                if self.owner.fenced:
                    self._fail(calls, OwnerFencedError(f"owner {self.owner.index} was fenced"))
                    return
            if decided is None:
                continue
            decisions, batch = decided
            try:
                pending = self.owner.send(batch)
            except Exception as error:
                self._fail(calls, error)
                continue
            in_flight = _Sent(
                pending, decisions, calls, len(ops) - sum(len(c[0]) for c in calls), time.perf_counter()
            )

    def _operations(self, calls: list[_Call]) -> list[Operation]:
        try:
            ops: list[Operation] = self.owner.due_operations()
        except Exception:
            log.exception("due_operations_failed", owner=self.owner.index)
            ops = []
        for caller_ops, _ in calls:
            ops.extend(caller_ops)
        return ops

    def _decide(self, ops: list[Operation], calls: list[_Call]) -> tuple[list[Decision], CommitBatch] | None:
        try:
            return self.owner.decide_batch(ops)
        except Exception as error:
            self._fail(calls, error)
            return None

    def _finish(self, sent: _Sent) -> bool:
        """Wait for the commit in flight and answer its callers; False if it failed."""
        try:
            self.owner.finish(sent.pending)
        except Exception as error:
            self._fail(sent.calls, error)
            return False
        self.commits += 1
        seconds = time.perf_counter() - sent.sent_at
        self.recent_commits.append((seconds, len(sent.decisions)))
        if self.on_durable is not None:
            try:
                self.on_durable(seconds, sent.decisions)
            except Exception:  # metrics must never fail a commit
                log.exception("on_durable_failed", owner=self.owner.index)
        # The listener hears of the batch before its callers do (it must not block: the
        # forecaster is told fire-and-forget), so whoever has seen a decision knows the
        # listener was told of it: a simulation's barrier rests on that order.
        if self.on_commit is not None:
            try:
                self.on_commit(sent.pending.batch)
            except Exception:  # the commit stands; a listener's trouble is its own
                log.exception("on_commit_failed", owner=self.owner.index)
        position = sent.due_count
        for caller_ops, future in sent.calls:
            end = position + len(caller_ops)
            future.set_result(sent.decisions[position:end])
            position = end
        return True

    @staticmethod
    def _fail(calls: list[_Call], error: Exception) -> None:
        for _, future in calls:
            if not future.done():
                future.set_exception(error)


_Call = tuple[Sequence[Operation], "Future[list[Decision]]"]


class _Sent(NamedTuple):
    pending: PendingCommit
    decisions: list[Decision]
    calls: list[_Call]
    due_count: int
    sent_at: float


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
