"""The operators' dashboard in a real browser (Debian's chromium, driven by Playwright):
the table and the alert feed update as orders arrive, and Ack works."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import TOKENS, Service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no chromium on this machine (apt-get install chromium; .ci/run installs it)",
)


def test_dashboard_shows_orders_and_alerts_live_and_acks(service: Service) -> None:
    from playwright.sync_api import expect, sync_playwright

    sku = f"LIVE-{uuid.uuid4().hex[:6]}"
    assert (
        service.put(f"/v1/skus/{sku}", {"on_hand": 12, "name": "直播款", "critical_floor": 3}).status_code
        == 200
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(f"localStorage.setItem('flashstock-token', '{TOKENS['operator']}')")
            page.goto(service.url + "/")
            row = page.locator(f"tr[data-sku='{sku}']")
            expect(row).to_be_visible(timeout=20_000)
            expect(page.locator("#connection")).to_have_text("SSE: live", timeout=20_000)

            body = {
                "orders": [
                    {
                        "channel": "douyin",
                        "order_id": f"b{n}",
                        "placed_at": time.time(),
                        "lines": [{"sku": sku, "quantity": 1}],
                    }
                    for n in range(10)
                ]
            }
            assert service.post("/v1/orders", body, role="ingest").status_code == 200

            expect(row.locator("td").nth(2)).to_have_text("2", timeout=20_000)  # available
            alert = page.locator(f"#alerts li.EMERGENCY:has-text('{sku}')").first
            expect(alert).to_be_visible(timeout=20_000)
            alert.locator("button.ack").click()
            expect(alert.locator("button.ack")).to_have_text("acked by oliver", timeout=10_000)
            row.click()
            # 2 available + 10% of the 10 unpaid units expected back
            expect(page.locator("#host-line")).to_have_text("这款还能卖3单", timeout=10_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    acked = [
        a for a in service.get("/v1/alerts").json()["items"] if a["sku"] == sku and a["level"] == "EMERGENCY"
    ]
    assert acked[0]["acked_by"] == "oliver"
