"""Concurrency budgets: a request that finds its budget spent is refused at once, never
queued (load shedding)."""

from __future__ import annotations

from collections import Counter


class Budget:
    """At most ``limit`` holders at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def try_take(self) -> bool:
        if self.held >= self.limit:
            return False
        self.held += 1
        return True

    def give_back(self) -> None:
        self.held -= 1


class StreamBudget:
    """At most ``limit`` open streams in all and ``per_client`` for one client."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit, self.per_client = limit, per_client
        self.by_client: Counter[str] = Counter()

    def try_take(self, client: str) -> bool:
        if self.by_client.total() >= self.limit or self.by_client[client] >= self.per_client:
            return False
        self.by_client[client] += 1
        return True

    def give_back(self, client: str) -> None:
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]
