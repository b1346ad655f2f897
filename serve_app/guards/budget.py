"""Concurrency budgets: a request that finds its budget spent is refused at once, never
queued (load shedding)."""

from __future__ import annotations

from collections import Counter


class Budget:
    """At most ``limit`` units held at once: requests (one each) or body bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def try_take(self, amount: int = 1) -> bool:
        if self.held + amount > self.limit:
            return False
        self.held += amount
        return True

    def give_back(self, amount: int = 1) -> None:
        self.held -= amount


class Holding:
    """What one request holds of a budget, taken as it needs more and given back whole
    when it ends."""

    def __init__(self, budget: Budget) -> None:
        self.budget, self.amount = budget, 0

    def grow_to(self, amount: int) -> bool:
        """Hold at least ``amount`` in all; False (nothing more taken) when the budget
        cannot give the difference."""
        more = amount - self.amount
        if more <= 0:
            return True
        if not self.budget.try_take(more):
            return False
        self.amount = amount
        return True

    def release(self) -> None:
        self.budget.give_back(self.amount)
        self.amount = 0


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
