"""``policies.grants``: the grant protocol. Examples of each rule, then a Hypothesis state
machine that runs random interleavings of platform sales, lagging, reordered, duplicated
and lost updates and answers, take-backs, rebalancing, restocks, reserve-first
reservations and releases, and checks after every step that the invariant holds and
that no platform ever sold a unit the pool did not have."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from policies.grants import ADD, TAKE, GrantBook, GrantUpdate, PlatformCounters, UpdateAnswer
from policies.ledger import Decision, Ledger, LineRecord, SkuSettings
from policies.operations import Hold, Operation, Release, Reserve, Restock, decide

NOW = 1_764_000_000.0

PLATFORMS = ("douyin", "kuaishou", "taobao")
SHARES = {"douyin": 2.0, "kuaishou": 1.0, "taobao": 1.0, "miniprogram": 1.0}


def test_grants_come_only_out_of_the_free_pool() -> None:
    book = GrantBook(PLATFORMS)
    assert book.grant("douyin", "A", 6, available=10) == GrantUpdate("douyin", 1, "A", ADD, 6)
    assert book.grant("taobao", "A", 6, available=10) == GrantUpdate("taobao", 1, "A", ADD, 4)
    assert book.grant("kuaishou", "A", 1, available=10) is None
    assert book.free("A", 10) == 0
    assert book.headroom("A", 10) == 0


def test_a_take_back_returns_only_what_the_platform_removed_and_only_when_it_answers() -> None:
    book, platform = GrantBook(PLATFORMS), PlatformCounters("douyin")
    platform.receive(book.grant("douyin", "A", 5, available=5) or pytest.fail("no grant"))
    assert platform.sell("A", 4)
    take = book.take_back("douyin", "A", 5) or pytest.fail("no take-back")
    assert book.free("A", 5) == 0  # asked, not answered: still granted
    assert book.take_back("douyin", "A", 1) is None  # one take-back at a time
    (answer,) = platform.receive(take)
    assert answer == UpdateAnswer("douyin", 2, "A", TAKE, 1)  # it had sold 4 of the 5
    assert book.answer(answer)
    assert not book.answer(answer)  # a repeated answer changes nothing
    assert book.free("A", 5) == 1  # the order of 4 is not recorded yet: its units stay out
    book.record_sale("douyin", "A", 4)
    assert book.free("A", 1) == 1
    assert book.headroom("A", 1) == 1


def test_updates_apply_in_order_and_once() -> None:
    book, platform = GrantBook(PLATFORMS), PlatformCounters("kuaishou")
    first = book.grant("kuaishou", "A", 2, available=10) or pytest.fail("no grant")
    second = book.grant("kuaishou", "A", 3, available=10) or pytest.fail("no grant")
    assert platform.receive(second) == []  # early: waits for update 1
    assert platform.counter("A") == 0
    assert [a.update_id for a in platform.receive(first)] == [1, 2]
    assert platform.receive(first) == [UpdateAnswer("kuaishou", 1, "A", ADD, 2)]  # answered again
    assert platform.counter("A") == 5


def test_a_silent_platform_keeps_its_grant_and_nobody_is_topped_up_from_it() -> None:
    book = GrantBook(PLATFORMS)
    updates = book.rebalance("A", 12, SHARES)
    # douyin's share is 2 of 5, the mini-program's part (2 units) stays in the free pool
    assert {u.platform: u.units for u in updates} == {"douyin": 5, "kuaishou": 3, "taobao": 2}
    assert book.free("A", 12) == 2
    assert book.rebalance("A", 12, SHARES) == []  # all silent: nothing more is sent
    assert [u.update_id for u in book.resend("douyin")] == [1]
    assert book.headroom("A", 12) >= 0


def test_rebalancing_moves_units_by_confirmed_take_backs_toward_demand() -> None:
    book = GrantBook(PLATFORMS)
    platforms = {p: PlatformCounters(p) for p in PLATFORMS}

    def deliver(updates: list[GrantUpdate]) -> None:
        for update in updates:
            for answer in platforms[update.platform].receive(update):
                book.answer(answer)

    deliver(book.rebalance("A", 30, {p: 1.0 for p in PLATFORMS}))
    assert {p: c.counter("A") for p, c in platforms.items()} == {"douyin": 10, "kuaishou": 10, "taobao": 10}
    demand = {"douyin": 50.0, "kuaishou": 0.0, "taobao": 0.0}
    deliver(book.rebalance("A", 30, {p: 1.0 for p in PLATFORMS}, demand))  # take-backs answered
    deliver(book.rebalance("A", 30, {p: 1.0 for p in PLATFORMS}, demand))  # freed units granted
    counters = {p: c.counter("A") for p, c in platforms.items()}
    assert counters["douyin"] > 10
    assert sum(counters.values()) == 30
    assert book.headroom("A", 30) == 0


def test_a_withdrawn_grant_frees_its_units_and_the_later_unsent_updates_take_its_id() -> None:
    book = GrantBook(PLATFORMS)
    mark = book.next_ids()
    first = book.grant("douyin", "A", 3, 10)
    second = book.grant("douyin", "B", 4, 10)
    assert first is not None
    assert second is not None

    book.withdraw([first])

    assert book.outstanding("douyin", "A") == 0
    assert book.free("A", 10) == 10
    assert book.issued_since(mark) == [second._replace(update_id=1)]
    assert book.next_ids()["douyin"] == 2
    assert book.resend("douyin") == [second._replace(update_id=1)]


def test_an_update_for_another_platform_is_refused() -> None:
    update = GrantBook(PLATFORMS).grant("douyin", "A", 1, available=1) or pytest.fail("no grant")
    with pytest.raises(ValueError, match="reached 'taobao'"):
        PlatformCounters("taobao").receive(update)


# ---- the state machine -----------------------------------------------------------------

SKUS = ("A", "B")


class GrantProtocol(RuleBasedStateMachine):
    """flashstock (a ``GrantBook`` and each SKU's owner, whose ledger ``decide`` changes)
    and three platforms, joined by a network that delays, reorders, duplicates and loses
    updates and answers. The book sees the ledger late (its ``seen`` available), as the
    sync follows the ledger stream; the owner decides holds and orders against its own
    ledger: a grant is sent only once the owner held its units, a reserve-first order
    takes only free units, a confirmed take-back gives its hold back."""

    @initialize(stock=st.lists(st.integers(0, 40), min_size=2, max_size=2))
    def start(self, stock: list[int]) -> None:
        self.book = GrantBook(PLATFORMS)
        self.platforms = {p: PlatformCounters(p) for p in PLATFORMS}
        self.ledgers = {sku: Ledger(sku, units, version=1) for sku, units in zip(SKUS, stock, strict=True)}
        self.records: dict[str, dict[str, LineRecord]] = {sku: {} for sku in SKUS}
        self.seen = {sku: ledger.available for sku, ledger in self.ledgers.items()}
        self.mini_orders: list[tuple[str, str]] = []  # reserve-first lines not released
        self.mini_taken = dict.fromkeys(SKUS, 0)  # units of them, reserved or sold
        self.ids = 0
        self.to_platforms: list[GrantUpdate] = []
        self.to_flashstock: list[UpdateAnswer] = []
        self.orders: list[tuple[str, str, int]] = []  # sold on a platform, not yet heard

    def owner(self, op: Operation) -> Decision:
        """The SKU's owner decides ``op`` against its ledger (and the line's record)."""
        previous = self.records[op.sku].get(op.field)
        step = decide(op, self.ledgers[op.sku], SkuSettings(op.sku), previous, NOW)
        if step.ledger is not None:
            self.ledgers[op.sku] = step.ledger
        if step.record is not None:
            self.records[op.sku][op.field] = step.record
        return step.decision

    def new_id(self) -> str:
        self.ids += 1
        return str(self.ids)

    def send(self, mark: dict[str, int]) -> None:
        """The updates made since ``mark``, once the owner held each SKU's grants (a
        refused hold withdraws them)."""
        adds: dict[str, int] = {}
        for update in self.book.issued_since(mark):
            if update.kind == ADD:
                adds[update.sku] = adds.get(update.sku, 0) + update.units
        for sku, units in adds.items():
            if not self.owner(Hold(sku, units, f"grant-{self.new_id()}")).accepted:
                self.book.withdraw(u for u in self.book.issued_since(mark) if u.kind == ADD and u.sku == sku)
        self.to_platforms += self.book.issued_since(mark)

    # flashstock

    @rule(sku=st.sampled_from(SKUS))
    def ledger_stream_arrives(self, sku: str) -> None:
        self.seen[sku] = self.ledgers[sku].available

    @rule(
        sku=st.sampled_from(SKUS),
        demand=st.lists(st.floats(0, 100), min_size=3, max_size=3),
        silent=st.none() | st.sets(st.sampled_from(PLATFORMS)),
    )
    def rebalance(self, sku: str, demand: list[float], silent: set[str] | None) -> None:
        by_platform = dict(zip(PLATFORMS, demand, strict=True))
        mark = self.book.next_ids()
        self.book.rebalance(sku, self.seen[sku], SHARES, by_platform, silent=silent)
        self.send(mark)

    @rule(platform=st.sampled_from(PLATFORMS), sku=st.sampled_from(SKUS), units=st.integers(1, 20))
    def grant(self, platform: str, sku: str, units: int) -> None:
        mark = self.book.next_ids()
        self.book.grant(platform, sku, units, self.seen[sku])
        self.send(mark)

    @rule(platform=st.sampled_from(PLATFORMS), sku=st.sampled_from(SKUS), units=st.integers(1, 20))
    def take_back(self, platform: str, sku: str, units: int) -> None:
        update = self.book.take_back(platform, sku, units)
        if update is not None:
            self.to_platforms.append(update)

    @rule(platform=st.sampled_from(PLATFORMS))
    def resend(self, platform: str) -> None:
        self.to_platforms += self.book.resend(platform)

    @rule(sku=st.sampled_from(SKUS), units=st.integers(1, 5))
    def reserve_first_order(self, sku: str, units: int) -> None:
        order_id = self.new_id()
        free = self.ledgers[sku].free
        decision = self.owner(Reserve("miniprogram", order_id, sku, units, NOW, asked_first=True))
        assert decision.accepted == (units <= free)
        if decision.accepted:
            self.mini_orders.append((sku, order_id))
            self.mini_taken[sku] += units

    @precondition(lambda self: self.mini_orders)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        sku, order_id = self.mini_orders.pop(data.draw(st.integers(0, len(self.mini_orders) - 1)))
        decision = self.owner(Release("miniprogram", order_id, sku))
        self.mini_taken[sku] -= decision.quantity

    @rule(sku=st.sampled_from(SKUS), units=st.integers(1, 30))
    def restock(self, sku: str, units: int) -> None:
        assert self.owner(Restock(sku, units, self.new_id())).accepted

    # platforms

    @rule(platform=st.sampled_from(PLATFORMS), sku=st.sampled_from(SKUS), units=st.integers(1, 3))
    def platform_sells(self, platform: str, sku: str, units: int) -> None:
        if self.platforms[platform].sell(sku, units):
            self.orders.append((platform, sku, units))

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def order_reaches_flashstock(self, data: st.DataObject) -> None:
        platform, sku, units = self.orders.pop(data.draw(st.integers(0, len(self.orders) - 1)))
        decision = self.owner(Reserve(platform, self.new_id(), sku, units, NOW))
        assert decision.accepted, "a platform sold a unit the pool does not have"
        self.book.record_sale(platform, sku, units)

    # the network

    @precondition(lambda self: self.to_platforms)
    @rule(data=st.data(), fate=st.sampled_from(["deliver", "duplicate", "lose"]))
    def update_travels(self, data: st.DataObject, fate: str) -> None:
        index = data.draw(st.integers(0, len(self.to_platforms) - 1))  # any one: reordering
        update = self.to_platforms[index] if fate == "duplicate" else self.to_platforms.pop(index)
        if fate != "lose":
            self.to_flashstock += self.platforms[update.platform].receive(update)

    @precondition(lambda self: self.to_flashstock)
    @rule(data=st.data(), fate=st.sampled_from(["deliver", "duplicate", "lose"]))
    def answer_travels(self, data: st.DataObject, fate: str) -> None:
        index = data.draw(st.integers(0, len(self.to_flashstock) - 1))
        answer = self.to_flashstock[index] if fate == "duplicate" else self.to_flashstock.pop(index)
        if fate == "lose":
            return
        sent = self.book.unanswered.get(answer.platform, {}).get(answer.update_id)
        if self.book.answer(answer) and sent is not None and sent.kind == TAKE:
            removed = min(max(answer.units, 0), sent.units)
            if removed:  # the units the platform confirmed removed are no longer held
                hold_id = f"take-{sent.platform}-{sent.update_id}"
                assert self.owner(Hold(sent.sku, -removed, hold_id)).accepted

    # after every step

    @invariant()
    def nothing_promised_twice(self) -> None:
        for sku, ledger in self.ledgers.items():
            outstanding = sum(self.book.outstanding(p, sku) for p in PLATFORMS)
            assert outstanding + ledger.reserved + ledger.sold <= ledger.on_hand
            assert self.book.headroom(sku, ledger.available) >= 0

    @invariant()
    def every_unit_a_platform_may_sell_is_held_at_the_owner(self) -> None:
        for sku, ledger in self.ledgers.items():
            assert ledger.held >= self.book.held_for_platforms(sku)

    @invariant()
    def no_platform_holds_more_than_it_was_granted(self) -> None:
        for platform, counters in self.platforms.items():
            for sku in SKUS:
                held_and_sold = counters.counter(sku) + counters.sold.get(sku, 0)
                assert held_and_sold <= self.book.granted.get((platform, sku), 0)

    @invariant()
    def everything_sold_is_covered(self) -> None:
        for sku, ledger in self.ledgers.items():
            sold_on_platforms = sum(c.sold.get(sku, 0) for c in self.platforms.values())
            assert sold_on_platforms + self.mini_taken[sku] <= ledger.on_hand


GrantProtocol.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
test_grant_protocol_never_oversells = GrantProtocol.TestCase
