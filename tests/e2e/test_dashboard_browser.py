"""The operators' dashboard in a real browser (Debian's chromium, driven by Playwright)
against the running service: the grouped alert feed and its one Ack, the silences panel,
the chart filled from history after a reload, token mode, and the API docs with no
internet. Screenshots go to ``artifacts/`` (git-ignored)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from actors.sync.store import RedisSyncStore
from tests.e2e.conftest import TOKENS, Service
from tests.support import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no chromium on this machine (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
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
        yield launched
        launched.close()


#: a SKU name in Chinese, long enough to show whether the name column wraps
HOODIE = "联名卫衣限量款"


def open_page(browser: Browser, service: Service, token: str | None = TOKENS["operator"]) -> Page:
    """A page of its own (fresh storage) on a high-DPI screen, signed in with ``token``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
    page = context.new_page()
    if token is not None:
        page.add_init_script(f"localStorage.setItem('flashstock-token', '{token}')")
    page.goto(service.url + "/")
    return page


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    return path


def open_alerts(service: Service, sku: str) -> list[dict[str, Any]]:
    return [a for a in service.get("/v1/alerts").json()["items"] if a["sku"] == sku]


def test_a_flash_sale_shows_one_row_per_sku_and_one_ack_clears_it(browser: Browser, service: Service) -> None:
    from playwright.sync_api import expect

    sku = service.new_sku(12, prefix="LIVE", name=HOODIE, critical_floor=3)
    page = open_page(browser, service)
    row = page.locator(f"#skus tr[data-sku='{sku}']")
    expect(row).to_be_visible(timeout=20_000)
    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)

    service.sell(sku, 10)

    expect(row.locator("td").nth(2)).to_have_text("2", timeout=20_000)  # available
    card = page.locator(f"#alerts li.row[data-sku='{sku}']")
    expect(card).to_have_attribute("data-level", "EMERGENCY", timeout=20_000)
    # one alert per SKU whose level moved up to EMERGENCY (docs/alerts.md)
    wait_for(
        lambda: [a["level"] for a in open_alerts(service, sku)] == ["EMERGENCY"], message="EMERGENCY open"
    )
    expect(card).to_have_count(1)  # every notification of the SKU in one row
    evidence = card.locator(".evidence").inner_text()
    assert "available" in evidence
    assert "{" not in evidence  # readable text, not JSON
    expect(card.locator(".playbook")).to_contain_text("主播")
    card.locator("details.history summary").click()
    expect(card.locator("details.history li").first).to_be_visible()
    screenshot(page, "dashboard-feed")

    # the name column stays on one line, whatever the name's script
    name_cell = row.locator("td.name")
    assert name_cell.evaluate("c => getComputedStyle(c).whiteSpace") == "nowrap"
    box = name_cell.bounding_box()
    assert box is not None
    assert box["height"] < 40

    card.locator("button.ack").click()
    expect(card).to_have_class("row EMERGENCY firing acked", timeout=10_000)
    expect(card.locator("button.ack")).to_have_count(0)
    expect(card.locator(".tag.acked")).to_have_text("acked by oliver")
    assert {a["acked_by"] for a in open_alerts(service, sku)} == {"oliver"}  # one Ack, every alert

    row.click()
    # 2 available + 10% of the 10 unpaid units expected back
    expect(page.locator("#host-line")).to_have_text("这款还能卖3单", timeout=10_000)
    screenshot(page, "dashboard-acked")
    page.context.close()


