"""The Locust load test's own SKUs (``scripts.loadgen.own_catalogue``) in a running
service: created under the run's prefix with their stock, deleted at the end where the
service allows, and a refused token is a clear error."""

from __future__ import annotations

import pytest

from scripts.loadgen.own_catalogue import CatalogueError, create_skus, load_sku_names, remove_skus
from tests.e2e.conftest import TOKENS, Service


def test_load_skus_are_named_under_the_runs_prefix() -> None:
    assert load_sku_names(2, "r1") == ["load-r1-000", "load-r1-001"]
    with pytest.raises(ValueError, match="at least one SKU"):
        load_sku_names(0)


def test_the_load_test_creates_its_own_skus_and_removes_what_the_service_lets_it(service: Service) -> None:
    skus = load_sku_names(2)
    admin = service.headers("admin")

    create_skus(service.url, skus, admin, units=1234)

    for sku in skus:
        assert service.get(f"/v1/skus/{sku}").json()["on_hand"] == 1234
    result = remove_skus(service.url, skus, admin)
    assert sorted(result["removed"] + result["kept"]) == skus
    for sku in result["removed"]:
        assert service.get(f"/v1/skus/{sku}").status_code == 404
    for sku in result["kept"]:  # a service without DELETE /v1/skus/{sku}
        assert service.get(f"/v1/skus/{sku}").status_code == 200


def test_a_token_that_may_not_create_skus_is_a_clear_error(service: Service) -> None:
    with pytest.raises(CatalogueError, match="FLASHSTOCK_LOAD_TOKEN must be an admin's"):
        create_skus(service.url, load_sku_names(1), {"Authorization": f"Bearer {TOKENS['viewer']}"})
