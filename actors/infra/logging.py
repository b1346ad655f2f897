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
        json if json is not None else chosen == "json" if chosen in FORMATS else not sys.stderr.isatty()
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
        # print() needs only write and flush of its file
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _configured = True
    log = structlog.get_logger(__name__)
    if numeric is None:
        log.warning("log_level_unknown", given=level_name, using="INFO", allowed=LEVELS)
    if chosen and chosen not in FORMATS:
        log.warning("log_format_unknown", given=chosen, allowed=FORMATS)
