"""The grant protocol: what each platform may sell, safe by construction whatever its lag.

A platform-first platform (Douyin, Taobao, Kuaishou) sells against its own stock counter
before flashstock hears of the order. Publishing absolute counts cannot be safe: a
platform that applies an update late, or has orders in flight, can still sell units just
moved to another platform. So flashstock never sets a platform's counter; it changes it
by increments, which real platforms apply atomically against their live counter (Taobao's
incremental quantity update, Douyin's and Kuaishou's stock sync):

- **grant** ("add N"): only out of the free pool, the units that are neither granted to a
  platform nor reserved or sold; the units count as granted from the moment the update
  is sent, whether or not the platform has applied it yet.
- **take-back** ("subtract up to N"): a request. The platform removes what its live
  counter still holds, at most N, and answers with what it actually removed; only those
  units return to the free pool, and only when the answer arrives. Until then they count
  as granted. One take-back per (platform, SKU) at a time.
- every update carries an id, 1, 2, 3... per platform; the platform applies them in id
  order, each once (an early one waits for the gap to fill, a repeat is answered again
  without being applied again), so updates may be delayed, reordered, duplicated or lost
  and resent. A platform that does not answer keeps its grant; nothing is taken from it
  and nobody else is topped up from it.

With ``granted`` and ``consumed`` (units of the platform's orders flashstock has recorded)
per platform, the invariant, for every SKU, is

    sum over platforms of (granted - consumed) + reserved + sold <= on_hand

where ``reserved`` and ``sold`` are the ledger's (they include ``consumed``). A platform
that sells only what its counter shows holds ``granted - sold there <= granted - consumed``
units, so none can ever sell a unit the pool does not have. Platforms that ask before
they sell (reserve-first: the mini-program, the generic API) get no grant: they reserve
per order from the free pool (``GrantBook.free``), as any reservation does.

``PlatformCounters`` is the platform's side, used by the simulator's platforms; the
``GrantBook`` is flashstock's side. Both are plain objects without I/O: the caller moves
updates and answers, and may lose, repeat or reorder them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from policies.allocation import allocate_by_share

#: an update that adds units to a platform's counter
ADD: Final = "add"
#: an update that asks a platform to remove up to ``units`` from its counter
TAKE: Final = "take"


class GrantUpdate(NamedTuple):
    """One change of a platform's counter of ``sku``: ``ADD`` ``units``, or ``TAKE`` up to
    ``units``. ``update_id`` is the platform's sequence number (from 1)."""

    platform: str
    update_id: int
    sku: str
    kind: str
    units: int


class UpdateAnswer(NamedTuple):
    """A platform's answer to update ``update_id``: ``units`` added (``ADD``) or actually
    removed (``TAKE``, at most what was asked)."""

    platform: str
    update_id: int
    sku: str
    kind: str
    units: int


class PlatformCounters:
    """A platform's side of the protocol: its counters (SKU -> units it may sell), the
    updates it applied (in id order, each once) and its answers."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.counters: dict[str, int] = {}
        #: the highest update id applied; every id up to it was applied, in order
        self.applied = 0
        self._early: dict[int, GrantUpdate] = {}
        self._answers: dict[int, UpdateAnswer] = {}
        #: units sold per SKU, ever (what the platform took from buyers)
        self.sold: dict[str, int] = {}

    def counter(self, sku: str) -> int:
        return self.counters.get(sku, 0)

    def receive(self, update: GrantUpdate) -> list[UpdateAnswer]:
        """Apply ``update`` if it is the next in order (and any early ones it unblocks);
        answer a repeat again without applying it; hold an early one. The answers to send."""
        if update.platform != self.platform:
            raise ValueError(f"update for {update.platform!r} reached {self.platform!r}")
        if update.update_id <= self.applied:
            return [self._answers[update.update_id]]
        self._early.setdefault(update.update_id, update)
        answers = []
        while self.applied + 1 in self._early:
            answers.append(self._apply(self._early.pop(self.applied + 1)))
        return answers

    def _apply(self, update: GrantUpdate) -> UpdateAnswer:
        held = self.counter(update.sku)
        units = update.units if update.kind == ADD else min(update.units, held)
        self.counters[update.sku] = held + units if update.kind == ADD else held - units
        self.applied = update.update_id
        answer = UpdateAnswer(self.platform, update.update_id, update.sku, update.kind, units)
        self._answers[update.update_id] = answer
        return answer

    def sell(self, sku: str, units: int) -> bool:
        """Take a buyer's order of ``units`` if the counter covers it (and count it down)."""
        held = self.counter(sku)
        if units <= 0 or held < units:
            return False
        self.counters[sku] = held - units
        self.sold[sku] = self.sold.get(sku, 0) + units
        return True


