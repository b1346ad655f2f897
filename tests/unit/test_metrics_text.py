"""``serve_app.metrics``: the grant invariant on the /metrics page."""

from __future__ import annotations

from typing import Any

from serve_app.metrics import prometheus_text


def metrics(headroom: dict[str, int]) -> dict[str, Any]:
    return {
        "owners": [],
        "ingest": {},
        "inbox_length": {},
        "alerts": [],
        "forecaster": {"events": 0},
        "grant_headroom": headroom,
    }


def test_the_headroom_of_each_sku_and_the_violations_are_exported() -> None:
    text = prometheus_text(metrics({"A": 3, "B": -2, "C": 0}), {})
    assert 'flashstock_grant_headroom_units{sku="A"} 3' in text
    assert 'flashstock_grant_headroom_units{sku="B"} -2' in text
    assert "flashstock_grant_invariant_violations 1" in text.splitlines()


def test_no_grants_no_violations() -> None:
    text = prometheus_text(metrics({}), {})
    assert "flashstock_grant_invariant_violations 0" in text.splitlines()
    assert "flashstock_grant_headroom_units{" not in text
