"""Where flashstock's log lines go (``actors.infra.logging.current_stderr``): the
current ``sys.stderr``, except Ray Serve's ``StreamToLogger`` in a replica, which sent
every line of the HTTP replica (the 500s' ``request_failed`` with their request ids
included) to Serve's logger at INFO, where the deployment's WARNING level dropped them."""

from __future__ import annotations

import builtins
import io
import logging
import sys

import pytest
import structlog
from ray.serve._private.logging_utils import StreamToLogger  # what Serve puts in sys.stderr

from actors.infra.logging import _CurrentStderr, configure_logging, current_stderr


def test_lines_go_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)

    _CurrentStderr().write("line\n")

    assert current_stderr() is captured
    assert captured.getvalue() == "line\n"


def test_in_a_serve_replica_lines_go_to_the_processs_own_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    own = io.StringIO()
    serve_logger = logging.getLogger("flashstock-test-serve")
    serve_logger.setLevel(logging.WARNING)  # the deployment's level
    monkeypatch.setattr(sys, "__stderr__", own)
    monkeypatch.setattr(sys, "stderr", StreamToLogger(serve_logger, logging.INFO, own))

    _CurrentStderr().write('{"event": "request_failed", "request_id": "req-42"}\n')

    assert own.getvalue() == '{"event": "request_failed", "request_id": "req-42"}\n'
    assert current_stderr().isatty() is False  # JSON lines, not the console's colours


def test_a_line_is_written_whole_even_where_print_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray Serve replaces print in a replica; for another file it printed the tuple of
    # its arguments: ('{"event": ...}',). The configured logger writes instead.
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    monkeypatch.setattr(builtins, "print", lambda *objects, **kwargs: captured.write(repr(objects)))
    configure_logging()  # as every process does (the test session already has)
    logger = structlog.get_config()["logger_factory"]()

    logger.msg('{"event": "request_failed"}')

    assert captured.getvalue() == '{"event": "request_failed"}\n'
