"""What a measurement ran on, printed and stored with every benchmark figure."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine_facts() -> dict[str, Any]:
    """What a benchmark ran on: CPU architecture, cores this process may use, Python."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {"arch": platform.machine(), "cores": cores, "python": platform.python_version()}


def machine() -> str:
    """``machine_facts`` in one line."""
    facts = machine_facts()
    return f"{facts['arch']}, {facts['cores']} cores, Python {facts['python']}"
