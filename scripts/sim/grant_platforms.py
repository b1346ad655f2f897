"""The simulated platforms under the grant protocol (``policies.grants``), the default
``allocation: grants``.

This is the production protocol itself, not a copy: flashstock's side is a
``GrantBook`` (what ChannelSync keeps), each platform-first platform's side is a
``PlatformCounters`` (what a platform's incremental stock API does), and between them a
network of show time that delays every update and answer by the scenario's
``platform_lag_ms`` and, as the scenario's ``platform_network`` says, reorders, drops and
duplicates them; a platform named in ``silent_platforms`` stops answering from its
minute on (it goes on selling what its counter holds). Every ``TICK_SECONDS`` of show time
flashstock takes the answers that arrived, resends the updates left unanswered for
longer than ``resend_after``, and rebalances each SKU by share and recent demand
(``GrantBook.rebalance``).

Platforms that ask first (reserve-first channels: the generic format, e.g. the
mini-program) have no counter: they take an order only if the free pool covers it.

What flashstock knows of the pool (``available``) and of the platforms' sales (their
accepted orders) is what the show loop tells it at the end of each step, as the ledger
stream tells ChannelSync; between steps it is older, never larger than the truth for
platform sales, so every grant is covered. The first grants are made before the link
goes up (at minute 0, without lag). A cancelled order's units are not put back on the
platform's counter: flashstock frees them and grants them again.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.allocation import RecentDemand
from policies.channel_modes import asks_first, default_mode
from policies.grants import GrantBook, GrantUpdate, PlatformCounters, UpdateAnswer
from scripts.loadgen.messages import format_of

#: how often (show seconds) flashstock takes answers, resends and rebalances
TICK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class NetworkFaults:
    """What the network between flashstock and the platforms does to each message:
    probabilities of dropping it, delivering it twice, and delaying it by up to one more
    lag (or 0.5 s when there is no lag), which reorders it."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    message: GrantUpdate | UpdateAnswer | None = field(compare=False)  # None: a tick


