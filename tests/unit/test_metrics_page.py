"""The /metrics page is valid Prometheus text with flashstock's conventions: counters end
in ``_total``, label values are escaped, oversold orders are summed per channel (no
series per SKU), every alert level is present, and the backlog's two states appear."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from actors.ingest.store import Backlog
from serve_app.metrics import prometheus_text


def facts(**overrides: Any) -> dict[str, Any]:
    return {
        "ingest": {"douyin": {"orders": 7, "accepted": 5, "dead": 1}, 'we"ird': {"orders": 2}},
        "backlog": {"douyin": Backlog(3, 40), "taobao": Backlog(0, None)},
        "oversold": {"SKU-1": {"douyin": 2, "taobao": 1}, "SKU-2": {"douyin": 4}},
        "alerts": [{"level": "EMERGENCY"}, {"level": "TREND"}, {"level": "TREND"}],
        "forecaster": {"events": 123},
        **overrides,
    }


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_page_parses_and_says_what_redis_and_the_forecaster_hold() -> None:
    text = prometheus_text(facts())
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types == {
        "flashstock_ingest_messages": "counter",
        "flashstock_ingest_backlog": "gauge",
        "flashstock_oversold_orders": "gauge",
        "flashstock_grant_headroom_units": "gauge",
        "flashstock_grant_invariant_violations": "gauge",
        "flashstock_alerts_open": "gauge",
        "flashstock_sale_events": "counter",
    }
    got = samples(text)
    assert got[("flashstock_ingest_messages_total", (("channel", "douyin"), ("outcome", "dead")))] == 1
    assert got[("flashstock_ingest_messages_total", (("channel", 'we"ird'), ("outcome", "orders")))] == 2
    assert got[("flashstock_ingest_backlog", (("channel", "douyin"), ("state", "pending")))] == 3
    assert got[("flashstock_ingest_backlog", (("channel", "douyin"), ("state", "undelivered")))] == 40
    # Redis could not tell taobao's lag: no made-up number
    assert ("flashstock_ingest_backlog", (("channel", "taobao"), ("state", "undelivered"))) not in got
    assert got[("flashstock_oversold_orders", (("channel", "douyin"),))] == 6
    assert got[("flashstock_oversold_orders", (("channel", "taobao"),))] == 1
    assert not any("sku" in dict(labels) for _, labels in got)
    levels = {
        dict(labels)["level"]: value
        for (name, labels), value in got.items()
        if name == "flashstock_alerts_open"
    }
    assert levels == {"TREND": 2, "THRESHOLD": 0, "EMERGENCY": 1, "CHANNEL_STALLED": 0}
    assert got[("flashstock_sale_events_total", ())] == 123


def test_a_level_the_page_does_not_know_still_shows() -> None:
    text = prometheus_text(facts(alerts=[{"level": "NEW_LEVEL"}]))
    assert samples(text)[("flashstock_alerts_open", (("level", "NEW_LEVEL"),))] == 1


def test_the_grant_headroom_of_each_sku_and_the_violations_are_exported() -> None:
    got = samples(prometheus_text(facts(grant_headroom={"A": 3, "B": -2, "C": 0})))
    assert got[("flashstock_grant_headroom_units", (("sku", "A"),))] == 3
    assert got[("flashstock_grant_headroom_units", (("sku", "B"),))] == -2
    assert got[("flashstock_grant_invariant_violations", ())] == 1


def test_no_grants_no_violations() -> None:
    got = samples(prometheus_text(facts()))
    assert got[("flashstock_grant_invariant_violations", ())] == 0
    assert not [name for name, _ in got if name == "flashstock_grant_headroom_units"]
