"""What the flash-sale simulator drives: the shapes it exchanges with a target (the
system in this process's own Ray and Redis, or a running service over HTTP)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from policies.ledger import SkuSettings


class Outbound(NamedTuple):
    """One platform message the simulator sends on ``channel`` (``body`` is what the
    platform itself would push); ``kind`` is order, payment or cancel."""

    channel: str
    kind: str
    order_id: str
    body: str


class Answer(NamedTuple):
    """flashstock's answer to one message; ``kind`` dead means it was dead-lettered.
    ``latency_ms``: from the message entering the system to its durable decision."""

    channel: str
    kind: str
    order_id: str
    accepted: bool
    reason: str
    latency_ms: float | None


class StepResult(NamedTuple):
    """What the system said at the end of a step: alert notifications (the durable
    stream's records) and the forecaster's view of each SKU."""

    notifications: list[dict[str, Any]]
    views: dict[str, dict[str, Any]]


class SimulationError(RuntimeError):
    """The system did not answer as it must (a decision missing past its deadline...)."""


class Target(Protocol):
    def define(self, catalogue: Sequence[tuple[SkuSettings, int]]) -> None:
        """Create the show's SKUs with their stock."""

    def send(self, messages: Sequence[Outbound]) -> list[Answer]:
        """Deliver the messages through the ingest path; every answer, durable."""

    def restock(self, sku: str, quantity: int, transfer_id: str, arrives_at: float | None) -> None:
        """An operator's restock, now or as an inbound transfer arriving at event time."""

    def receive(self, sku: str, as_of: float) -> None:
        """The warehouse confirms the transfers due by event time ``as_of`` arrived."""

    def end_step(self, at: float, skus: Sequence[str]) -> StepResult:
        """Event time has reached ``at``: the alerts and views as of then."""

    def audit(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per SKU: on_hand, reserved, sold, available and oversold (channel -> orders)."""

    def close(self) -> None:
        """Stop what the target started."""
