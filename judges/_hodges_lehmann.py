"""Hodges-Lehmann shift estimate and the Moses/Bauer distribution-free confidence interval for it.

With ``D_(1) <= ... <= D_(nm)`` the ordered pairwise differences ``canary_i - baseline_j``:

* estimate: the median of the ``D`` (Hodges and Lehmann 1963);
* interval: ``[D_(C), D_(nm+1-C)]`` (Moses 1953; Bauer 1972, JASA 67:687-690), where C comes from

  - the exact null distribution of U when both samples have fewer than 50 points and no value is tied (R's
    default for ``wilcox.test(x, y, conf.int=TRUE)``): ``C = qwilcox(alpha/2, n, m)``, at least 1; the achieved
    confidence ``1 - 2 P(U <= C - 1)`` is reported, since only some levels are reachable;
  - otherwise the normal approximation with continuity correction, as R's asymptotic branch evaluates it: R
    solves ``(W(d) - 0.5 sign W(d)) / sigma = +/-z`` for d with ``uniroot``, and ``W(d)`` only jumps at the
    ``D``, so its roots are order statistics ``D_(k)``; this module returns those order statistics exactly, where
    R returns a point within ``uniroot``'s tolerance (1e-4) of them. Between the jumps no canary value is tied
    with a baseline value, so sigma carries only the ties within each sample, as in R. ``sigma`` is multiplied by
    ``sqrt(vif)`` for a variance inflation factor (serially correlated samples).

All of it costs a sort of each sample plus O(n + m) passes (see ``_pairwise``); the ``n*m`` differences are never
materialised. R's asymptotic estimate is a ``uniroot`` of a flat step when ``nm`` is even; the median is used in
both branches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

from judges import _pairwise
from judges._pairwise import order_statistics

__all__ = ["RankSummary", "ShiftInterval", "rank_summary", "shift_interval", "shift_intervals"]

EXACT_BELOW = 50  # R: exact when both samples have fewer points than this and nothing is tied


@dataclass(frozen=True, slots=True)
class ShiftInterval:
    """Hodges-Lehmann estimate of ``canary - baseline`` and its interval at ``confidence`` (achieved)."""

    estimate: float
    lower: float
    upper: float
    confidence: float
    method: str  # "exact" or "asymptotic"


@dataclass(frozen=True, slots=True)
class RankSummary:
    """Per batch row: U of the first sample (mid-ranks), the pooled tie term sum(t^3 - t), the same term over
    the ties within each sample only, and whether any value is tied."""

    u: np.ndarray
    pooled_ties: np.ndarray
    within_ties: np.ndarray
    tied: np.ndarray


def rank_summary(xs: np.ndarray, ys: np.ndarray) -> RankSummary:
    """Rank statistics of rows of sorted samples: U from merge positions, tie terms only where there are ties."""
    b = len(xs)
    jit = _pairwise.kernels(b * (xs.shape[1] + ys.shape[1]))
    if jit is not None:
        out = np.empty(b), np.empty(b), np.empty(b), np.empty(b, bool)
        jit.rank_summary(np.ascontiguousarray(xs, dtype=float), np.ascontiguousarray(ys, dtype=float), *out)
        return RankSummary(*out)
    u, cross = np.empty(b), np.zeros(b, bool)
    for r in range(b):
        left, right = np.searchsorted(ys[r], xs[r], "left"), np.searchsorted(ys[r], xs[r], "right")
        u[r] = left.sum() + 0.5 * (right - left).sum()
        cross[r] = (right > left).any()
    tied = cross | (xs[:, 1:] == xs[:, :-1]).any(axis=1) | (ys[:, 1:] == ys[:, :-1]).any(axis=1)
    pooled, within = np.zeros(b), np.zeros(b)
    cube = lambda v: float((np.unique(v, return_counts=True)[1].astype(float) ** 3).sum() - v.size)  # noqa: E731
    for r in np.flatnonzero(tied).tolist():
        pooled[r] = cube(np.concatenate([xs[r], ys[r]]))
        within[r] = cube(xs[r]) + cube(ys[r])
    return RankSummary(u, pooled, within, tied)


@lru_cache(maxsize=128)
def null_cdf(n: int, m: int) -> np.ndarray:
    """``P(U <= u)``, u = 0..nm, under the null without ties: the coefficients of the Gaussian binomial
    ``[n+m choose n]_q`` in exact integers, built as prod_i (1 - q^(m+i)) / (1 - q^i)."""
    c = [1]
    for i in range(1, n + 1):
        r = c + [0] * (m + i)
        for u, v in enumerate(c):
            r[u + m + i] -= v
        q = r[:len(c) + m]
        for u in range(i, len(q)):
            q[u] += q[u - i]
        c = q
    return np.cumsum(np.array(c, dtype=float)) / math.comb(n + m, n)


def _exact_c(n: int, m: int, alpha: float) -> tuple[int, float]:
    """R's ``qwilcox(alpha/2, n, m)`` (at least 1) and the achieved confidence ``1 - 2 P(U <= C - 1)``."""
    cdf = null_cdf(n, m)
    c = max(int(np.searchsorted(cdf, alpha / 2 - 10 * np.finfo(float).eps)), 1)
    return c, 1.0 - 2.0 * float(cdf[c - 1])


