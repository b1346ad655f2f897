"""The shipped Grafana dashboard charts only metrics flashstock exports, under the names
Prometheus sees (Ray's metrics agent adds ``ray_``), so a renamed metric cannot leave a
silently empty panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from actors.infra import metrics as process_metrics
from serve_app import metrics as page_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "flashstock.json"


def exported_names() -> set[str]:
    """Every series name flashstock's code can produce, as Prometheus stores it."""
    page = set(re.findall(r'"(flashstock_[a-z_]+)"', Path(page_metrics.__file__).read_text()))
    names = set(page)
    ray_side = Path(process_metrics.__file__).read_text()
    # Ray's agent adds ray_; a Counter is exported with _total, a Histogram with its parts
    suffixes = {"Counter": ("_total",), "Gauge": ("",), "Histogram": ("_bucket", "_sum", "_count")}
    for kind, name in re.findall(r'(Counter|Gauge|Histogram)\(\s*"(flashstock_[a-z_]+)"', ray_side):
        names |= {f"ray_{name}{suffix}" for suffix in suffixes[kind]}
    return names


def test_every_panel_queries_a_metric_flashstock_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    known = exported_names()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\b((?:ray_)?flashstock_[a-z_]+)\b", target["expr"]))
            assert used, (panel["title"], target["expr"])
            assert used <= known, (panel["title"], used - known)
        assert panel["datasource"]["uid"] == "${datasource}"
