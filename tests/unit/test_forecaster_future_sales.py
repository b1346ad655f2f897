"""A sale stamped far in the future (a platform's clock off, or a ``placed_at`` in the
wrong unit: any time up to 2100 is valid) does not move the live forecaster's event time,
so it cannot stop every SKU's forecast; a simulated show's SKUs keep their own times."""

from __future__ import annotations

from actors.alerts.actor import LIVE_MAX_AHEAD_SECONDS
from actors.alerts.forecaster import Forecaster
from actors.infra.wire import SaleEvent, StockSnapshot
from policies.ledger import SkuSettings

NOW = 1_800_000_000.0
YEAR_2100 = 4_102_444_800.0


def steady(sku: str, minutes: int) -> list[SaleEvent]:
    """Two orders a minute for ``minutes`` minutes up to ``NOW``."""
    return [SaleEvent(sku, NOW - minutes * 60 + 30 * n, 1, "douyin") for n in range(minutes * 2)]


def live_forecaster() -> Forecaster:
    forecaster = Forecaster(clock=lambda: NOW, max_ahead_seconds=LIVE_MAX_AHEAD_SECONDS)
    forecaster.update_skus([SkuSettings("HOT"), SkuSettings("COLD")])
    stock = {"HOT": StockSnapshot(500, 0), "COLD": StockSnapshot(500, 0)}
    forecaster.record(steady("HOT", 20) + steady("COLD", 20), stock)
    return forecaster


def test_an_order_stamped_in_2100_is_counted_now_and_every_sku_keeps_its_forecast() -> None:
    forecaster = live_forecaster()

    forecaster.record([SaleEvent("COLD", YEAR_2100, 1, "douyin")])

    assert forecaster.watermark <= NOW
    for sku in ("HOT", "COLD"):  # two orders a minute, still seen as such
        assert 1.5 < forecaster.view(sku)["velocity_per_min"] < 2.5
        assert forecaster.view(sku)["eta_minutes"] is not None


def test_a_platform_clock_a_little_ahead_is_taken_as_it_is() -> None:
    forecaster = live_forecaster()

    forecaster.record([SaleEvent("HOT", NOW + 60, 1, "douyin")])

    assert forecaster.watermark == NOW + 60


def test_a_simulated_shows_skus_keep_their_own_times_up_to_the_shows_end() -> None:
    forecaster = live_forecaster()
    show_end = NOW + 4 * 3600  # a speed-0 simulation runs its show ahead of the wall clock
    forecaster.update_skus([SkuSettings("SIM-CAP", on_sale_since=NOW, on_sale_until=show_end)])

    forecaster.record([SaleEvent("SIM-CAP", NOW + 2 * 3600, 1, "douyin")])
    assert forecaster.watermark == NOW + 2 * 3600

    forecaster.record([SaleEvent("SIM-CAP", YEAR_2100, 1, "douyin")])  # past its show: not
    assert forecaster.watermark == NOW + 2 * 3600


def test_without_a_bound_a_replay_moves_event_time_as_its_sales_say() -> None:
    forecaster = Forecaster(clock=lambda: 0.0)  # a replay's clock stands still

    forecaster.record([SaleEvent("HOT", NOW, 1, "douyin")])

    assert forecaster.watermark == NOW
