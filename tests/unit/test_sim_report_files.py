"""``report.png`` and ``report.html`` carry every marker of the timeline they were drawn
from: checked on the matplotlib artists and on the page's embedded data, not on pixels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from matplotlib.text import Text

from scripts.sim.report import build_report, write_report
from scripts.sim.report_html import embedded_report, render_html
from scripts.sim.report_png import assign_lanes, build_figure, marker_gid
from tests.unit.test_sim_timeline import SHOW, a_show_log


def a_report() -> dict[str, Any]:
    return build_report(SHOW, a_show_log(), {"target": "inproc", "speed": 0, "step_seconds": 60.0})


def test_lanes_never_put_two_overlapping_labels_in_one_lane() -> None:
    assert assign_lanes([(0, 10), (5, 12), (10, 20), (11, 13), (30, 40)], lanes=2) == [0, 1, 0, None, 0]


def test_the_chart_draws_every_marker_and_labels_that_do_not_overlap() -> None:
    import matplotlib.pyplot as plt

    report = a_report()
    figure = build_figure(report)
    try:
        gids = {artist.get_gid() for artist in figure.findobj() if artist.get_gid()}
        markers = report["timeline"]["markers"]
        assert {marker_gid(m) for m in markers} <= gids
        assert len(markers) == 9
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's canvas has one
        for axis in figure.axes:
            labels = [t for t in axis.texts if isinstance(t, Text) and str(t.get_gid()).startswith("label@")]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for n, box in enumerate(boxes):
                assert not any(box.overlaps(other) for other in boxes[n + 1 :]), labels[n].get_text()
        legend = {text.get_text() for text in figure.legends[0].get_texts()}
        assert {"available (units)", "TREND", "EMERGENCY", "sold out", "demand change"} <= legend
        assert "transfer arrives" in legend
        assert "restock / transfer ordered" in legend
        titles = [axis.get_title(loc="left") for axis in figure.axes if axis.get_title(loc="left")]
        assert titles[0].startswith("HOT: sold out at 2:00")  # the SKU that alerted on top (m:ss)
    finally:
        plt.close(figure)


def test_the_page_embeds_the_timeline_and_the_alert_list_it_draws() -> None:
    report = a_report()
    page = render_html(report)
    data = embedded_report(page)
    assert data["timeline"] == report["timeline"]
    assert data["alerts"] == report["alerts"]
    assert [m["kind"] for m in data["timeline"]["markers"]].count("alert") == 2


def test_the_page_is_self_contained() -> None:
    page = render_html(a_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page
    assert not re.search(r"<script[^>]*\ssrc=", page)
    assert "@import" not in page


def test_a_name_cannot_end_the_embedded_data_early() -> None:
    report = a_report()
    report["scenario"] = "</script><script>alert(1)</script>"
    page = render_html(report)
    assert embedded_report(page)["scenario"] == report["scenario"]
    assert page.count("</script>") == 2  # the data's and the page's own


def test_write_report_writes_json_png_and_html(tmp_path: Path) -> None:
    write_report(a_report(), tmp_path)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert embedded_report((tmp_path / "report.html").read_text())["scenario"] == "t"
    assert (tmp_path / "report.json").stat().st_size > 0
