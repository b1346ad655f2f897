"""Progress off a terminal: plain lines, never a bar's carriage-return redraws."""

from __future__ import annotations

import io
import os

from scripts.loadgen.progress import LineProgress, progress_bar, progress_over
from tests.support import FakeClock


def test_progress_into_a_file_is_periodic_lines_without_carriage_returns() -> None:
    out = io.StringIO()
    assert isinstance(progress_bar(total=1, file=out, bar_format="{l_bar}{bar}"), LineProgress)
    clock = FakeClock()
    bar = LineProgress(total=360, unit="show-min", desc="show", file=out, clock=clock, leave=False)
    for minute in range(1, 361):
        clock.now = minute * 0.5  # a show minute every half second: 180 s in all
        bar.set_postfix_str(f"accepted {minute}", refresh=False)
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 19  # one every 10 s over 180 s, and the last at close
    assert lines[0] == "show  20/360 show-min  10s  accepted 20"
    assert lines[-1] == "show  360/360 show-min  180s  accepted 360"


def test_a_disabled_line_progress_writes_nothing() -> None:
    out = io.StringIO()
    bar = progress_bar(total=10, file=out, disable=True)
    bar.update(10)
    bar.close()
    assert out.getvalue() == ""


def test_progress_over_items_off_a_terminal_yields_every_item_and_ends_with_a_line() -> None:
    out = io.StringIO()
    assert list(progress_over(range(5), desc="prefill", unit="x5k", file=out)) == [0, 1, 2, 3, 4]
    assert out.getvalue() == "prefill  5/5 x5k  0s\n"


def test_a_terminal_gets_a_tqdm_bar() -> None:
    from tqdm import tqdm

    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        bar = progress_bar(total=3, file=terminal)
        try:
            assert isinstance(bar, tqdm)
        finally:
            bar.close()
    os.close(leader)
