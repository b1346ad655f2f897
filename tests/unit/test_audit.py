"""The load audit finds each broken promise it is there to find."""

from __future__ import annotations

from policies.ledger import Ledger, LineRecord
from scripts.chaos.audit import AuditResult, PublishedDecision, SentOrder, audit_grants, audit_orders

SENT = [
    SentOrder("douyin", "o1", "A", 2),
    SentOrder("douyin", "o2", "A", 1),
    SentOrder("taobao", "o3", "A", 5),
]
FIELD = "\x1f"


def run(
    published: list[PublishedDecision],
    records: dict[str, dict[str, LineRecord]],
    ledger: Ledger,
    on_hand: int = 4,
) -> AuditResult:
    return audit_orders(SENT, published, records, {"A": ledger}, {"A": on_hand})


def healthy() -> tuple[list[PublishedDecision], dict[str, dict[str, LineRecord]]]:
    published = [
        PublishedDecision("douyin", "o1", True),
        PublishedDecision("douyin", "o2", True),
        PublishedDecision("taobao", "o3", False),
        PublishedDecision("douyin", "o1", True),
    ]  # a redelivery, same answer
    records = {
        "A": {
            f"douyin{FIELD}o1": LineRecord("sold", 2),
            f"douyin{FIELD}o2": LineRecord("reserved", 1),
            f"taobao{FIELD}o3": LineRecord("rejected", 5),
        }
    }
    return published, records


def test_a_clean_run_has_no_violations() -> None:
    published, records = healthy()
    result = run(published, records, Ledger("A", 4, 1, 2))
    assert (result.violations, result.orders_sent, result.decisions_found) == (0, 3, 3)


def test_a_missing_decision_and_a_conflicting_redelivery_are_found() -> None:
    published, records = healthy()
    published = [p for p in published if p.order_id != "o2"] + [PublishedDecision("douyin", "o1", False)]
    result = run(published, records, Ledger("A", 4, 1, 2))
    assert result.missing == ["douyin/o2"]
    assert result.conflicting == ["douyin/o1"]


def test_units_deducted_without_a_line_or_twice_are_found() -> None:
    published, records = healthy()
    result = run(published, records, Ledger("A", 4, 2, 2))  # one reserved unit no line explains
    assert result.double_counted_units == {"A": 1}
    del records["A"][f"douyin{FIELD}o2"]
    assert run(published, records, Ledger("A", 4, 0, 2)).records_missing == ["douyin/o2"]


def test_oversell_and_on_hand_drift_are_found() -> None:
    published, records = healthy()
    records["A"][f"taobao{FIELD}o3"] = LineRecord("reserved", 5)
    result = run(published, records, Ledger("A", 5, 6, 2))
    assert result.oversold_units == {"A": 3}
    assert result.on_hand_drift == {"A": 1}


def test_grants_beyond_the_pool_are_found_and_sold_units_leave_the_grant() -> None:
    _, records = healthy()  # douyin's lines consumed 3 units of its grant
    ledger = Ledger("A", 4, 1, 2)  # 1 unit available
    book = {"platforms": ["douyin", "taobao"], "granted": [["douyin", "A", 4], ["taobao", "A", 1]]}
    assert audit_grants(book, records, {"A": ledger}) == {"A": 1}  # 1 + 1 held, 1 available
    covered = {**book, "granted": [["douyin", "A", 4]]}
    assert audit_grants(covered, records, {"A": ledger}) == {}
    assert audit_grants(None, records, {"A": ledger}) == {}
