"""SKU draws for generated load: Zipf-skewed, so a few hot SKUs take most orders, as in
a live show where the host features one product at a time."""

from __future__ import annotations

import itertools
import random

#: the skew of every generated load: rank ``k`` is drawn with weight ``1 / k**ZIPF_EXPONENT``
ZIPF_EXPONENT = 1.1


def zipf_cum_weights(count: int) -> list[float]:
    """Cumulative Zipf weights 1/k^1.1 of ranks 1..``count`` (for ``random.choices``)."""
    return list(itertools.accumulate(1 / (k**ZIPF_EXPONENT) for k in range(1, count + 1)))


def zipf_skus(count: int, rng: random.Random, n: int) -> list[str]:
    """``n`` SKU ids drawn with Zipf weights 1/k^1.1 over ``count`` SKUs."""
    return [f"SKU-{i:04d}" for i in (rng.choices(range(count), cum_weights=zipf_cum_weights(count), k=n))]
