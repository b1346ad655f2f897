"""``scripts.catalog``: ``on_sale_since`` / ``on_sale_until`` are ISO 8601 with a zone or
epoch seconds > 0; anything else is refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.catalog import load_catalog


def _load(tmp_path: Path, since: str, until: str = "null") -> float | None:
    path = tmp_path / "catalog.yaml"
    path.write_text(f"skus:\n  - sku: A\n    on_sale_since: {since}\n    on_sale_until: {until}\n")
    [(settings, _)] = load_catalog(path)
    return settings.on_sale_since


@pytest.mark.parametrize(
    "since", ["-5", "0", "-1.5", ".nan", ".inf", "-.inf", "1e300", "'2026-11-11T20:00:00'"]
)
def test_a_time_that_is_not_after_1970_or_has_no_zone_is_refused(tmp_path: Path, since: str) -> None:
    with pytest.raises(ValueError, match="on_sale_since"):
        _load(tmp_path, since)


def test_large_epoch_seconds_are_seconds_not_milliseconds(tmp_path: Path) -> None:
    # pydantic alone reads a number past 2e10 as milliseconds: 3e10 s would be 1970-12
    assert _load(tmp_path, "30000000000") == 30_000_000_000.0


def test_good_times_load(tmp_path: Path) -> None:
    assert _load(tmp_path, "1700000000") == 1_700_000_000.0
    assert _load(tmp_path, "'2026-11-11T20:00:00+08:00'") == 1_794_398_400.0


@pytest.mark.parametrize("until", ["1700000000", "1699999999"])
def test_an_end_not_after_the_start_is_refused(tmp_path: Path, until: str) -> None:
    with pytest.raises(ValueError, match="on_sale_until"):
        _load(tmp_path, "1700000000", until)
