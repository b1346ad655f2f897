"""The benches' verdicts on the speed targets (``scripts.bench.targets``): met or missed,
by how much, and "not judged" when a run did not reach the target's condition."""

from __future__ import annotations

from typing import Any

from scripts.bench.targets import (
    ALERTS,
    END_TO_END,
    HTTP,
    INGEST,
    OWNER,
    Judged,
    Target,
    add_verdicts,
    judge,
)


def _ingest(offered: int, p99: int, drain: int = 61_000) -> dict[str, Any]:
    return {"drain_orders_per_s": drain, "steady_offered_per_s": offered, "latency_ms_p99": p99}


def test_a_floor_missed_says_the_share_reached_and_the_factor_still_needed() -> None:
    floor = Target("drain", 100_000, True, "lines/s", lambda r: Judged(r["x"]))
    (verdict,) = judge([floor], {"x": 80_000.0})
    assert verdict.met is False
    assert (
        verdict.text() == "drain: 80,000 lines/s, target >= 100,000 lines/s: MISSED, 80% of it (needs 1.25x)"
    )
    (verdict,) = judge([floor], {"x": 0.0})
    assert verdict.text() == "drain: 0 lines/s, target >= 100,000 lines/s: MISSED, none of it"
    (verdict,) = judge([floor], {"x": 100_000.0})
    assert verdict.met is True
    assert verdict.text().endswith(": met")


def test_a_ceiling_missed_says_by_how_much() -> None:
    (drain, p99) = judge(INGEST, _ingest(offered=20_000, p99=185))
    assert drain.met is False
    assert drain.measured == 61_000
    assert p99.met is False
    assert p99.text().endswith(": 185.0 ms, target <= 100.0 ms: MISSED by 85.0 ms (1.85x the bound)")
    (_, p99) = judge(INGEST, _ingest(offered=19_500, p99=100))
    assert p99.met is True  # 97.5% of the rate counts as the rate reached, and 100 ms is within


def test_a_latency_at_a_rate_the_run_did_not_reach_is_not_judged() -> None:
    (_, p99) = judge(INGEST, _ingest(offered=14_669, p99=40))
    assert p99.met is None  # a low p99 at a lower rate proves nothing about the target
    assert p99.measured == 40
    assert "not judged (the load generator offered 14,669 orders/s of the 20,000" in p99.text()
    (alert,) = judge(ALERTS, {"latency": {"decided_orders_per_s": 9_000, "latency_ms_p99": 120}})
    assert alert.met is None
    (alert,) = judge(ALERTS, {"latency": {"decided_orders_per_s": 19_800, "latency_ms_p99": 120}})
    assert alert.met is True


def test_end_to_end_ratios_are_judged_with_the_workload_difference_said() -> None:
    results: dict[str, Any] = {
        "workload": {"orders": 300_000, "skus": 1_000},
        "ratios": {"flashstock_vs_classic_lua": 1.2, "flashstock_vs_same_work_lua": 2.1},
    }
    classic, same_work = add_verdicts(END_TO_END, results)
    assert (classic.met, same_work.met) == (False, True)
    assert classic.note == same_work.note == ""
    assert [t["met"] for t in results["targets"]] == [False, True]  # kept for the JSON
    results["workload"] = {"orders": 2_000, "skus": 20}
    classic, _ = judge(END_TO_END, results)
    assert classic.met is False
    assert classic.text().endswith("[defined on 300,000 orders over 1,000 SKUs; this run: 2,000 over 20]")


def test_owner_targets_read_the_1000_line_cases_of_each_sku_count() -> None:
    cases = [
        {"skus": 1, "batch": 1, "decisions_per_s": 9_000},
        {"skus": 1, "batch": 1000, "decisions_per_s": 139_154},
        {"skus": 1000, "batch": 1000, "decisions_per_s": 205_000},
    ]
    one, many = judge(OWNER, {"cases": cases})
    assert (one.measured, one.met) == (139_154, False)
    assert (many.measured, many.met) == (205_000, True)
    (one, many) = judge(OWNER, {"cases": cases[:1]})
    assert one.met is None
    assert "no case of 1 SKU(s) at 1,000-line batches" in one.text()


def test_http_targets_need_the_200_rate_run_and_say_another_batch() -> None:
    post = {"batch": 1000, "lines_per_s": 37_500}
    gets = [{"asked_per_s": 100, "achieved_per_s": 100, "ms_p99": 4.0}]
    get, posted = judge(HTTP, {"get": gets, "post": post})
    assert get.met is None
    assert "no run at 200 req/s" in get.text()
    assert posted.met is False
    assert "75% of it" in posted.text()
    gets.append({"asked_per_s": 200, "achieved_per_s": 170, "ms_p99": 30.0})
    get, _ = judge(HTTP, {"get": gets, "post": post | {"batch": 100}})
    assert get.met is None
    assert "170 req/s kept of the 200 asked" in get.text()
    gets[-1] = {"asked_per_s": 200, "achieved_per_s": 200, "ms_p99": 8.2}
    get, posted = judge(HTTP, {"get": gets, "post": post | {"batch": 100}})
    assert get.met is True
    assert "defined on 1,000 orders per request; this run: 100" in posted.text()
