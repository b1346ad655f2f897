"""``report.html``: the show's timeline (``scripts.sim.timeline``) as one self-contained
page: the report's data inline as JSON and a small script that draws it as SVG, with no
file or network fetched (operators' networks often cannot reach a CDN, and a report is
mailed around). The charts share a zoomable show-time axis; the alert notifications
are listed beside them, and a click on one zooms to it."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("report_template.html")
#: what the page shows of the report (the timeline and the alert list, the headline facts)
PAGE_KEYS = (
    "scenario",
    "seed",
    "target",
    "duration_minutes",
    "orders",
    "oversold_total",
    "throughput",
    "alerts",
    "timeline",
)


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element (no ``</`` or ``<!--``
    can end it early)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(report: dict[str, Any]) -> str:
    """The page for ``report`` (a ``build_report`` result)."""
    page = {key: report[key] for key in PAGE_KEYS}
    template = TEMPLATE.read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(f"{report['scenario']}: flashstock simulation")).replace(
        "__REPORT_JSON__", script_json(page)
    )


def embedded_report(page: str) -> dict[str, Any]:
    """The report data a page carries (what its charts were drawn from)."""
    start = page.index('<script type="application/json" id="report-data">')
    start = page.index(">", start) + 1
    data: dict[str, Any] = json.loads(page[start : page.index("</script>", start)])
    return data


def write_html(report: dict[str, Any], path: Path) -> None:
    """Save ``report.html``."""
    path.write_text(render_html(report), encoding="utf-8")
