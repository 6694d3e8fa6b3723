""":func:`judges.autocorrelation.serial_adjustment` and :meth:`SerialAdjustment.apply` for many metrics at once.

``judge_many`` corrects a whole group of equal-length metrics with a few array operations instead of a few dozen
scalar numpy and scipy calls per metric. The numbers are the scalar ones, bit for bit: the lag-1 sums of the ranks
are exact (half-integers, see ``_kernels.rank_lag1``), the value sums are the same numpy reductions and BLAS dot
products row by row, the scalar formulas (``ar1_vif``) are called as they are, and scipy's distributions are
evaluated element-wise. ``tests/judges/test_mann_whitney.py`` checks the equality against the scalar path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import t as student_t

from judges.autocorrelation import MIN_POINTS, WELCH_MARGIN, ar1_vif, welch_p

__all__ = ["SerialBatch", "serial_batch"]


@dataclass(frozen=True, slots=True)
class SerialBatch:
    """Per row what ``SerialAdjustment`` holds; ``active`` where the correction applies (``for_params`` is not
    None)."""

    phi: np.ndarray
    vif: np.ndarray
    n_eff: np.ndarray
    df: np.ndarray
    interval_vif: np.ndarray
    p_welch: np.ndarray
    active: np.ndarray

    def p_values(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(SerialAdjustment.p_value(p), SerialAdjustment.rank_p(p))`` row by row."""
        rank = np.array(p, dtype=float)
        use = self.active & (p > 0.0) & (p < 1.0)
        if use.any():
            z = -ndtri(p[use] / 2)
            rank[use] = np.minimum(1.0, 2 * student_t.sf(z / np.sqrt(self.vif[use]), self.df[use]))
        final = rank.copy()
        both = self.active & ~np.isnan(self.p_welch)
        final[both] = np.minimum(1.0, 2 * np.minimum(rank[both], self.p_welch[both]))
        return final, rank

    def extra(self, r: int) -> dict[str, float]:
        """``SerialAdjustment.extra()`` of row r."""
        return {"autocorrelation": float(self.phi[r]), "vif": float(self.vif[r]), "n_effective": float(self.n_eff[r]),
                "p_welch": float(self.p_welch[r])}


def _lag1(arms: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, int]:
    """``autocorrelation.lag1`` per row from each arm's lag-1 sum and sum of squares: (phi, usable, n)."""
    arms = [a for a in arms if a[2] >= MIN_POINTS]
    if not arms:
        return np.zeros(0), np.zeros(0, bool), 0
    num: np.ndarray | float = 0.0
    den: np.ndarray | float = 0.0
    for a_num, a_den, _ in arms:
        num, den = num + a_num, den + a_den
    n = float(np.mean([size for _, _, size in arms]))
    usable = np.asarray(den != 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = (n * (num / den) + 1) / (n - 4)
    return np.where(usable, phi, 0.0), usable, int(round(n))


def _row_lag(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lag-1 sum and sum of squares of each row centred once more, as ``lag1`` computes them (``np.vecdot`` is the
    BLAS dot of ``c[1:] @ c[:-1]`` row by row)."""
    c = c - c.mean(axis=1, keepdims=True)
    return np.vecdot(c[:, 1:], c[:, :-1]), np.vecdot(c, c)


def _welch(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``autocorrelation.welch_p`` of each row pair (rows of finite values), a block of rows at a time so that the
    temporaries stay in cache."""
    nb, nc = b.shape[1], c.shape[1]
    out = np.full(len(b), np.nan)
    if nb < 2 or nc < 2:
        return out
    step = max(1, (1 << 18) // (nb + nc))
    for lo in range(0, len(b), step):
        out[lo:lo + step] = _welch_block(b[lo:lo + step], c[lo:lo + step])
    return out


def _welch_block(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    nb, nc = b.shape[1], c.shape[1]
    out = np.full(len(b), np.nan)
    mb, mc = b.mean(axis=1), c.mean(axis=1)
    cb, cc = b - mb[:, None], c - mc[:, None]
    # ndarray.var(ddof=1): the same mean, centring, squares and sum
    var = np.add.reduce(cb * cb, axis=1) / (nb - 1) / nb + np.add.reduce(cc * cc, axis=1) / (nc - 1) / nc
    ok = var > 0
    arms = [(*_row_lag(v), v.shape[1]) for v in (cb, cc) if v.shape[1] >= MIN_POINTS]
    phi, usable, n = _lag1(arms)
    total = nb + nc
    vif = np.ones(len(b))
    if n:
        for r in np.flatnonzero(usable & ok):
            p = float(phi[r])
            vif[r] = ar1_vif(p + WELCH_MARGIN * (1 - min(max(p, 0.0), 1.0) ** 2) / math.sqrt(total), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(mc - mb) / np.sqrt(vif * var)
    out[ok] = np.minimum(1.0, 2 * student_t.sf(t[ok], np.maximum(total / vif[ok] - 2.0, 1.0)))
    return out


def serial_batch(baselines: np.ndarray, canaries: np.ndarray, rank_lag: tuple[np.ndarray, ...],
                 confidence: float) -> SerialBatch:
    """``serial_adjustment(baselines[r], canaries[r], confidence)`` for every row.

    Parameters
    ----------
    baselines, canaries : (k, m) and (k, n) arrays, rows in time order (preprocessed, no NaN).
    rank_lag : ``(num_b, den_b, num_c, den_c)``, the lag-1 sums of the centred mid-ranks of each row of either arm
        (``_kernels.rank_lag1``).
    confidence : the interval's two-sided level.
    """
    k, m = baselines.shape
    n_c = canaries.shape[1]
    num_b, den_b, num_c, den_c = rank_lag
    arms = [(num_b, den_b, m), (num_c, den_c, n_c)]
    phi, usable, n = _lag1(arms)
    phi_out, vif = np.zeros(k), np.ones(k)
    if n:
        total = sum(size for _, _, size in arms if size >= MIN_POINTS)
        for r in np.flatnonzero(usable):
            p = float(phi[r])
            p = p + (1 - min(max(p, 0.0), 1.0) ** 2) / (2 * math.sqrt(total))
            phi_out[r], vif[r] = p, ar1_vif(p, n)
    n_all = m + n_c
    n_eff = n_all / vif
    df = np.maximum(n_eff - 2.0, 1.0)
    active = vif > 1.0
    interval_vif, p_welch = np.ones(k), np.full(k, np.nan)
    if active.any():
        a = 1.0 - confidence
        ratio = student_t.isf(a / 2, df[active]) / float(-ndtri(a / 2))
        interval_vif[active] = vif[active] * ratio * ratio
        rows = np.flatnonzero(active & np.isfinite(baselines).all(axis=1) & np.isfinite(canaries).all(axis=1))
        if rows.size == k:
            p_welch = _welch(baselines, canaries)
        elif rows.size:
            p_welch[rows] = _welch(baselines[rows], canaries[rows])
        for r in np.flatnonzero(active & np.isnan(p_welch)):  # infinite values: the scalar function
            p_welch[r] = welch_p(baselines[r], canaries[r])
    # an inactive adjustment is SerialAdjustment(phi, 1.0, n, n - 2, 1.0): for_params drops it
    n_eff[~active], df[~active] = float(n_all), float(n_all - 2)
    return SerialBatch(phi_out, vif, n_eff, df, interval_vif, p_welch, active)