def test_a_silence_made_in_the_panel_mutes_its_sku_and_can_be_expired(
    browser: Browser, service: Service
) -> None:
    from playwright.sync_api import expect

    prefix = f"MUTE{uuid.uuid4().hex[:4]}"
    page = open_page(browser, service)
    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
    form = page.locator("#silence-form")
    form.locator("input[name=sku]").fill(f"{prefix}-*")
    form.locator("input[name=minutes]").fill("15")
    form.locator("input[name=comment]").fill("restock booked")
    form.locator("button[type=submit]").click()
    listed = page.locator("#silence-list tbody tr", has_text=f"{prefix}-*")
    expect(listed).to_have_count(1, timeout=10_000)
    expect(listed).to_contain_text("restock booked")

    sku = service.new_sku(12, prefix=prefix, name=HOODIE, critical_floor=3)
    service.sell(sku, 10)
    card = page.locator(f"#alerts li.row[data-sku='{sku}']")
    expect(card.locator(".row-head .tag.silenced")).to_be_visible(timeout=20_000)

    def notified() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = service.get(
            "/v1/alerts", params={"state": "history", "sku": sku}
        ).json()["items"]
        return items

    wait_for(lambda: bool(notified()), message="the muted SKU's notifications")
    assert all(item["silenced"] for item in notified())  # stored and streamed, marked muted
    screenshot(page, "dashboard-silenced")

    listed.locator("button.expire").click()
    expect(listed).to_have_count(0, timeout=10_000)
    silences = service.get("/v1/silences", role="operator").json()
    assert not [s for s in silences if s["sku"] == f"{prefix}-*"]
    expect(card.locator(".row-head .tag.silenced")).to_have_count(0, timeout=10_000)
    page.context.close()


def test_the_chart_has_history_and_markers_after_a_reload(browser: Browser, service: Service) -> None:
    from playwright.sync_api import expect

    sku = service.new_sku(40, prefix="CHART", name="围巾", critical_floor=3)
    service.sell(sku, 37)
    sync = RedisSyncStore(service.config)  # what the channel sync publishes
    try:
        sync.publish([("douyin", sku, 2), ("taobao", sku, 1)])
    finally:
        sync.close()
    wait_for(lambda: bool(open_alerts(service, sku)), message="an alert to mark")
    page = open_page(browser, service)
    page.locator(f"#skus tr[data-sku='{sku}']").click()
    chart = page.locator("#chart")
    expect(chart.locator("canvas")).to_be_visible(timeout=20_000)
    wait_for(lambda: int(chart.get_attribute("data-markers") or 0) >= 1, message="alert markers")

    page.reload()
    page.locator(f"#skus tr[data-sku='{sku}']").click()
    expect(page.locator("#selected")).to_have_text(sku, timeout=20_000)
    wait_for(lambda: int(chart.get_attribute("data-points") or 0) >= 2, message="history points")
    assert int(chart.get_attribute("data-markers") or 0) >= 1
    expect(page.locator("#channels tr[data-channel='douyin']")).to_contain_text("2")
    expect(chart.locator(".u-legend")).to_contain_text("available")
    expect(chart.locator(".u-legend")).to_contain_text("ordered")
    # uPlot draws at devicePixelRatio: the canvas has twice the CSS pixels here
    canvas = chart.locator("canvas")
    width = canvas.evaluate("c => c.width")
    box = canvas.bounding_box()
    assert box is not None
    assert width == pytest.approx(2 * box["width"], abs=2)
    screenshot(page, "dashboard-chart")
    page.context.close()


def test_token_mode_says_required_then_refused_and_signs_in(browser: Browser, service: Service) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, service, token=None)
    banner = page.locator("#auth")
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text("Token required")
    screenshot(page, "dashboard-token-required")

    page.locator("#auth-token").fill("not-a-token")
    page.locator("#auth-form button").click()
    expect(banner).to_contain_text("Token refused", timeout=10_000)
    screenshot(page, "dashboard-token-refused")

    page.locator("#auth-token").fill(TOKENS["viewer"])
    page.locator("#auth-form button").click()
    expect(banner).to_be_hidden(timeout=10_000)
    expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
    page.context.close()


def test_api_docs_render_with_no_internet(browser: Browser, service: Service) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    outside: list[str] = []

    def only_the_service(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_service)
    page = context.new_page()
    page.goto(service.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("flashstock", timeout=20_000)
    screenshot(page, "api-docs-swagger", full_page=False)
    page.goto(service.url + "/redoc")
    expect(page.locator("h1", has_text="flashstock")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("/v1/skus/{sku}/history").first).to_be_attached()
    screenshot(page, "api-docs-redoc", full_page=False)
    page.goto(service.url + "/")
    assert outside == []
    context.close()
