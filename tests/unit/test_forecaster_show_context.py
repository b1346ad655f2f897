"""The forecaster takes a SKU's show context from its settings: when it went on sale (the
start of its rate's exposure) and when its show ends (the alert horizon). The case is the
reference show's substitute: 400 units, a 12 h lead time, its first order a minute in."""

from __future__ import annotations

from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_book import AlertBook
from policies.alert_lifecycle import LifecycleSettings
from policies.ledger import SkuSettings

T0 = 1_800_000_000.0  # minute 0 of a 6-hour show
SHOW_END = T0 + 360 * 60


def levels_after_first_order(settings: SkuSettings) -> list[str]:
    forecaster = Forecaster(book=AlertBook(LifecycleSettings(pending_seconds=0)), clock=lambda: T0)
    forecaster.update_skus([settings])
    forecaster.record([SaleEvent("CLASSIC", T0 + 62, 1, "douyin")], {"CLASSIC": StockSnapshot(399, 0)})
    notes = []
    for seconds in range(70, 600, 10):
        notes += forecaster.advance(T0 + seconds)
    return sorted({n.alert.level for n in notes})


def test_a_first_order_a_minute_into_the_show_raises_nothing_on_ample_stock() -> None:
    settings = SkuSettings("CLASSIC", lead_time_minutes=720, on_sale_since=T0, on_sale_until=SHOW_END)

    assert levels_after_first_order(settings) == []


def test_without_its_show_context_the_same_order_reads_as_a_reorder_signal() -> None:
    # the horizon falls back to the lead time and the exposure to the order's own bucket:
    # what the whole system did before the simulator passed the scenario's times
    assert "THRESHOLD" in levels_after_first_order(SkuSettings("CLASSIC", lead_time_minutes=720))


def test_the_show_end_alone_bounds_the_horizon_of_a_sku_that_outlasts_it() -> None:
    forecaster = Forecaster(book=AlertBook(LifecycleSettings(pending_seconds=0)), clock=lambda: T0)
    forecaster.update_skus([SkuSettings("CLASSIC", lead_time_minutes=720, on_sale_until=T0 + 3600)])
    sales = [SaleEvent("CLASSIC", T0 + 30 * n, 1, "douyin") for n in range(120)]  # 2/min
    forecaster.record(sales, {"CLASSIC": StockSnapshot(280, 0)})

    # 280 units at 2/min last 140 min: past the show's last minute, so nothing to reorder
    assert [n.alert.level for n in forecaster.advance(T0 + 3600)] == []