class GrantedShelves:
    """The platforms of a show and flashstock's grants to them, in show time (seconds)."""

    def __init__(
        self,
        shares: Mapping[str, float],
        lag_seconds: float = 0.0,
        *,
        faults: NetworkFaults | None = None,
        silent: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.shares = dict(shares)
        self.lag = lag_seconds
        self.faults = faults or NetworkFaults()
        #: channel -> show second from which it no longer answers
        self.silent = dict(silent or {})
        self.asking = sorted(c for c in shares if asks_first(default_mode(format_of(c))))
        platforms = [c for c in shares if c not in self.asking]
        self.book = GrantBook(platforms)
        self.platforms = {p: PlatformCounters(p) for p in platforms}
        self.resend_after = 2 * lag_seconds + 1.0
        self._rng = random.Random(seed)
        self._queue: list[_Delivery] = []
        self._seq = 0
        self._now = 0.0
        self._sent_at: dict[tuple[str, int], float] = {}
        self._available: dict[str, int] = {}
        self._demand: dict[str, dict[str, RecentDemand]] = {}  # sku -> channel -> recent sales
        self._started = False
        self.updates_sent = 0
        self.updates_resent = 0

    # ---- what the show loop tells flashstock --------------------------------------------

    def publish(self, at: float, available: Mapping[str, int]) -> None:
        """The pool's ``available`` units per SKU as of show second ``at`` (the ledger)."""
        self._advance(at)
        self._available.update(available)
        if not self._started:  # the first grants, made before the link goes up
            self._started = True
            for sku in self._available:
                for update in self.book.rebalance(sku, self._available[sku], self.shares):
                    self._apply_at_once(update)
            self._schedule(at + TICK_SECONDS, None)

    def record(self, at: float, channel: str, sku: str, quantity: int) -> None:
        """flashstock accepted ``channel``'s order of ``quantity`` units of ``sku``: it left
        the platform's grant and the pool's available units alike (until the next
        ``publish`` brings the ledger's own figure)."""
        if channel in self.platforms:
            self.book.record_sale(channel, sku, quantity)
            self._available[sku] = self._available.get(sku, 0) - quantity
        by_channel = self._demand.setdefault(sku, {})
        by_channel[channel] = by_channel.get(channel, RecentDemand()).add(quantity, at)

    # ---- buyers ------------------------------------------------------------------------

    def take(self, at: float, channel: str, sku: str, quantity: int) -> bool:
        """Whether ``channel`` takes a buyer's order at show second ``at``: a platform if
        its counter covers it, a reserve-first channel if the free pool does."""
        self._advance(at)
        if channel in self.platforms:
            return self.platforms[channel].sell(sku, quantity)
        available = self._available.get(sku, 0)
        if self.book.free(sku, available) < quantity:
            return False
        self._available[sku] = available - quantity  # until the ledger says so
        return True

    def units_elsewhere(self, at: float, channel: str, sku: str) -> bool:
        """True when another platform's counter (or the free pool) still holds units of
        ``sku``: a buyer ``channel`` turned away could have been served."""
        self._advance(at)
        if any(c.counter(sku) > 0 for p, c in self.platforms.items() if p != channel):
            return True
        return self.book.free(sku, self._available.get(sku, 0)) > 0

    def shown(self, at: float, channels: Iterable[str], sku: str) -> dict[str, int]:
        """What each channel's counter holds of ``sku`` (reserve-first: the free pool)."""
        self._advance(at)
        free = max(self.book.free(sku, self._available.get(sku, 0)), 0)
        return {c: self.platforms[c].counter(sku) if c in self.platforms else free for c in channels}

    # ---- the network -------------------------------------------------------------------

    def _advance(self, at: float) -> None:
        while self._queue and self._queue[0].at <= at:
            delivery = heapq.heappop(self._queue)
            self._now = delivery.at
            message = delivery.message
            if message is None:
                self._tick(delivery.at)
            elif isinstance(message, GrantUpdate):
                self._to_platform(delivery.at, message)
            else:
                self.book.answer(message)
        self._now = max(self._now, at)

    def _tick(self, at: float) -> None:
        for platform in self.platforms:
            for update in self.book.resend(platform):
                if at - self._sent_at.get((platform, update.update_id), at) >= self.resend_after:
                    self.updates_resent += 1
                    self._send(at, update)
        silent = self._silent(at)
        for sku, available in self._available.items():
            demand = {c: d.at(at) for c, d in self._demand.get(sku, {}).items()}
            for update in self.book.rebalance(sku, available, self.shares, demand, silent=silent):
                self.updates_sent += 1
                self._send(at, update)
        self._schedule(at + TICK_SECONDS, None)

    def _silent(self, at: float) -> set[str]:
        """Platforms with an update unanswered for longer than ``resend_after``."""
        return {
            p
            for p in self.platforms
            if any(
                at - self._sent_at.get((p, u.update_id), at) >= self.resend_after for u in self.book.resend(p)
            )
        }

    def _to_platform(self, at: float, update: GrantUpdate) -> None:
        since = self.silent.get(update.platform)
        if since is not None and at >= since:
            return  # a platform that stopped answering applies nothing either
        for answer in self.platforms[update.platform].receive(update):
            self._travel(at, answer)

    def _send(self, at: float, update: GrantUpdate) -> None:
        self._sent_at[(update.platform, update.update_id)] = at
        self._travel(at, update)

    def _travel(self, at: float, message: GrantUpdate | UpdateAnswer) -> None:
        faults = self.faults
        if self._rng.random() < faults.drop:
            return
        copies = 2 if self._rng.random() < faults.duplicate else 1
        for _ in range(copies):
            delay = self.lag
            if self._rng.random() < faults.reorder:
                delay += self._rng.uniform(0.0, self.lag or 0.5)
            self._schedule(at + delay, message)

    def _schedule(self, at: float, message: GrantUpdate | UpdateAnswer | None) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Delivery(at, self._seq, message))

    def _apply_at_once(self, update: GrantUpdate) -> None:
        self.updates_sent += 1
        for answer in self.platforms[update.platform].receive(update):
            self.book.answer(answer)
