"""``report.png``: the show's timeline (``scripts.sim.timeline``) drawn with matplotlib, one
panel per SKU, the interesting ones first. Stock on the left axis, the sales rates on
the right (a short window that shows bursts beside the forecaster's 5-minute velocity),
every marker a vertical line with its label in a free lane above the data, so labels
never overlap. Each marker's line carries ``kind@sku@minute`` as its gid, so a test can
find what was drawn."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGURE_WIDTH_INCHES = 12.0
PANEL_HEIGHT_INCHES = 3.6
LABEL_FONT_SIZE = 7
#: a label's width per character as a share of the panel's width (7 pt bold DejaVu Sans
#: on a 12-inch figure, with some room)
CHAR_SHARE = 0.0085
#: tick spacings to choose from, show minutes (15 s to 2 h)
TICK_MINUTES = (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120)
MAX_TICKS = 13
TITLE_INCHES = 0.3
LEGEND_INCHES = 0.95  # the x-axis label and the legend under the panels
LEGEND_ROW_INCHES = 0.2
MARKER_NAMES = {
    "restock": "restock / transfer ordered",
    "arrival": "transfer arrives",
    "demand": "demand change",
    "cancel_wave": "cancel wave",
    "stockout": "sold out",
}
LANE_HEIGHT = 0.075  # axes fraction per label lane
MAX_LANES = 6
LineStyle = Literal["-", "--", "-.", ":"]
LINE_STYLES: dict[str, LineStyle] = {
    "alert": "--",
    "restock": "-",
    "arrival": ":",
    "demand": "-.",
    "cancel_wave": ":",
    "stockout": "-",
}
STOCK_COLOUR = "#1971c2"
RATE_COLOUR = "#2f9e44"
VELOCITY_COLOUR = "#0b7285"


def marker_gid(marker: dict[str, Any]) -> str:
    """The gid of a marker's line: ``kind@sku@minute``."""
    return f"{marker['kind']}@{marker['sku']}@{marker['minute']}"


def assign_lanes(spans: list[tuple[float, float]], lanes: int = MAX_LANES) -> list[int | None]:
    """A lane for each ``(start, end)`` span (in the given order) where it overlaps no
    span already placed in that lane; None when every lane is taken there."""
    ends: list[float] = []  # per lane, the end of its last span
    placed: list[int | None] = []
    for start, end in spans:
        lane = next((n for n, last in enumerate(ends) if last <= start), None)
        if lane is None and len(ends) < lanes:
            lane = len(ends)
            ends.append(end)
        elif lane is not None:
            ends[lane] = end
        placed.append(lane)
    return placed


def show_time(minutes: float, short: bool) -> str:
    """``m:ss`` for a short show, ``h:mm`` otherwise."""
    if short:
        return f"{int(minutes)}:{round(minutes % 1 * 60) % 60:02d}"
    return f"{int(minutes // 60)}:{int(minutes % 60):02d}"


