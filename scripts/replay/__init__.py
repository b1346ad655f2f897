"""``flashstock replay``: recorded or simulated sales through the live alert policy."""

from __future__ import annotations

from scripts.replay.command import add_parser

__all__ = ["add_parser"]
