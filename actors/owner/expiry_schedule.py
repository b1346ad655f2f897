"""When each unpaid reservation of an owner expires (``actors.owner.core``).

Reservations are kept by the whole second after their expiry, in the order they were
made (a dict as an ordered set). A reservation that settles (paid, cancelled, released)
leaves at once, so the schedule holds the open reservations, not every one made: its
memory follows them (``flashstock bench retention``). It is rebuilt from the owner's
state on every load, so a commit whose outcome is unknown never leaves it wrong.
"""

from __future__ import annotations

from collections.abc import Iterator


class ExpirySchedule:
    """(sku, line field) of each open reservation, by the second after its expiry."""

    def __init__(self) -> None:
        self._due: dict[int, dict[tuple[str, str], None]] = {}

    def __len__(self) -> int:
        """Reservations waiting for their expiry."""
        return sum(len(due) for due in self._due.values())

    def add(self, sku: str, line_field: str, expires_at: float) -> None:
        self.due_set(expires_at)[sku, line_field] = None

    def due_set(self, expires_at: float) -> dict[tuple[str, str], None]:
        """The reservations due in the second after ``expires_at`` (made if none is): a
        caller adding many reservations of one expiry adds them to it directly."""
        second = int(expires_at) + 1
        due = self._due.get(second)
        if due is None:
            due = self._due[second] = {}
        return due

    def forget(self, sku: str, line_field: str, expires_at: float) -> None:
        """Take a reservation that settled out of the schedule."""
        second = int(expires_at) + 1
        due = self._due.get(second)
        if due is not None:
            due.pop((sku, line_field), None)
            if not due:
                del self._due[second]

    def take_due(self, now: float) -> Iterator[tuple[str, str]]:
        """Every reservation scheduled up to ``now``, earliest second first, each taken out
        of the schedule (the caller checks that its record is still open and expired)."""
        for second in sorted(s for s in self._due if s <= now):
            yield from self._due.pop(second)
