"""Refuse alert settings that cannot mean anything (a negative window, a 120% service
level), naming the field, so a mistyped option never runs a silent nonsense policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any


def check_settings(
    settings: Any, *, positive: Collection[str] = (), probability: Collection[str] = ()
) -> None:
    """ValueError unless every number of the dataclass ``settings`` is >= 0, the
    ``positive`` ones > 0 and the ``probability`` ones strictly between 0 and 1."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if not isinstance(v, int | float) or isinstance(v, bool):
                continue
            if field.name in probability and not 0 < v < 1:
                raise ValueError(f"{field.name} must be between 0 and 1 (exclusive), got {v}")
            if field.name in positive and not v > 0:
                raise ValueError(f"{field.name} must be > 0, got {v}")
            if v < 0:
                raise ValueError(f"{field.name} must be >= 0, got {v}")
