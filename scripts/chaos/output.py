"""Where ``flashstock chaos`` writes: its report on stdout, everything else in a file.

A chaos run starts Ray nodes and a Redis server from this process and kills them; their
dumps (a raylet's last words, a worker's stack) and the driver's own logs are written
to the process's file descriptors 1 and 2, which every child inherits. Redirecting
those descriptors into a log file before anything starts keeps them out of the report;
the report goes to a stream on the original stdout."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def report_stream_with_logs_in(path: Path) -> Iterator[TextIO]:
    """Send file descriptors 1 and 2 (this process's and its children's output) to
    ``path`` (appended) until the block ends; yield a stream on the original stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    report = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield report
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        report.close()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
