"""A catalogue is checked whole before a service defines any of it
(``scripts.catalog.definition_problem``; ``flashstock serve`` / ``up`` exit 2 on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.ledger import SkuSettings
from scripts.catalog import definition_problem, load_catalog
from scripts.cli import main

NOW = 1_795_000_000.0


def test_a_catalogue_every_sku_of_which_the_owners_accept_has_no_problem() -> None:
    catalog = [
        (SkuSettings("A"), 5),
        (SkuSettings("B", on_sale_until=NOW + 3600), 5),
        (SkuSettings("C", on_sale_since=NOW - 7200, on_sale_until=NOW - 3600), 5),  # a past show, whole
    ]
    assert definition_problem(catalog, NOW) is None


def test_a_past_show_end_without_its_start_is_refused_naming_the_sku() -> None:
    catalog = [(SkuSettings("A"), 5), (SkuSettings("B", on_sale_until=NOW - 1), 5)]

    problem = definition_problem(catalog, NOW)

    assert problem is not None
    assert problem.startswith("SKU B: on_sale_until (")
    assert "is already past" in problem


def test_settings_the_owners_refuse_are_refused_before_anything_is_defined() -> None:
    catalog = [(SkuSettings("A"), 5), (SkuSettings("B", reservation_ttl_seconds=float("nan")), 5)]

    assert definition_problem(catalog, NOW) == "SKU B: reservation_ttl_seconds must be a number > 0"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("  - sku: A\n    on_hand: 5\n    lead_time_minutes: -3\n", "entry 0 (A): lead_time_minutes"),
        (
            "  - sku: A\n    on_hand: 5\n  - sku: B\n    on_sale_until: '2020-01-01T00:00:00+08:00'\n",
            "SKU B: on_sale_until (2019-12-31T16:00:00+00:00) is already past",
        ),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["up", "--address", "127.0.0.1:1"]])
def test_serve_and_up_refuse_a_catalogue_they_could_load_only_in_part(
    tmp_path: Path,
    body: str,
    problem: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1")  # up needs one; nothing connects to it
    path = tmp_path / "catalog.yaml"
    path.write_text("skus:\n" + body)
    load_ok = "entry 0" not in problem
    if load_ok:
        assert len(load_catalog(path)) == 2  # it loads: the owners would refuse B alone

    assert main([*command, "--catalog", str(path)]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"flashstock {command[0]}: ")
    assert problem in err
    assert len(err.strip().splitlines()) == 1