def _normal_rank(nm: int, c: np.ndarray) -> np.ndarray:
    """Smallest k in [1, nm] with ``g(k) = nm/2 - k - 0.5 sign(nm/2 - k) <= c`` (g is non-increasing)."""
    h = nm / 2
    below = np.ceil(h - 0.5 - c)
    k = np.where(below < h, below,
                 np.where((h == math.floor(h)) & (c >= 0), h, np.maximum(math.floor(h) + 1, np.ceil(h + 0.5 - c))))
    return np.clip(k, 1, nm).astype(np.int64)


def shift_intervals(xs: np.ndarray, ys: np.ndarray, confidence: float, *, vif: float | np.ndarray = 1.0,
                    exact: bool | None = None, ranks: RankSummary | None = None) -> dict[str, np.ndarray]:
    """Batched :func:`shift_interval` on rows of sorted samples of equal shapes (canary rows ``xs``, baseline rows
    ``ys``). Returns arrays ``estimate``, ``lower``, ``upper``, ``confidence`` and the bool array ``exact``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence}")
    vif = np.broadcast_to(np.asarray(vif, dtype=float), (len(xs),))
    if not (vif > 0).all():
        raise ValueError("`vif` must be positive")
    n, m = xs.shape[1], ys.shape[1]
    nm, big_n = n * m, n + m
    alpha = 1.0 - confidence
    ranks = rank_summary(xs, ys) if ranks is None else ranks
    use_exact = ~ranks.tied & (vif == 1.0) & (exact if exact is not None else (n < EXACT_BELOW and m < EXACT_BELOW))
    sigma = np.sqrt(nm / 12 * ((big_n + 1) - ranks.within_ties / (big_n * (big_n - 1))) * vif)
    t = -ndtri(alpha / 2) * sigma
    k_lo, k_hi = _normal_rank(nm, t), _normal_rank(nm, -t)
    # the widest interval [D_(1), D_(nm)] holds only the level at which the corrected W reaches nm/2 - 0.5; a
    # clipped rank is reported at that level, never at the one asked for (e.g. 21 autocorrelated points)
    ceiling = 1.0 - 2.0 * ndtr(-(nm / 2 - 0.5) / sigma)
    achieved = np.where(t >= nm / 2 - 0.5, np.minimum(ceiling, confidence), confidence)
    if use_exact.any():
        c, achieved_exact = _exact_c(n, m, alpha)
        k_lo, k_hi = np.where(use_exact, c, k_lo), np.where(use_exact, nm + 1 - c, k_hi)
        achieved = np.where(use_exact, achieved_exact, achieved)
    mid = ((nm - 1) // 2, nm // 2)
    pairs = np.stack([np.stack([k_lo - 1] * 2, 1), np.broadcast_to(mid, (len(xs), 2)),
                      np.stack([k_hi - 1] * 2, 1)], axis=1)
    d = order_statistics(xs, ys, pairs)
    a, b = d[:, 1, 0], d[:, 1, 1]
    with np.errstate(invalid="ignore"):
        est = np.where(a == b, a, np.clip(a / 2 + b / 2, a, b))
    est = np.where(np.isnan(est), 0.0, est)  # -inf and +inf in the middle: any value is a median
    return {"estimate": est, "lower": d[:, 0, 0], "upper": d[:, 2, 0], "confidence": achieved,
            "exact": use_exact}


def shift_interval(canary, baseline, confidence: float = 0.95, *, vif: float = 1.0,
                   exact: bool | None = None) -> ShiftInterval:
    """Hodges-Lehmann estimate of the shift ``canary - baseline`` and its Moses/Bauer confidence interval.

    Parameters
    ----------
    canary, baseline : 1-D array_like without NaN, each with at least one value.
    confidence : two-sided level in (0, 1).
    vif : variance inflation factor (> 0) applied to sigma as ``sigma * sqrt(vif)``; any value but 1 selects the
        normal approximation.
    exact : None for R's rule (exact when both samples have fewer than 50 points), True or False to force it;
        tied samples always take the normal approximation, as in R.

    Returns
    -------
    ShiftInterval
        ``lower <= estimate <= upper``, each an order statistic (or the mean of the two middle ones) of the
        pairwise differences; ``confidence`` is the achieved level (exact branch) or the requested one.

    References
    ----------
    Hollander, Wolfe and Chicken, *Nonparametric Statistical Methods*, 3rd ed., section 4.3; R ``wilcox.test``.
    """
    x = np.sort(np.asarray(canary, dtype=float).ravel())[None]
    y = np.sort(np.asarray(baseline, dtype=float).ravel())[None]
    if x.size == 0 or y.size == 0:
        raise ValueError("`canary` and `baseline` must each hold at least one value")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("`canary` and `baseline` must not contain NaN")
    r = shift_intervals(x, y, confidence, vif=vif, exact=exact)
    return ShiftInterval(float(r["estimate"][0]), float(r["lower"][0]), float(r["upper"][0]),
                         float(r["confidence"][0]), "exact" if r["exact"][0] else "asymptotic")
