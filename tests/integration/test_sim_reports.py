"""The shipped scenarios, run through the real system and rendered: ``report.png`` and
``report.html`` exist and carry the markers of the timeline they were drawn from (the
chart's artists and the page's embedded data, not pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.infra.redis_server import RedisServer
from actors.infra.settings import StoreConfig
from scripts.sim.command import load_scenario, step_seconds_for
from scripts.sim.driver import ShowRun
from scripts.sim.inproc_target import InProcessTarget
from scripts.sim.report import build_report, write_report
from scripts.sim.report_html import embedded_report
from scripts.sim.report_png import build_figure, marker_gid
from tests.support import fresh_namespace

pytestmark = pytest.mark.usefixtures("ray_cluster")

SCENARIOS = Path(__file__).parents[2] / "scenarios"
SHIPPED = sorted(path.stem for path in SCENARIOS.glob("*.yaml"))


@pytest.fixture(scope="module", params=SHIPPED)
def rendered(
    request: pytest.FixtureRequest, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    scenario = load_scenario(SCENARIOS / f"{request.param}.yaml")
    step = step_seconds_for(scenario.duration_minutes)
    target = InProcessTarget(
        StoreConfig(redis_server.url, namespace=fresh_namespace(), shard_count=2), sorted(scenario.channels)
    )
    try:
        log = ShowRun(scenario, target, speed=0, step_seconds=step).run()
    finally:
        target.close()
    report = build_report(scenario, log, {"target": "inproc", "speed": 0, "step_seconds": step})
    out = tmp_path_factory.mktemp(request.param)
    write_report(report, out)
    return report, out


def kinds(report: dict[str, Any], sku: str) -> set[str]:
    return {m["kind"] for m in report["timeline"]["markers"] if m["sku"] == sku}


def test_the_png_and_the_html_carry_every_marker_of_the_timeline(
    rendered: tuple[dict[str, Any], Path],
) -> None:
    import matplotlib.pyplot as plt

    report, out = rendered
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = embedded_report((out / "report.html").read_text(encoding="utf-8"))
    assert page["timeline"] == report["timeline"]
    assert page["alerts"] == report["alerts"]
    figure = build_figure(report)
    try:
        gids = {artist.get_gid() for artist in figure.findobj() if artist.get_gid()}
    finally:
        plt.close(figure)
    assert {marker_gid(m) for m in report["timeline"]["markers"]} <= gids
    for sku in report["timeline"]["skus"]:
        assert sku["minutes"][0] == 0.0
        assert len(sku["minutes"]) == len(sku["available"]) == len(sku["rate"]) == len(sku["velocity"])


def test_each_shipped_show_marks_what_happened_in_it(rendered: tuple[dict[str, Any], Path]) -> None:
    report, _ = rendered
    timeline = report["timeline"]
    markers = timeline["markers"]
    order = [s["sku"] for s in timeline["skus"]]
    name = report["scenario"]
    if name == "reference-double11":
        assert set(order) == {"HOODIE-COLLAB", "HOODIE-CLASSIC"}
        assert kinds(report, "HOODIE-COLLAB") == {"alert", "restock", "arrival", "demand", "stockout"}
        # the substitute never sells out; the SKUs that alerted come first, in that order
        assert kinds(report, "HOODIE-CLASSIC") <= {"alert"}
        first_alert = {m["sku"]: m["minute"] for m in reversed(markers) if m["kind"] == "alert"}
        assert order == sorted(order, key=lambda sku: first_alert.get(sku, float("inf")))
        assert [m["minute"] for m in markers if m["kind"] == "demand"] == [180]  # the guest joins
        assert [m["label"] for m in markers if m["kind"] == "restock"] == ["+200 transfer (TREND)"]
    elif name == "link-is-up-spike":
        (case,) = timeline["skus"]
        assert {"demand", "stockout"} <= kinds(report, "PHONE-CASE")
        assert (case["available"][0], min(case["available"])) == (1000, 0)  # not one flat line
        assert timeline["step_seconds"] == 1.0
        assert max(case["rate"]) > 1000  # the burst, in units per minute
        assert max(case["rate"]) > 10 * max(case["velocity"])  # what the 5-minute average hides
    elif name == "steady-show":
        assert not [m for m in markers if m["kind"] == "alert" and m["level"] == "TREND"]
    elif name.startswith("spike-"):  # the grant protocol's spikes over lagging platforms
        assert report["oversold_total"] == 0
        assert timeline["step_seconds"] <= 2.0  # a 3-minute show is not drawn in 10 s steps
        for sku in timeline["skus"]:
            assert max(sku["rate"]) > 0
            assert sku["available"][0] > min(sku["available"])  # it sold, visibly
    else:
        assert name == "multi-sku-substitutes"
        assert {m["sku"] for m in markers if m["kind"] == "cancel_wave"} == set(order)
        assert [(m["sku"], m["minute"]) for m in markers if m["kind"] == "demand"] == [("LIPSTICK-ROSE", 30)]
        first_alert = {m["sku"]: m["minute"] for m in reversed(markers) if m["kind"] == "alert"}
        sold_out = {m["sku"] for m in markers if m["kind"] == "stockout"}
        assert sold_out == {"LIPSTICK-RED"}
        assert sold_out <= set(first_alert)  # alerted before it sold out
        # the SKUs that alerted first, in the order they did; the quiet ones after
        assert order == sorted(order, key=lambda sku: first_alert.get(sku, float("inf")))
