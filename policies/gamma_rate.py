"""Credible bounds of a Poisson rate: quantiles of its Gamma posterior.

Units: ``shape`` in orders (seen plus prior), ``rate`` in minutes (seen plus prior), the
quantile in orders per minute.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def gamma_quantile(shape: float, rate: float, probability: float) -> float:
    """The ``probability`` quantile of Gamma(shape, rate) (Wilson-Hilferty on chi-square:
    Gamma(a, b) = chi2(2a) / 2b); accurate to about 1% from shape 0.5 up."""
    if shape <= 0 or rate <= 0:
        return 0.0
    return max(_wilson_hilferty(shape, probability), 0.0) / rate


def _wilson_hilferty(k: float, p: float) -> float:
    """The p-quantile of chi2(2k) / 2, by the Wilson-Hilferty cube-root approximation."""
    z = NormalDist().inv_cdf(p)
    return k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3
