"""SKUs of a load run's own, in a running service's catalogue: created at the start under
a prefix of the run's, so the load never drains the stock a real show sells, and deleted
at the end where the service allows it (``DELETE /v1/skus/{sku}``, refused while a SKU
still holds reservations). Used by ``scripts/locustfile.py``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import requests

#: the most stock a SKU may be given (the service's limit): the load will not run out
LOAD_UNITS = 10_000_000


class CatalogueError(RuntimeError):
    """The service refused the run's SKUs (a token that is not an admin's, no service)."""


def load_sku_names(count: int, run_id: str | None = None) -> list[str]:
    """``count`` SKU names under the run's prefix ``load-<run id>-``."""
    if count < 1:
        raise ValueError(f"a load run needs at least one SKU, got {count}")
    run = run_id or uuid.uuid4().hex[:8]
    return [f"load-{run}-{n:03d}" for n in range(count)]


def create_skus(
    host: str, skus: Sequence[str], headers: Mapping[str, str], units: int = LOAD_UNITS, timeout: float = 30.0
) -> None:
    """Create ``skus`` with ``units`` each (``PUT /v1/skus/{sku}``, an admin's call)."""
    for sku in skus:
        try:
            response = requests.put(
                f"{host}/v1/skus/{sku}",
                json={"name": "load test", "on_hand": units, "lead_time_minutes": 60},
                headers=dict(headers),
                timeout=timeout,
            )
        except requests.RequestException as error:
            raise CatalogueError(f"no flashstock service at {host}: {error}") from None
        if response.status_code >= 300:
            raise CatalogueError(
                f"PUT /v1/skus/{sku}: HTTP {response.status_code} {response.text[:200]} (the load test "
                "creates its own SKUs: FLASHSTOCK_LOAD_TOKEN must be an admin's, or none on a loopback "
                "service without tokens)"
            )


def remove_skus(
    host: str, skus: Sequence[str], headers: Mapping[str, str], timeout: float = 30.0
) -> dict[str, list[str]]:
    """Delete ``skus`` where the service allows it: ``removed`` and ``kept`` names."""
    removed: list[str] = []
    kept: list[str] = []
    for sku in skus:
        try:
            response = requests.delete(f"{host}/v1/skus/{sku}", headers=dict(headers), timeout=timeout)
        except requests.RequestException:
            kept.append(sku)
            continue
        (removed if response.status_code < 300 else kept).append(sku)
    return {"removed": removed, "kept": kept}
