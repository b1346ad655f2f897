"""Helpers for tests (import as ``tests.support``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], bool], *, timeout: float = 20.0, interval: float = 0.02,
             message: str = "condition") -> None:
    """Poll ``condition`` until it is true, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def fresh_namespace() -> str:
    """A key namespace no other test uses, so tests can share one Redis server."""
    return f"t{uuid.uuid4().hex[:12]}"
