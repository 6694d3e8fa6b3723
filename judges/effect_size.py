"""Effect sizes as Kayenta defines them (``stats/EffectSizes.scala``)."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def mean_ratio(baseline: np.ndarray, canary: np.ndarray) -> float:
    """mean(canary) / mean(baseline); NaN when either mean is exactly 0 or a side is empty."""
    if len(baseline) == 0 or len(canary) == 0:
        return math.nan
    mb, mc = float(np.mean(baseline)), float(np.mean(canary))
    if mb == 0.0 or mc == 0.0:
        return math.nan
    return mc / mb


def cles(baseline: np.ndarray, canary: np.ndarray) -> float:
    """Common-language effect size P(canary > baseline) + P(equal)/2 (Vargha-Delaney A, Kayenta's ``cles``)."""
    m, n = len(canary), len(baseline)
    if m == 0 or n == 0:
        return math.nan
    ranks = rankdata(np.concatenate([canary, baseline]))
    r1 = float(ranks[:m].sum())
    return (2.0 * r1 - m * (m + 1)) / (2.0 * n * m)
