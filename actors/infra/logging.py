"""structlog, configured once per process (the driver and every Ray worker).

JSON lines when stderr is not a terminal (production, Ray workers' log files), a
console renderer for a person at a terminal. Context such as sku, order and channel
is bound with ``structlog.contextvars`` or ``logger.bind`` rather than formatted in.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing: a process that
    swaps it later (a test capturing output, a tool redirecting it) still gets the log
    lines, and none go to a stream that has been closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str | None = None, *, json: bool | None = None) -> None:
    """Set up structlog for this process; later calls are no-ops.

    ``level`` defaults to ``FLASHSTOCK_LOG_LEVEL`` or INFO; ``json`` defaults to
    "stderr is not a terminal".
    """
    global _configured
    if _configured:
        return
    level_name = (level or os.environ.get("FLASHSTOCK_LOG_LEVEL") or "INFO").upper()
    numeric = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # print() needs only write and flush of its file
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _configured = True
