"""The SKU catalogue file that ``flashstock serve`` and ``flashstock replay`` both read.

YAML (``.yaml``/``.yml``) or JSON, in one of three shapes: ``{skus: [{sku, on_hand,
...}]}``, ``[{sku, ...}]`` or ``{SKU: {on_hand, ...}}``. Every entry is validated by one
model (``CatalogEntry``): unknown keys, wrong types and negative quantities are refused
with the entry and the field named, never half loaded. ``on_sale_since`` /
``on_sale_until`` (when the SKU went on sale, when its show ends) are ISO 8601 times with
a time zone (``2026-11-11T20:00:00+08:00``) or epoch seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from policies.ledger import DEFAULT_LEAD_TIME_MINUTES, DEFAULT_RESERVATION_TTL_SECONDS, SkuSettings
from policies.operations import invalid_settings


class CatalogEntry(BaseModel):
    """One SKU of a catalogue file: its starting stock and its settings."""

    model_config = ConfigDict(extra="forbid", strict=False)

    sku: str = Field(min_length=1)
    on_hand: int = Field(default=0, ge=0)
    name: str = ""
    lead_time_minutes: float = Field(default=DEFAULT_LEAD_TIME_MINUTES, gt=0)
    purchase_limit: int | None = Field(default=None, gt=0)
    reservation_ttl_seconds: float = Field(default=DEFAULT_RESERVATION_TTL_SECONDS, gt=0)
    substitutes: tuple[str, ...] = ()
    safety_floor: int = Field(default=0, ge=0)
    critical_floor: int = Field(default=0, ge=0)
    #: when the SKU went on sale (default: when it is defined)
    on_sale_since: AwareDatetime | None = None
    #: when its show ends (default: unknown; alert horizons then use the planning horizon)
    on_sale_until: AwareDatetime | None = None

    @field_validator("on_sale_since", "on_sale_until", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: object) -> object:
        """A number is epoch seconds, finite and after 1970 (pydantic alone would take a
        negative time, and a number past 2e10 as milliseconds)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"must be epoch seconds > 0, got {value!r}")
            try:
                return datetime.fromtimestamp(value, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise ValueError(f"epoch seconds out of range: {value!r}") from None
        return value

    @field_validator("on_sale_since", "on_sale_until", mode="after")
    @classmethod
    def _after_1970(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.timestamp() <= 0:
            raise ValueError(f"must be after 1970-01-01T00:00:00Z, got {value.isoformat()}")
        return value

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> CatalogEntry:
        since, until = self.on_sale_since, self.on_sale_until
        if since is not None and until is not None and until <= since:
            raise ValueError(
                f"on_sale_until ({until.isoformat()}) must be after on_sale_since ({since.isoformat()})"
            )
        return self

    def settings(self) -> SkuSettings:
        fields = self.model_dump(exclude={"on_hand", "on_sale_since", "on_sale_until"})
        return SkuSettings(
            **fields,
            on_sale_since=None if self.on_sale_since is None else self.on_sale_since.timestamp(),
            on_sale_until=None if self.on_sale_until is None else self.on_sale_until.timestamp(),
        )


def validation_problems(error: ValidationError, whole: str) -> str:
    """A pydantic error's problems on one line, each named by its field (``whole`` when
    the problem is the object's own)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}" for e in error.errors())


def load_catalog(path: Path) -> list[tuple[SkuSettings, int]]:
    """The catalogue's (settings, on_hand) per SKU; ValueError naming the file, the entry
    and the problem when anything is wrong."""
    try:
        raw = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from error
    try:
        data: Any = yaml.safe_load(raw) if path.suffix in (".yaml", ".yml") else json.loads(raw)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        kind = "YAML" if path.suffix in (".yaml", ".yml") else "JSON (use .yaml or .yml for YAML)"
        raise ValueError(f"{path}: not valid {kind}: {error}") from error
    if isinstance(data, dict) and "skus" in data:
        data = data["skus"]
    if isinstance(data, dict):
        items = [{"sku": sku, **spec} if isinstance(spec, dict) else spec for sku, spec in data.items()]
    else:
        items = data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of SKUs or a mapping of SKU to settings")
    catalog: list[tuple[SkuSettings, int]] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        named = isinstance(item, dict) and "sku" in item
        label = f"entry {position}" + (f" ({item['sku']})" if named else "")
        if not isinstance(item, dict):
            raise ValueError(f"{path}: {label}: expected a mapping of settings, got {item!r}")
        try:
            entry = CatalogEntry.model_validate(item)
        except ValidationError as error:
            raise ValueError(f"{path}: {label}: {validation_problems(error, 'entry')}") from None
        if entry.sku in seen:
            raise ValueError(f"{path}: {label}: SKU {entry.sku} is listed twice")
        seen.add(entry.sku)
        catalog.append((entry.settings(), entry.on_hand))
    return catalog


def definition_problem(catalog: Sequence[tuple[SkuSettings, int]], now: float) -> str | None:
    """Why defining ``catalog`` at epoch second ``now`` would refuse one of its SKUs (the
    owners' rule, ``policies.operations.invalid_settings``), asked before anything is
    defined so a service never starts with part of its catalogue; None when every SKU
    would be accepted. A SKU without ``on_sale_since`` goes on sale when it is defined,
    so an ``on_sale_until`` already past cannot be its show's end."""
    for settings, _ in catalog:
        problem = invalid_settings(settings)
        if problem:
            return f"SKU {settings.sku}: {problem}"
        until = settings.on_sale_until
        if settings.on_sale_since is None and until is not None and until <= now:
            end = datetime.fromtimestamp(until, UTC).isoformat()
            return (
                f"SKU {settings.sku}: on_sale_until ({end}) is already past and the SKU goes on sale "
                "when it is defined: give its on_sale_since too, or a later end"
            )
    return None


def catalog_to_define(path: Path, now: float) -> list[tuple[SkuSettings, int]]:
    """``load_catalog``, and refused whole (ValueError naming the file and the SKU) when
    defining it at ``now`` would refuse one of its SKUs: what ``serve`` and ``up`` load."""
    catalog = load_catalog(path)
    problem = definition_problem(catalog, now)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return catalog