class GrantBook:
    """flashstock's side: units granted to each platform-first platform per SKU, what
    flashstock recorded of their orders, take-backs in flight and updates not answered."""

    def __init__(self, platforms: Iterable[str]) -> None:
        self.platforms = sorted(platforms)
        #: (platform, sku) -> units granted, net of take-backs the platform confirmed
        self.granted: dict[tuple[str, str], int] = {}
        #: (platform, sku) -> units of the platform's orders flashstock recorded (net of releases)
        self.consumed: dict[tuple[str, str], int] = {}
        #: (platform, sku) -> units asked back and not answered yet (still granted)
        self.taking: dict[tuple[str, str], int] = {}
        self._next_id = dict.fromkeys(self.platforms, 1)
        #: platform -> update id -> the update, sent and not answered
        self.unanswered: dict[str, dict[int, GrantUpdate]] = {p: {} for p in self.platforms}

    # ---- keeping -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What must survive a restart, as plain JSON-able data: grants, take-backs in
        flight, the next update id and the unanswered updates of each platform (what the
        platforms' orders consumed is rebuilt from the ledger, not kept here)."""
        return {
            "platforms": list(self.platforms),
            "granted": [[p, s, n] for (p, s), n in sorted(self.granted.items()) if n],
            "taking": [[p, s, n] for (p, s), n in sorted(self.taking.items())],
            "next_id": dict(self._next_id),
            "unanswered": [list(u) for p in self.platforms for _, u in sorted(self.unanswered[p].items())],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], platforms: Iterable[str]) -> GrantBook:
        """The book ``state`` describes, for ``platforms`` (a platform new to the state
        starts with nothing granted; one no longer configured keeps its grants counted)."""
        known = [str(p) for p in state.get("platforms", [])]
        book = cls({*known, *platforms})
        for platform, sku, units in state.get("granted", []):
            book.granted[(str(platform), str(sku))] = int(units)
        for platform, sku, units in state.get("taking", []):
            book.taking[(str(platform), str(sku))] = int(units)
        for platform, next_id in dict(state.get("next_id", {})).items():
            book._next_id[str(platform)] = int(next_id)
        for platform, update_id, sku, kind, units in state.get("unanswered", []):
            update = GrantUpdate(str(platform), int(update_id), str(sku), str(kind), int(units))
            book.unanswered.setdefault(update.platform, {})[update.update_id] = update
        return book

    # ---- reading ---------------------------------------------------------------------

    def outstanding(self, platform: str, sku: str) -> int:
        """Units granted to ``platform`` it has not (to flashstock's knowledge) sold:
        ``granted - consumed``; what it may still sell, or has sold unheard."""
        return self.granted.get((platform, sku), 0) - self.consumed.get((platform, sku), 0)

    def held_for_platforms(self, sku: str) -> int:
        """Units of ``sku`` granted to platforms and not recorded as their sales."""
        return sum(max(self.outstanding(p, sku), 0) for p in self.platforms)

    def free(self, sku: str, available: int) -> int:
        """Units of ``sku`` neither granted nor reserved nor sold, with the ledger's
        ``available`` (``on_hand - reserved - sold``): what grants and reserve-first
        orders may take."""
        return available - self.held_for_platforms(sku)

    def headroom(self, sku: str, available: int) -> int:
        """``on_hand - reserved - sold - sum(granted - consumed)``: never negative while
        the invariant holds (the ``/metrics`` gauge and the chaos audit read it)."""
        return available - sum(self.outstanding(p, sku) for p in self.platforms)

    # ---- changing --------------------------------------------------------------------

    def grant(self, platform: str, sku: str, units: int, available: int) -> GrantUpdate | None:
        """ "Add N" to ``platform``'s counter, N at most ``units`` and at most the free
        pool; None when nothing can be granted."""
        units = min(units, self.free(sku, available))
        if units <= 0:
            return None
        key = (platform, sku)
        self.granted[key] = self.granted.get(key, 0) + units
        return self._send(platform, sku, ADD, units)

    def take_back(self, platform: str, sku: str, units: int) -> GrantUpdate | None:
        """Ask ``platform`` to remove up to ``units`` (at most its outstanding grant);
        None while an earlier take-back of the SKU is unanswered or there is nothing."""
        key = (platform, sku)
        units = min(units, self.outstanding(platform, sku))
        if units <= 0 or key in self.taking:
            return None
        self.taking[key] = units
        return self._send(platform, sku, TAKE, units)

    def _send(self, platform: str, sku: str, kind: str, units: int) -> GrantUpdate:
        if platform not in self._next_id:
            raise ValueError(f"{platform!r} is not a platform-first platform of this book")
        update = GrantUpdate(platform, self._next_id[platform], sku, kind, units)
        self._next_id[platform] += 1
        self.unanswered[platform][update.update_id] = update
        return update

    def next_ids(self) -> dict[str, int]:
        """Each platform's next update id: what ``issued_since`` takes as its mark."""
        return dict(self._next_id)

    def issued_since(self, mark: Mapping[str, int]) -> list[GrantUpdate]:
        """The unanswered updates made since ``mark`` (a ``next_ids()``), per platform in
        id order."""
        return [
            update
            for platform in self.platforms
            for update_id, update in sorted(self.unanswered[platform].items())
            if update_id >= mark.get(platform, self._next_id[platform])
        ]

    def withdraw(self, updates: Iterable[GrantUpdate]) -> None:
        """Undo ``updates`` made by ``grant`` / ``take_back`` that were never sent (nor
        any later update of their platforms): a grant's units are no longer granted, a
        take-back is no longer in flight, and the platform's later unsent updates take
        the ids freed, so its ids stay 1, 2, 3... without a gap (a platform waits for a
        gap to fill)."""
        withdrawn = list(updates)
        for update in withdrawn:
            if self.unanswered[update.platform].pop(update.update_id, None) is None:
                continue
            key = (update.platform, update.sku)
            if update.kind == ADD:
                self.granted[key] = self.granted.get(key, 0) - update.units
            else:
                self.taking.pop(key, None)
        for platform in {u.platform for u in withdrawn}:
            lowest = min(u.update_id for u in withdrawn if u.platform == platform)
            pending = self.unanswered[platform]
            later = [pending.pop(i) for i in sorted(i for i in pending if i > lowest)]
            for offset, update in enumerate(later):
                pending[lowest + offset] = update._replace(update_id=lowest + offset)
            self._next_id[platform] = lowest + len(later)

    def answer(self, answer: UpdateAnswer) -> bool:
        """Take a platform's answer; False for a repeat (or an answer to nothing sent).
        A take-back's answer returns the units actually removed to the free pool."""
        sent = self.unanswered.get(answer.platform, {}).pop(answer.update_id, None)
        if sent is None:
            return False
        if sent.kind == TAKE:
            key = (sent.platform, sent.sku)
            removed = min(max(answer.units, 0), sent.units)
            self.granted[key] = self.granted.get(key, 0) - removed
            self.taking.pop(key, None)
        return True

    def record_sale(self, platform: str, sku: str, units: int) -> None:
        """flashstock recorded ``units`` of ``platform``'s orders of ``sku`` (negative: a
        release of one): they leave the grant and are in the ledger's reserved or sold."""
        if platform in self._next_id:
            key = (platform, sku)
            self.consumed[key] = self.consumed.get(key, 0) + units

    def resend(self, platform: str) -> list[GrantUpdate]:
        """The updates ``platform`` has not answered, in id order (sent again, same ids)."""
        return [self.unanswered[platform][i] for i in sorted(self.unanswered.get(platform, {}))]

    def silent(self, platform: str) -> bool:
        """True while ``platform`` has updates it has not answered."""
        return bool(self.unanswered.get(platform))

    def rebalance(
        self,
        sku: str,
        available: int,
        shares: Mapping[str, float],
        demand: Mapping[str, float] | None = None,
        *,
        slack: int = 1,
        silent: Collection[str] | None = None,
    ) -> list[GrantUpdate]:
        """Move ``sku``'s grants toward their targets: ``allocate_by_share`` of the units
        platforms and the shared pool could hold (``free + held_for_platforms``) over
        ``shares`` (reserve-first channels among them keep their part in the free pool),
        weighed by recent ``demand``. A platform above its target by more than ``slack``
        units is asked to take back the excess (never lowered unasked); a platform below it
        is granted the difference out of the free pool, the most short first. A platform
        in ``silent`` (by default: every platform with an unanswered update) gets nothing
        more; a caller that keeps time passes the platforms unanswered for too long."""
        free = self.free(sku, available)
        total = max(free, 0) + self.held_for_platforms(sku)
        targets = allocate_by_share(total, shares, demand)
        updates = []
        for platform in self.platforms:
            excess = self.outstanding(platform, sku) - targets.get(platform, 0)
            if excess > slack:
                update = self.take_back(platform, sku, excess)
                if update is not None:
                    updates.append(update)
        short = sorted(
            (self.outstanding(p, sku) - targets.get(p, 0), p)
            for p in self.platforms
            if not (self.silent(p) if silent is None else p in silent) and (p, sku) not in self.taking
        )
        for gap, platform in short:
            if gap >= 0:
                break
            update = self.grant(platform, sku, -gap, available)
            if update is not None:
                updates.append(update)
        return updates


def invariant_holds(book: GrantBook, skus: Sequence[str], available: Mapping[str, int]) -> bool:
    """True when no SKU has promised more than it has: ``headroom >= 0`` for each."""
    return all(book.headroom(sku, available.get(sku, 0)) >= 0 for sku in skus)
