"""Progress of the long-running load tools: a tqdm bar on a terminal, and on anything
else (a CI log, a file, a pipe) one plain line every ``LINE_INTERVAL_SECONDS`` and one
at the end, so a log never collects a bar's carriage-return redraws. tqdm (from the
``sim`` and ``bench`` extras) is imported when a bar is made, not with this module, so
``flashstock --help`` and the commands that need no extra work without it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, Protocol, TextIO, TypeVar, cast

T = TypeVar("T")

#: seconds between two progress lines when the output is not a terminal
LINE_INTERVAL_SECONDS = 10.0


class Progress(Protocol):
    """The part of a ``tqdm`` bar the tools use."""

    n: float

    def update(self, n: float | None = 1) -> bool | None: ...

    def set_postfix_str(self, s: str = "", refresh: bool | None = True) -> None: ...

    def close(self) -> None: ...


class LineProgress:
    """A ``Progress`` for output that is not a terminal: ``desc  n/total unit  postfix``
    on a line of its own, at most every ``interval`` seconds, and once more at ``close``
    (nothing at all when ``disable``)."""

    def __init__(
        self,
        *,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        initial: float = 0,
        disable: bool = False,
        file: TextIO | None = None,
        interval: float = LINE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        **_tqdm_only: Any,  # bar_format, leave, ...: a bar's looks, nothing a line shows
    ) -> None:
        self.n = initial
        self.total = total
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.file = file
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.postfix = ""
        self.closed = False

    def update(self, n: float | None = 1) -> bool | None:
        self.n += 1 if n is None else n
        if self.clock() - self.last_line >= self.interval:
            self._line()
        return None

    def set_postfix_str(self, s: str = "", refresh: bool | None = True) -> None:
        self.postfix = s

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line()

    def _line(self) -> None:
        self.last_line = self.clock()
        if self.disable:
            return
        done = f"{self.n:,.0f}" + (f"/{self.total:,.0f}" if self.total else "")
        elapsed = self.last_line - self.started
        parts = [self.desc, f"{done} {self.unit}", f"{elapsed:.0f}s", self.postfix]
        stream = self.file or sys.stderr
        print("  ".join(p for p in parts if p), file=stream, flush=True)


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: stderr, where progress goes) is a terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def progress_bar(**options: Any) -> Progress:
    """A bar that the caller advances with ``update``; ``options`` as tqdm's. A tqdm bar
    on a terminal, else a ``LineProgress``."""
    if not is_terminal(options.get("file")):
        return LineProgress(**options)
    from tqdm import tqdm

    return cast(Progress, tqdm(**options))


def progress_over(items: Iterable[T], **options: Any) -> Iterator[T]:
    """``items``, advancing a bar as they are taken; ``options`` as tqdm's."""
    if not is_terminal(options.get("file")):
        if "total" not in options and isinstance(items, Sized):
            options["total"] = len(items)
        return _lines_over(items, LineProgress(**options))
    from tqdm import tqdm

    return iter(cast(Iterable[T], tqdm(items, **options)))


def _lines_over(items: Iterable[T], progress: LineProgress) -> Iterator[T]:
    try:
        for item in items:
            yield item
            progress.update()
    finally:
        progress.close()
