"""structlog, configured once per process (the driver and every Ray worker).

JSON lines when stderr is not a terminal (production, Ray workers' log files), a
console renderer for a person at a terminal; ``FLASHSTOCK_LOG_FORMAT`` (``json`` or
``console``, ``flashstock --log-format``) chooses instead, and ``FLASHSTOCK_LOG_LEVEL``
(``--log-level``) the level, in the driver and in every worker it starts. Context such
as sku, order and channel is bound with ``structlog.contextvars`` or ``logger.bind`` rather than formatted in.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from actors.infra.settings import current_settings

_configured = False
#: the level names flashstock accepts (any case)
LEVELS = ("debug", "info", "warning", "error", "critical")
#: the renderers: JSON lines, or coloured columns for a person
FORMATS = ("json", "console")
LEVEL_ENV = "FLASHSTOCK_LOG_LEVEL"
FORMAT_ENV = "FLASHSTOCK_LOG_FORMAT"


def setting_problem(name: str, value: str, allowed: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a valid ``name`` (one line), or None."""
    if value.lower() in allowed:
        return None
    return f"{name} must be one of {', '.join(allowed)}, got {value!r}"


def current_stderr() -> TextIO:
    """``sys.stderr`` at the time of the call, except in a Ray Serve replica: there it is
    Serve's ``StreamToLogger``, which hands each line to Serve's logger at INFO (dropped
    at the deployment's WARNING level; otherwise buffered 1,000 lines at a time, as
    text) and claims to be a terminal. The process's own stderr, the worker's log file
    that Ray forwards to the driver as for every other actor, gets the lines at once."""
    stream = sys.stderr
    if type(stream).__name__ == "StreamToLogger" and sys.__stderr__ is not None:
        return sys.__stderr__
    return stream


class _CurrentStderr:
    """Writes to whatever ``current_stderr()`` is at the time of writing: a process that
    swaps ``sys.stderr`` later (a test capturing output, a tool redirecting it) still
    gets the log lines, and none go to a stream that has been closed."""

    def write(self, text: str) -> int:
        return current_stderr().write(text)

    def flush(self) -> None:
        current_stderr().flush()


def configure_logging(level: str | None = None, *, json: bool | None = None) -> None:
    """Set up structlog for this process; later calls are no-ops.

    ``level`` defaults to ``FLASHSTOCK_LOG_LEVEL`` or INFO; ``json`` to
    ``FLASHSTOCK_LOG_FORMAT``, else "stderr is not a terminal". A worker given a wrong
    name in its environment keeps the default and says so (the CLI refuses it first).
    """
    global _configured
    if _configured:
        return
    settings = current_settings()
    level_name = (level or settings.log_level or "INFO").upper()
    numeric = logging.getLevelNamesMapping().get(level_name)
    chosen = (settings.log_format or "").lower()
    use_json = (
        json if json is not None else chosen == "json" if chosen in FORMATS else not current_stderr().isatty()
    )
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
        wrapper_class=structlog.make_filtering_bound_logger(numeric or logging.INFO),
        # write and flush, not print(): a Serve replica replaces print with one that
        # writes a line to any other file as the repr of a tuple
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _configured = True
    log = structlog.get_logger(__name__)
    if numeric is None:
        log.warning("log_level_unknown", given=level_name, using="INFO", allowed=LEVELS)
    if chosen and chosen not in FORMATS:
        log.warning("log_format_unknown", given=chosen, allowed=FORMATS)
