"""``report.html`` in a real browser (Debian's chromium, driven by Playwright): it draws
every marker of its timeline without fetching anything, zooms to an alert clicked in the
list beside the charts, and back to the whole show on a double-click."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.sim.report import build_report, write_report
from tests.unit.test_sim_timeline import SHOW, a_show_log

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no chromium on this machine (apt-get install chromium; .ci/run installs it)",
)


def test_the_report_page_draws_its_markers_offline_and_zooms_to_a_clicked_alert(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # one-second steps: a click on an alert zooms to a twelfth of the three-minute show
    report = build_report(SHOW, a_show_log(), {"target": "inproc", "speed": 0, "step_seconds": 1.0})
    write_report(report, tmp_path)
    hot = [m for m in report["timeline"]["markers"] if m["sku"] == "HOT"]
    near_the_emergency = [m for m in hot if abs(m["minute"] - 2.0) <= 0.125]
    assert 0 < len(near_the_emergency) < len(hot)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console", lambda message: problems.append(message.text) if message.type == "error" else None
            )
            page.on("request", lambda r: None if r.url.startswith("file:") else problems.append(r.url))
            page.goto((tmp_path / "report.html").as_uri())

            panels = page.locator(".panel")
            expect(panels).to_have_count(2)
            assert panels.nth(0).get_attribute("data-sku") == "HOT"  # the SKU that alerted on top
            hot_markers = page.locator(".panel[data-sku='HOT'] line.marker")
            expect(hot_markers).to_have_count(len(hot))
            rows = page.locator("tr.alert-row")
            expect(rows).to_have_count(len(report["alerts"]))

            rows.filter(has_text="EMERGENCY").click()
            expect(hot_markers).to_have_count(len(near_the_emergency))
            chosen = page.locator(".panel[data-sku='HOT'] line.marker[data-kind='alert'][stroke-width='3']")
            expect(chosen).to_have_count(1)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-html-zoomed.png"), full_page=True)

            page.locator(".panel[data-sku='HOT'] svg").dblclick()
            expect(hot_markers).to_have_count(len(hot))
        finally:
            browser.close()
    assert problems == []
