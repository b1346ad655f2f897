"""One local Ray for the whole session (starting Ray costs seconds on 2 cores)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from actors.infra.settings import RAY_NAMESPACE


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             log_to_driver=False, namespace=RAY_NAMESPACE)
    yield
    ray.shutdown()
