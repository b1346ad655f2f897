"""``flashstock simulate --target http://...``: a show through a running service's signed
platform webhooks, SKU and restock routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.cli import main
from scripts.sim.driver import ShowRun
from scripts.sim.http_target import HttpTarget
from scripts.sim.report import build_report
from scripts.sim.scenario import parse_scenario
from scripts.sim.target import SimulationError
from tests.e2e.conftest import TOKENS, WEBHOOK_SECRET, Service
from tests.support import fresh_namespace

SHOW = {
    "name": "over-http",
    "duration_minutes": 6,
    "seed": 8,
    "skus": [{"sku": "CAP", "name": "棒球帽", "on_hand": 40, "lead_time_minutes": 30}],
    "channels": {"douyin": 1.0},
    "demand": [{"sku": "CAP", "from_minute": 0, "to_minute": 6, "orders_per_minute": 12}],
    "payment": {"pay_ratio": 0.8, "pay_delay_minutes": [0.2, 1]},
    "events": [{"at_minute": 2, "restock": {"sku": "CAP", "quantity": 10, "arrives_after_minutes": 1}}],
}


def test_a_show_over_http_is_decided_durably_without_overselling(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASHSTOCK_WEBHOOK_SECRET_DOUYIN", WEBHOOK_SECRET)
    scenario = parse_scenario(SHOW)
    prefix = f"{fresh_namespace()}-"
    target = HttpTarget(service.url, ["douyin"], token=TOKENS["admin"])
    try:
        log = ShowRun(scenario, target, speed=0, prefix=prefix).run()
    finally:
        target.close()
    report = build_report(scenario, log, {"target": service.url, "speed": 0})

    assert report["oversold_total"] == 0
    assert report["orders"]["accepted"] == report["orders"]["taken_by_platforms"] == 50  # 40 + 10
    assert report["notices"]["payment accepted"] > 0
    cap = service.get(f"/v1/skus/{prefix}CAP").json()
    assert (cap["on_hand"], cap["reserved"] + cap["sold"]) == (50, 50)
    assert report["ledger"]["CAP"]["available"] == 0
    assert report["stockout_minute"]["CAP"] is not None
    assert report["decision_latency_ms"]["p50"] > 0


def test_an_http_target_needs_the_channels_webhook_secret(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASHSTOCK_WEBHOOK_SECRET_TAOBAO", raising=False)
    with pytest.raises(SimulationError, match="FLASHSTOCK_WEBHOOK_SECRET_TAOBAO"):
        HttpTarget(service.url, ["taobao"], token=TOKENS["admin"])


def test_the_simulate_command_over_http_works_in_its_own_namespace_and_leaves_no_skus(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("FLASHSTOCK_WEBHOOK_SECRET_DOUYIN", WEBHOOK_SECRET)
    scenario = tmp_path / "over-http.json"
    scenario.write_text(json.dumps(SHOW))

    status = main(
        [
            "simulate",
            str(scenario),
            "--target",
            service.url,
            "--token",
            TOKENS["admin"],
            "--speed",
            "0",
            "--out",
            str(tmp_path / "out"),
        ]
    )

    assert status == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    catalogue = report["catalogue"]
    assert catalogue["prefix"] == f"sim{report['run_id']}-"
    assert sorted(catalogue["removed"] + catalogue["kept"]) == [f"{catalogue['prefix']}CAP"]
    for sku in catalogue["removed"]:
        assert service.get(f"/v1/skus/{sku}").status_code == 404
    for sku in catalogue["kept"]:  # a service without DELETE /v1/skus/{sku}: kept, and said so
        assert service.get(f"/v1/skus/{sku}").status_code == 200
    out, err = capsys.readouterr()
    assert "catalogue: " in out
    assert "alert latency ms p50/p99: n/a/n/a" in out  # the service's forecaster is on its own clock
    assert "\r" not in err  # not a terminal: progress lines, not a bar's redraws
    assert (tmp_path / "out" / "report.html").exists()
