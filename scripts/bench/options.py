"""Option types the benchmarks share."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def count(least: int = 1) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``least``, or the option's error
    naming what was given (not a traceback from deep in the run)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number is needed, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    return parse
