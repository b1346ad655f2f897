"""The load testers' shared kit (``scripts/loadgen``): quantiles, Zipf SKU draws and
machine facts, as the simulator, the benchmarks and the chaos run report them."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from scripts.loadgen.machine import machine, machine_facts
from scripts.loadgen.skus import zipf_cum_weights, zipf_skus
from scripts.loadgen.stats import quantile


def test_quantiles_take_the_nearest_rank() -> None:
    assert quantile([], 0.5) is None
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.99) == 4.0


def test_zipf_weights_fall_with_rank() -> None:
    cumulative = zipf_cum_weights(4)
    weights = [cumulative[0]] + [b - a for a, b in itertools.pairwise(cumulative)]
    assert weights == sorted(weights, reverse=True)
    assert weights[0] == 1.0


def test_zipf_draws_are_seeded_and_favour_the_first_sku() -> None:
    draws = zipf_skus(100, random.Random(3), 5000)
    assert draws == zipf_skus(100, random.Random(3), 5000)
    counts = Counter(draws)
    assert counts.most_common(1)[0][0] == "SKU-0000"
    assert set(draws) <= {f"SKU-{i:04d}" for i in range(100)}


def test_machine_line_names_the_facts() -> None:
    facts = machine_facts()
    assert facts["cores"] >= 1
    assert machine() == f"{facts['arch']}, {facts['cores']} cores, Python {facts['python']}"
