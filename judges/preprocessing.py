"""Preprocessing applied to each side before judging: NaN handling, then optional IQR outlier removal.

Follows Kayenta's ``NetflixACAJudge.transformMetric``: NaN first (remove, or replace with 0.0), then the
``IQRDetector(factor, reduceSensitivity=True)`` fences ``[min(P1, Q1 - f*IQR), max(P99, Q3 + f*IQR)]`` with R-7
percentiles (numpy's default ``linear`` method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from judges._types import JudgeParams, NanStrategy, OutlierStrategy


@dataclass(frozen=True, slots=True)
class Prepared:
    """One side after preprocessing, with counts of what was dropped or replaced."""

    values: np.ndarray
    n_nan: int
    n_outliers: int


def iqr_outliers(x: np.ndarray, factor: float, reduce_sensitivity: bool = True) -> np.ndarray:
    """Boolean mask of outliers by Kayenta's IQR detector (R-7 quartiles)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros(x.shape, dtype=bool)
    p1, q1, q3, p99 = np.percentile(finite, [1, 25, 75, 99])
    iqr = q3 - q1
    lower, upper = q1 - factor * iqr, q3 + factor * iqr
    if reduce_sensitivity:
        lower, upper = min(p1, lower), max(p99, upper)
    return (x > upper) | (x < lower)


def prepare(values: np.ndarray, params: JudgeParams) -> Prepared:
    """Apply ``params.nan_strategy`` then ``params.outlier_strategy`` to one side.

    A side whose every value is NaN comes back empty (no data) whatever the NaN strategy: ``replace`` fills gaps in
    a measured series, it does not turn a missing one into zeros.
    """
    x = np.asarray(values, dtype=float).ravel()
    nan = np.isnan(x)
    n_nan = int(nan.sum())
    if n_nan == x.size:
        # a side that is all NaN was never measured (Kayenta's mixer pads a missing series with NaN): no data,
        # even under ``replace``, which would otherwise judge invented zeros and could pass a missing canary
        x = x[:0]
    elif n_nan:
        x = np.where(nan, 0.0, x) if params.nan_strategy is NanStrategy.REPLACE else x[~nan]
    n_out = 0
    if params.outlier_strategy is OutlierStrategy.REMOVE and x.size:
        mask = iqr_outliers(x, params.outlier_factor)
        n_out = int(mask.sum())
        x = x[~mask]
    return Prepared(x, n_nan, n_out)


def median(values: np.ndarray) -> float:
    """Median of one side for ``Statistics.baseline_median`` / ``canary_median``; NaN when the side is empty."""
    return float(np.median(values)) if np.size(values) else math.nan


def counts(baseline: Prepared, canary: Prepared) -> dict[str, float]:
    """What preprocessing dropped or replaced on each side, as the judges report it in ``Statistics.extra``."""
    return {"n_nan_baseline": baseline.n_nan, "n_nan_canary": canary.n_nan,
            "n_outliers_baseline": baseline.n_outliers, "n_outliers_canary": canary.n_outliers}
