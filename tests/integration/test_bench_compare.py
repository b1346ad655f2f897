"""``flashstock bench`` (the side-by-side comparison) at a tiny size, on real Redis, Ray
and SQLite (PostgreSQL too when one is reachable): every contender decides every order
of the same workload, none oversells, and all of them agree SKU by SKU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import redis

from actors.infra.redis_server import RedisServer
from scripts.bench import compare as bench_compare
from scripts.bench import core as bench_core
from scripts.bench.compare import Comparison, compare, make_workload, run_row_lock
from scripts.bench.lua_consumer import SAME_WORK_LUA, remaining_stock, stock_key
from scripts.bench.rowlock import choose_database
from scripts.bench.targets import END_TO_END, add_verdicts
from scripts.cli import build_parser
from tests.support import fresh_namespace

ORDERS, SKUS = 2000, 20


@pytest.fixture(scope="module")
def comparison(
    ray_cluster: None, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Comparison:
    return compare(
        redis_server.url, tmp_path_factory.mktemp("bench"), orders=ORDERS, skus=SKUS, database="sqlite"
    )


def test_every_contender_decides_every_order_and_none_oversells(comparison: Comparison) -> None:
    assert set(comparison.outcomes) == {"flashstock", "classic_lua", "same_work_lua", "row_lock_db"}
    for name, outcome in comparison.outcomes.items():
        assert outcome.decided == ORDERS, name
        assert outcome.oversold_units(comparison.workload) == 0, name
        assert outcome.stock_mismatches(comparison.workload) == [], name
        assert len(outcome.latencies_ms) == ORDERS, name
    assert not comparison.failed()


def test_contenders_accept_min_of_demand_and_stock_for_every_sku(comparison: Comparison) -> None:
    workload = comparison.workload
    expected = workload.expected_accepted()
    # the check means something: the hottest SKU sells out, most orders are accepted
    assert expected["SKU-0000"] == workload.stock < workload.draws.count("SKU-0000")
    assert sum(expected.values()) > ORDERS * 0.6
    for name, outcome in comparison.outcomes.items():
        assert outcome.accepted_by_sku == expected, name


def test_json_result_names_machine_workload_durability_and_each_contender(
    comparison: Comparison,
) -> None:
    result = json.loads(json.dumps(comparison.to_json()))
    assert set(result["machine"]) == {"arch", "cores", "python"}
    assert result["workload"]["orders"] == ORDERS
    assert result["workload"]["skus"] == SKUS
    assert result["database"].startswith("SQLite")
    assert set(result["durability"]) == {"redis", "database"}
    assert set(result["ratios"]) == {
        "flashstock_vs_classic_lua",
        "flashstock_vs_same_work_lua",
        "flashstock_vs_row_lock_db",
    }
    assert result["oversold_units"] == 0
    for contender in result["contenders"].values():
        assert {
            "how",
            "orders_per_s",
            "latency_ms_p50",
            "latency_ms_p99",
            "oversold_units",
            "decided",
            "accepted_units",
            "latency",
        } <= set(contender)
        assert contender["orders_per_s"] > 0
        assert contender["latency_ms_p50"] <= contender["latency_ms_p99"]
    # CPU per order for the contenders on Redis: the machine's, and Redis' share (a tiny
    # run on a shared machine: only that each was measured, not how they compare)
    for name in ("flashstock", "classic_lua", "same_work_lua"):
        contender = result["contenders"][name]
        assert contender["redis_cpu_us_per_order"] > 0, name
        assert contender["cpu_us_per_order"] > 0, name
    # where flashstock's went: its ingest actors' and its owners' own processes
    flashstock = result["contenders"]["flashstock"]
    assert flashstock["ingest_cpu_us_per_order"] > 0
    assert flashstock["owners_cpu_us_per_order"] > 0
    # and Redis' time by command: the ingest's reads and the owners' commit scripts are in it
    by_command = flashstock["redis_us_per_order_by_command"]
    assert by_command["xreadgroup"] > 0
    assert by_command["evalsha"] > 0
    assert list(by_command.values()) == sorted(by_command.values(), reverse=True)
    same_work = result["contenders"]["same_work_lua"]
    assert same_work["consumer_cpu_us_per_order"] > 0
    assert 0 <= same_work["inbox_to_decision_ms_p50"] <= same_work["inbox_to_decision_ms_p99"]


def test_the_comparison_is_judged_against_the_end_to_end_targets(comparison: Comparison) -> None:
    result = comparison.to_json()
    classic, same_work = add_verdicts(END_TO_END, result)
    assert classic.measured == result["ratios"]["flashstock_vs_classic_lua"]
    assert same_work.measured == result["ratios"]["flashstock_vs_same_work_lua"]
    for verdict in (classic, same_work):
        assert verdict.measured is not None
        assert verdict.met is (verdict.measured >= verdict.target.bound)
        assert verdict.note == f"defined on 300,000 orders over 1,000 SKUs; this run: {ORDERS:,} over {SKUS}"
    assert json.loads(json.dumps(result))["targets"][0]["what"] == classic.target.what


def test_the_same_work_consumer_answers_a_redelivered_order_with_its_first_decision(
    redis_server: RedisServer,
) -> None:
    """The contender does what an honest consumer must: its Lua call is idempotent per
    channel and order id, and a multi-line order takes all its lines or none."""
    client = redis.Redis.from_url(redis_server.url)
    sha = client.script_load(SAME_WORK_LUA)
    prefix = f"sw{fresh_namespace()}"
    client.hset(stock_key(prefix, "A"), "available", 3)
    client.hset(stock_key(prefix, "B"), "available", 1)

    def order(order_id: str, *lines: tuple[str, int]) -> int:
        keys = [
            f"{prefix}:order:douyin:{order_id}",
            f"{prefix}:ledger",
            *(stock_key(prefix, s) for s, _ in lines),
        ]
        return int(client.evalsha(sha, len(keys), *keys, order_id, *(q for _, q in lines)))

    assert order("o1", ("A", 2), ("B", 2)) == 0  # B lacks a unit: nothing taken
    assert remaining_stock(client, prefix, ["A", "B"]) == {"A": 3, "B": 1}
    assert order("o2", ("A", 2), ("B", 1)) == 1
    assert order("o2", ("A", 2), ("B", 1)) == 2  # redelivered: decided once
    assert order("o1", ("A", 1)) == 2  # a rejected order stays rejected
    assert order("o3", ("A", 1), ("A", 1)) == 0  # two lines of one SKU are checked together
    assert remaining_stock(client, prefix, ["A", "B"]) == {"A": 1, "B": 0}
    assert client.xlen(f"{prefix}:ledger") == 3
    client.close()


def test_an_oversold_contender_fails_the_comparison(comparison: Comparison) -> None:
    honest = comparison.outcomes["classic_lua"]
    greedy = dataclasses.replace(
        honest, accepted_by_sku={**honest.accepted_by_sku, "SKU-0000": comparison.workload.stock + 1}
    )
    bad = dataclasses.replace(comparison, outcomes={**comparison.outcomes, "classic_lua": greedy})
    assert greedy.oversold_units(comparison.workload) == 1
    assert bad.failed()
    assert bad.to_json()["oversold_units"] == 1


def test_row_lock_on_postgresql_agrees_when_a_server_is_reachable(tmp_path: Path) -> None:
    database = choose_database("auto", tmp_path)
    if database.kind != "postgres":
        pytest.skip("no PostgreSQL reachable (or psycopg not installed: the bench extra)")
    workload = make_workload(ORDERS, SKUS, seed=5)
    outcome = run_row_lock(database, workload, writers=4)
    assert outcome.decided == ORDERS
    assert outcome.oversold_units(workload) == 0
    assert outcome.accepted_by_sku == workload.expected_accepted()


def test_bench_without_a_suite_runs_the_comparison_and_suites_still_parse() -> None:
    plain = build_parser().parse_args(["bench", "--orders", "5000", "--database", "sqlite"])
    assert (plain.suite, plain.run, plain.orders, plain.database) == (None, bench_compare.run, 5000, "sqlite")
    core = build_parser().parse_args(["bench", "core", "--orders", "7"])
    assert (core.suite, core.run, core.orders) == ("core", bench_core.run, 7)