def build_figure(report: dict[str, Any]) -> Figure:
    """The figure of ``report``'s timeline (call ``write_chart`` to save it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    timeline = report["timeline"]
    skus = timeline["skus"]
    duration = float(timeline["duration_minutes"])
    short = duration <= 15
    figure, axes = plt.subplots(
        len(skus),
        1,
        figsize=(FIGURE_WIDTH_INCHES, PANEL_HEIGHT_INCHES * len(skus) + TITLE_INCHES + LEGEND_INCHES),
        squeeze=False,
        sharex=True,
    )
    for axis, sku in zip(axes[:, 0], skus, strict=True):
        _panel(axis, sku, [m for m in timeline["markers"] if m["sku"] == sku["sku"]], duration, short)
    spacing = next((t for t in TICK_MINUTES if duration / t <= MAX_TICKS), TICK_MINUTES[-1])
    axes[-1, 0].xaxis.set_major_locator(MultipleLocator(spacing))
    axes[-1, 0].xaxis.set_major_formatter(FuncFormatter(lambda x, _: show_time(x, short)))
    axes[-1, 0].set_xlabel(f"show time ({'m:ss' if short else 'h:mm'})")
    window = float(timeline["rate_window_minutes"])
    window_text = f"{round(window * 60, 1):g} s" if window < 1 else f"{round(window, 2):g} min"
    handles = [
        Line2D([], [], color=STOCK_COLOUR, linewidth=1.8, label="available (units)"),
        Line2D(
            [], [], color=RATE_COLOUR, linewidth=1, alpha=0.7, label=f"sold, units/min over {window_text}"
        ),
        Line2D(
            [], [], color=VELOCITY_COLOUR, linestyle="--", linewidth=1.2, label="velocity, 5-min (units/min)"
        ),
    ]
    seen: dict[str, tuple[str, LineStyle]] = {}
    for marker in timeline["markers"]:
        name = marker.get("level") or MARKER_NAMES[marker["kind"]]
        seen.setdefault(name, (marker["colour"], LINE_STYLES[marker["kind"]]))
    handles += [Line2D([], [], color=c, linestyle=s, label=name) for name, (c, s) in seen.items()]
    height = figure.get_figheight()
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=8, frameon=False)
    figure.suptitle(
        f"{report['scenario']}: stock, sales and alerts (show-time steps of {timeline['step_seconds']:g} s)",
        fontsize=12,
        y=1 - 0.1 / height,
        va="top",
    )
    rows = -(-len(handles) // 5)
    bottom, top = (0.1 + rows * LEGEND_ROW_INCHES) / height, 1 - TITLE_INCHES / height
    with warnings.catch_warnings(record=True) as problems:
        warnings.simplefilter("always")
        figure.tight_layout(rect=(0, bottom, 1, top))
    if problems:  # decorations too wide to fit (long tick labels): fixed margins instead
        figure.subplots_adjust(left=0.08, right=0.92, bottom=bottom + 0.03, top=top - 0.02, hspace=0.45)
    return figure


def _panel(
    axis: Axes, sku: dict[str, Any], found: list[dict[str, Any]], duration: float, short: bool
) -> None:
    minutes = sku["minutes"]
    axis.plot(minutes, sku["available"], color=STOCK_COLOUR, linewidth=1.8, drawstyle="steps-post", zorder=3)
    axis.set_ylabel("available units")
    axis.set_xlim(0, duration)
    rate = axis.twinx()
    rate.plot(minutes, sku["rate"], color=RATE_COLOUR, linewidth=0.8, alpha=0.55, drawstyle="steps-pre")
    rate.plot(minutes, sku["velocity"], color=VELOCITY_COLOUR, linewidth=1.2, linestyle="--")
    rate.set_ylabel("units / minute")
    rate.set_ylim(0, max(1.0, *sku["rate"], *sku["velocity"]) * 1.1)
    stockout = next((m["minute"] for m in found if m["kind"] == "stockout"), None)
    state = f"sold out at {show_time(stockout, short)}" if stockout is not None else "never sold out"
    alerts = sum(1 for m in found if m["kind"] == "alert")
    axis.set_title(f"{sku['sku']}: {state}, {alerts} alert(s)", loc="left", fontsize=10)
    # a marker outside the show (an HTTP run's wall-clock alert after the last step) is
    # not drawn: far off the axes, its label would be placed thousands of pixels away
    found = [m for m in found if m["minute"] is not None and 0 <= m["minute"] <= duration]
    spans = []
    for marker in found:
        width = len(marker["label"]) * CHAR_SHARE * duration
        right = marker["minute"] + width > duration
        spans.append(
            (marker["minute"] - width, marker["minute"])
            if right
            else (marker["minute"], marker["minute"] + width)
        )
    lanes = assign_lanes(spans)
    for marker, lane in zip(found, lanes, strict=True):
        line = axis.axvline(
            marker["minute"],
            color=marker["colour"],
            linestyle=LINE_STYLES[marker["kind"]],
            linewidth=1.1,
            zorder=2,
        )
        line.set_gid(marker_gid(marker))
        if lane is None:
            continue  # every lane is taken here: the line stays, the legend names its colour
        right = marker["minute"] + len(marker["label"]) * CHAR_SHARE * duration > duration
        text = axis.annotate(
            marker["label"],
            (marker["minute"], 0.97 - lane * LANE_HEIGHT),
            xycoords=("data", "axes fraction"),
            xytext=(-2 if right else 2, 0),
            textcoords="offset points",
            ha="right" if right else "left",
            va="top",
            fontsize=LABEL_FONT_SIZE,
            color=marker["colour"],
            fontweight="bold" if marker["kind"] == "alert" else "normal",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )
        text.set_gid("label@" + marker_gid(marker))
    used = max((lane + 1 for lane in lanes if lane is not None), default=0)
    highest = max(1, *sku["available"])
    axis.set_ylim(0, highest * 1.05 / (1 - used * LANE_HEIGHT))  # the labels' lanes above the data
    axis.grid(axis="y", alpha=0.3)
    if not sku["interesting"]:
        axis.set_facecolor("#f8f9fa")


def write_chart(report: dict[str, Any], path: Path) -> None:
    """Save ``report.png`` (matplotlib from the ``sim`` extra)."""
    import matplotlib.pyplot as plt

    figure = build_figure(report)
    figure.savefig(path, dpi=110)
    plt.close(figure)
