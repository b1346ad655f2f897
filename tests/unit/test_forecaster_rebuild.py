"""A restarted forecaster (actors/alerts/rebuild.py, Forecaster.rebuild): its windows come
back from the ledger stream's line records, and open alerts are settled against the
current stock before anything else is evaluated. And CHANNEL_STALLED, which needs the
forecaster's per-channel view: a silent platform is stalled only while its SKUs have stock."""

from __future__ import annotations

from actors.alerts.forecaster import Forecaster
from actors.alerts.hub import AlertHub
from actors.alerts.rebuild import sales_of
from actors.alerts.store import MemoryAlertStore
from actors.infra.codec import LedgerEntry
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.alert_book import AlertBook
from policies.alert_lifecycle import Alert, Kind, LifecycleSettings, Status
from policies.alert_rules import Level
from policies.ledger import LineRecord, LineStatus, SkuSettings
from policies.operations import FIELD_SEPARATOR

T0 = 1_762_862_400.0


def line(order: str, status: str, quantity: int, placed_at: float) -> tuple[str, str, LineRecord]:
    return ("A", f"douyin{FIELD_SEPARATOR}{order}", LineRecord(status, quantity, "", placed_at, 0.0))


def entry(*lines: tuple[str, str, LineRecord]) -> LedgerEntry:
    return LedgerEntry("1-0", 1, (), lines)


def test_reservations_count_once_releases_take_back_and_restocks_are_not_sales() -> None:
    entries = [
        entry(line("o1", LineStatus.RESERVED, 2, T0), line("o2", LineStatus.RESERVED, 1, T0 + 5)),
        entry(line("o1", LineStatus.SOLD, 2, T0)),  # the payment of o1: already counted
        entry(line("o2", LineStatus.RELEASED, 1, T0 + 5)),  # o2 unpaid: back to stock
        entry(("A", "restock-7", LineRecord(LineStatus.APPLIED, 100))),
        entry(line("o3", LineStatus.SOLD, 1, T0 + 9)),  # a platform-first sale
    ]
    assert sales_of(entries) == [
        SaleEvent("A", T0, 2, "douyin"),
        SaleEvent("A", T0 + 5, 1, "douyin"),
        SaleEvent("A", T0 + 5, -1, "douyin"),
        SaleEvent("A", T0 + 9, 1, "douyin"),
    ]


def stale_emergency() -> Alert:
    return Alert(
        "A-1", "A", Level.EMERGENCY, "", Status.FIRING, T0 - 600, T0 - 600, T0 - 600, T0 - 60, T0 - 60,
        None, None, None, "0 available", {"available": 0}, "", "最后0件", None,
    )  # fmt: skip


def test_a_restart_settles_an_alert_the_current_stock_contradicts_at_once() -> None:
    store = MemoryAlertStore()
    store.save_alert(stale_emergency())
    hub = AlertHub(store, settings=LifecycleSettings(), clock=lambda: T0)
    forecaster = Forecaster(book=hub, clock=lambda: T0)
    forecaster.update_skus([SkuSettings("A", lead_time_minutes=60)])
    # the reservations had expired: 1,500 units are back; 30 minutes of 2 sales a minute
    sales = [SaleEvent("A", T0 - 1800 + 30 * n, 1, "douyin") for n in range(60)]

    notes = forecaster.rebuild(sales, {"A": StockSnapshot(1500, 0)}, T0)

    assert [(n.kind, n.alert.evidence["available"]) for n in notes] == [(Kind.RESOLVED, 1500)]
    assert hub.open_alerts() == []
    view = forecaster.view("A")
    assert 1.5 <= view["velocity_per_min"] <= 2.5  # the windows are back, not empty
    assert "最后" not in view["chat_hint"]


def channel_show(douyin_skus: tuple[str, ...], x_left: int) -> list[str]:
    """Ten minutes: douyin sells ``douyin_skus`` for five, then goes quiet; taobao sells Y
    throughout. Returns the channels CHANNEL_STALLED fired for."""
    forecaster = Forecaster(book=AlertBook(LifecycleSettings(pending_seconds=0)), clock=lambda: T0)
    forecaster.update_skus([SkuSettings("X"), SkuSettings("Y")])
    fired = []
    for second in range(0, 600, 10):
        at = T0 + second
        sales = [SaleEvent("Y", at, 1, "taobao"), SaleEvent("Y", at + 5, 1, "taobao")]
        if second < 300:
            sales += [SaleEvent(sku, at, 1, "douyin") for sku in douyin_skus]
        stock = {"X": StockSnapshot(x_left if second >= 300 else 50, 0), "Y": StockSnapshot(500, 0)}
        forecaster.record(sales, stock)
        fired += [n.alert.channel for n in forecaster.advance(at) if n.alert.level == Level.CHANNEL_STALLED]
    return fired


def test_a_platform_whose_skus_sold_out_is_not_stalled() -> None:
    assert channel_show(("X",), x_left=0) == []


def test_a_platform_silent_while_its_skus_have_stock_is_stalled() -> None:
    assert channel_show(("X",), x_left=40) == []  # nobody else sells X: no evidence of a broken feed
    assert channel_show(("Y",), x_left=40) == ["douyin"]


def test_a_removed_sku_resolves_its_alerts_at_once_and_is_forgotten() -> None:
    store = MemoryAlertStore()
    store.save_alert(stale_emergency())
    hub = AlertHub(store, settings=LifecycleSettings(), clock=lambda: T0)
    forecaster = Forecaster(book=hub, clock=lambda: T0)
    forecaster.update_skus([SkuSettings("A"), SkuSettings("B")])
    forecaster.record([SaleEvent("A", T0, 1, "douyin")], {"A": StockSnapshot(0, 0), "B": StockSnapshot(9, 0)})
    assert [a.sku for a in hub.open.values()] == ["A"]

    notes = forecaster.forget(["A"])

    assert [(n.kind, n.alert.sku) for n in notes] == [(Kind.RESOLVED, "A")]
    assert hub.open_alerts() == []
    for table in (forecaster.stock, forecaster.histories, forecaster.settings):
        assert "A" not in table
    assert "B" in forecaster.stock  # the others stay
    assert forecaster.forget(["A"]) == []  # nothing left to resolve
