"""Order statistics of the pairwise differences ``x_i - y_j`` of two sorted samples, without materialising them.

The ``n*m`` differences form a matrix that decreases along each row (``y`` ascending) and increases down each
column. A threshold ``t`` cuts every row in two: the columns ``j >= S_i(t)`` hold the differences ``<= t`` (or
``< t``); ``S_i`` is a merge of ``x - t`` into ``y``, an O(n + m) pass (a stable sort of two sorted runs). A
selection keeps, for each wanted rank range, a lower and an upper cut whose counts bracket the ranks, and shrinks
the band between them until it is small, then materialises the band and reads the ranks off it. So the result is
always an actual difference, bit for bit what ``np.sort(np.subtract.outer(x, y).ravel())[k]`` gives.

* The first two cuts come from a grid sample: the differences of G evenly spaced order statistics of each sample
  (one per block of a G x G grid of the sorted matrix, as in Frederickson and Johnson, "Generalized selection
  and ranking: sorted matrices", SIAM J. Comput. 13, 1984), whose quantiles are within a few grid ranks of the
  true ones on smooth data; the cuts sit a safe margin either side.
* Each later pair of cuts is placed by interpolating the ranks between the two bracketing cuts (regula falsi)
  with a margin of about 3 sqrt(band); a round that fails to halve the band bisects the band's value range in
  the order of IEEE doubles instead, which ends in at most 64 rounds on any data, including heavily tied data,
  where the band collapses onto a single value.

On smooth data that is two passes (six merges for an interval and a median) and a selection in bands of at most
``max(256, (n + m) / 2)`` values; after the sort of each sample, O((n + m) log(n + m)) time in all.

Infinite values are allowed: ``inf - inf`` of equal signs is taken as 0, the two values being tied, as in the
ranks. NaN must not be passed.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

__all__ = ["count_below", "kernels", "kth_difference", "order_statistics"]

_BRUTE_MAX = 4096      # n*m up to which the differences are simply materialised
_CHUNK = 1 << 17       # elements per merge pass, to stay in cache
_BAND_MIN = 256        # bands up to max(this, (n + m) / 2) values are materialised
_SIGN = np.int64(-(2 ** 63))


# Points (sum of n + m over the metrics of a call) from which the compiled kernels are used: loading numba and
# the cached kernels costs about 0.3 s in a new process (their first compilation, once, about 10 s), as much as
# the numpy path spends on some 500 metrics of 360 points per arm or 30 of 10,000.
JIT_MIN_POINTS = 1 << 19


def kernels(points: float = math.inf):
    """The compiled kernels (``judges._kernels``) for a call covering ``points`` values, or None below
    ``JIT_MIN_POINTS`` or where numba is not installed: the caller then takes the numpy path, with the same
    results."""
    return _load() if points >= JIT_MIN_POINTS else None


@cache
def _load():
    try:
        from judges import _kernels
    except ImportError:
        return None
    return _kernels


@cache
def _pool() -> ThreadPoolExecutor:
    """One pool for every call (callers judge in blocks of rows: a pool per call would start threads each time)."""
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="canary-judge")


def _threads(rows: int, points: int) -> int:
    """Threads for a kernel call over ``rows`` metrics (the kernels release the GIL): one per CPU from some 65,000
    points, with at least 16 metrics each."""
    return max(1, min(os.cpu_count() or 1, rows // 16)) if points >= 1 << 16 else 1


def _sub(a, b) -> np.ndarray:
    """``a - b`` for finite samples (overflowing to +/-inf, as the brute force does)."""
    with np.errstate(over="ignore"):
        return np.subtract(a, b)


def _diff(a, b) -> np.ndarray:
    """``a - b`` with ``inf - inf`` of one sign taken as 0."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.subtract(a, b)
    return np.where(np.isnan(d), 0.0, d)


def _groups(ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of the tie group of every ``ys[b, j]``."""
    m = ys.shape[1]
    cols = np.broadcast_to(np.arange(m), ys.shape)
    new = np.ones(ys.shape, bool)
    new[:, 1:] = ys[:, 1:] != ys[:, :-1]
    start = np.maximum.accumulate(np.where(new, cols, 0), axis=1)
    last = np.ones(ys.shape, bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, cols + 1, m)[:, ::-1], axis=1)[:, ::-1]
    return start, end


def _cuts(xs, ys, groups, row, t, strict, diff=_diff) -> np.ndarray:
    """``S[g, i]``: first column of matrix row ``i`` of batch row ``row[g]`` whose difference is ``<= t[g]``
    (``< t[g]`` where ``strict[g]``). Exact: the merge position is checked against the rounded differences."""
    n, m = xs.shape[1], ys.shape[1]
    g = len(row)
    # D < t is D <= the float below t, for every t but -inf (where nothing is below)
    t = np.where(strict, np.nextafter(t, -np.inf), t)[:, None]
    x = xs[row]
    with np.errstate(invalid="ignore", over="ignore"):
        q = x - t
    q[np.isnan(q)] = -np.inf
    order = np.argsort(np.concatenate([q, ys[row]], axis=1), axis=1, kind="stable")
    s = np.flatnonzero(order < n).reshape(g, n)
    s -= (np.arange(g) * (n + m))[:, None] + np.arange(n)
    base = (row * m)[:, None]
    y, start, end = ys.ravel(), groups[0].ravel(), groups[1].ravel()
    while True:  # a few ulps of rounding in x - t at most; each step moves past a whole tie group
        below, at = base + np.maximum(s - 1, 0), base + np.minimum(s, m - 1)
        down = (s > 0) & (diff(x, y[below]) <= t)
        up = (s < m) & (diff(x, y[at]) > t)
        if not (down.any() or up.any()):
            break
        s = np.where(down, start[below], np.where(up, end[at], s))
    s[strict & (t[:, 0] == -np.inf)] = m
    return s


def count_below(xs: np.ndarray, ys: np.ndarray, t: float, strict: bool = False) -> np.ndarray:
    """Per batch row, the number of pairs with ``x_i - y_j <= t`` (``< t`` if ``strict``); rows sorted."""
    b = xs.shape[0]
    s = _cuts(xs, ys, _groups(ys), np.arange(b), np.full(b, float(t)), np.full(b, strict))
    return (ys.shape[1] - s).sum(axis=1)


def _to_key(v: np.ndarray) -> np.ndarray:
    i = np.asarray(v, dtype=np.float64).view(np.int64)
    return np.where(i < 0, _SIGN - i, i)


def _from_key(k: np.ndarray) -> np.ndarray:
    return np.where(k < 0, _SIGN - k, k).astype(np.int64).view(np.float64)


def _brute(xs, ys, ranks) -> np.ndarray:
    d = _diff(xs[:, :, None], ys[:, None, :]).reshape(xs.shape[0], -1)
    d.partition(np.unique(ranks), axis=1)
    return np.take_along_axis(d, ranks, 1)


def _guess(xs, ys, a, b):
    """Pivots below ``D_(a)`` and above ``D_(b)`` and wider soft bounds, from a grid sample of differences (the
    midpoints of a G x G grid of blocks); the grid quantile is off by 2 to 5 grid ranks (sd) on smooth data."""
    n, m = xs.shape[1], ys.shape[1]
    grid = int(np.clip(1.2 * np.sqrt(n + m), 16, 128))
    gn, gm = min(n, grid), min(m, grid)
    d = _diff(xs[:, (np.arange(gn) * 2 + 1) * n // (2 * gn), None],
              ys[:, None, (np.arange(gm) * 2 + 1) * m // (2 * gm)]).reshape(len(xs), -1)
    size = gn * gm
    delta = 3 + grid // 8
    pos = np.concatenate([((a + 0.5) * size / (n * m)).astype(np.int64)[..., None] - [4 * delta, delta],
                          ((b + 0.5) * size / (n * m)).astype(np.int64)[..., None] + [delta, 4 * delta]], axis=-1)
    pos = np.clip(pos, 0, size - 1)
    d.partition(np.unique(pos), axis=1)
    vals = np.take_along_axis(d[:, None, :], pos, 2)
    # nudged off the grid's own differences, whose merge positions would need rounding fixes
    nudge = np.where(np.isfinite(vals), np.abs(vals) * 2.0 ** -30, 0.0)
    return vals[..., 0], vals[..., 1] - nudge[..., 1], vals[..., 2] + nudge[..., 2], vals[..., 3]


def _mid_key(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    return (k1 >> 1) + (k2 >> 1) + (k1 & k2 & 1)


def _refine(xs, ys, row, a, b, pivots, soft, diff) -> np.ndarray:
    """``(D_(a[g]), D_(b[g]))`` of batch row ``row[g]`` (``b = a`` or ``a + 1``)."""
    n, m = xs.shape[1], ys.shape[1]
    groups = _groups(ys)
    g = len(row)
    band_max = max(_BAND_MIN, (n + m) // 2)
    # a band lies between a lower cut (count c_lo <= a, every band value >= t_lo) and an upper cut (count
    # c_hi > b, every band value <= t_hi); it starts as the whole matrix
    s_lo, c_lo, t_lo = np.full((g, n), m), np.zeros(g, np.int64), np.full(g, -np.inf)
    s_hi, c_hi, t_hi = np.zeros((g, n), np.int64), np.full(g, n * m), np.full(g, np.inf)
    soft_lo, soft_hi = soft
    bisect = np.zeros(g, bool)
    result = np.empty((g, 2))
    active = np.arange(g)
    p1, p2 = pivots
    while True:
        ka = len(active)
        new = _cuts(xs, ys, groups, np.concatenate([row[active]] * 2), np.concatenate([p1, p2]),
                    np.arange(2 * ka) >= ka, diff)
        counts = (m - new).sum(1)
        width = c_hi[active] - c_lo[active]
        split = np.zeros(ka, bool)
        for half, val in ((slice(0, ka), p1), (slice(ka, 2 * ka), p2)):
            c, s = counts[half], new[half]
            upd = (c <= a[active]) & (c >= c_lo[active])
            c_lo[active[upd]], s_lo[active[upd]], t_lo[active[upd]] = c[upd], s[upd], val[upd]
            upd = (c > b[active]) & (c <= c_hi[active])
            c_hi[active[upd]], s_hi[active[upd]], t_hi[active[upd]] = c[upd], s[upd], val[upd]
            # a cut between the two ranks of a median pair: the largest value below it and the smallest above
            cut = (c > a[active]) & (c <= b[active]) & ~split
            if cut.any():
                x, y, sc = xs[row[active[cut]]], ys[row[active[cut]]], s[cut]
                below = np.where(sc < m, diff(x, np.take_along_axis(y, np.minimum(sc, m - 1), 1)), -np.inf)
                above = np.where(sc > 0, diff(x, np.take_along_axis(y, np.maximum(sc - 1, 0), 1)), np.inf)
                result[active[cut]] = np.stack([below.max(1), above.min(1)], axis=1)
                split |= cut
        bisect[active] = (c_hi[active] - c_lo[active]) * 2 > width
        width = c_hi[active] - c_lo[active]
        small = ~split & (width <= band_max)
        if small.any():
            sel = active[small]
            result[sel] = _materialise(xs, ys, row[sel], s_hi[sel], s_lo[sel], a[sel] - c_lo[sel],
                                       b[sel] - c_lo[sel], diff)
        keep = ~split & ~small
        active, soft_lo, soft_hi = active[keep], soft_lo[keep], soft_hi[keep]
        if not active.size:
            return result
        # regula falsi on the rank between the two cuts, with a margin either side
        width = (c_hi[active] - c_lo[active]).astype(float)
        lo_v = np.where(np.isfinite(t_lo[active]), t_lo[active], soft_lo)
        hi_v = np.where(np.isfinite(t_hi[active]), t_hi[active], soft_hi)
        with np.errstate(invalid="ignore", over="ignore"):
            margin = (3 * np.sqrt(width) + width / 256 + 4) / width
            p1 = lo_v + (hi_v - lo_v) * np.clip((a[active] - c_lo[active] + 0.5) / width - margin, 0, 1)
            p2 = lo_v + (hi_v - lo_v) * np.clip((b[active] - c_lo[active] + 0.5) / width + margin, 0, 1)
        # when that stalls (ties, or a poor soft bound), bisect the band's value range in the order of the doubles
        stalled = bisect[active] | ~np.isfinite(p1) | ~np.isfinite(p2) | (p1 > p2)
        if stalled.any():
            sel = active[stalled]
            x, y, band = xs[row[sel]], ys[row[sel]], s_lo[sel] > s_hi[sel]
            top = np.where(band, diff(x, np.take_along_axis(y, np.minimum(s_hi[sel], m - 1), 1)), -np.inf).max(1)
            bottom = np.where(band, diff(x, np.take_along_axis(y, np.maximum(s_lo[sel] - 1, 0), 1)),
                              np.inf).min(1)
            constant = top == bottom
            result[sel[constant]] = top[constant, None]
            mid = _from_key(_mid_key(_to_key(bottom), _to_key(top)))
            p1[stalled], p2[stalled] = mid, mid
            keep = ~(stalled & np.isin(active, sel[constant]))
            active, p1, p2 = active[keep], p1[keep], p2[keep]
            soft_lo, soft_hi = soft_lo[keep], soft_hi[keep]
            if not active.size:
                return result


def _materialise(xs, ys, row, s_hi, s_lo, r1, r2, diff) -> np.ndarray:
    """Values at ranks ``r1[g]``, ``r2[g]`` of band g, the band being columns ``[s_hi, s_lo)`` of every row."""
    g, n = s_hi.shape
    w = (s_lo - s_hi).ravel()
    total = int(w.sum())
    j = np.repeat(s_hi.ravel() - (np.cumsum(w) - w), w) + np.arange(total)
    i = np.repeat(np.tile(np.arange(n), g), w)
    size = (s_lo - s_hi).sum(1)
    grp = np.repeat(np.arange(g), size)
    pad = np.full((g, int(size.max())), np.inf)
    pad[grp, np.arange(total) - np.repeat(np.cumsum(size) - size, size)] = diff(xs[row[grp], i], ys[row[grp], j])
    if g <= 8:  # a few long bands: select in each; many short ones: one sort
        for k in range(g):
            pad[k].partition(np.unique([r1[k], r2[k]]))
    else:
        pad.sort(axis=1)
    return np.stack([pad[np.arange(g), r1], pad[np.arange(g), r2]], axis=1)


def order_statistics(xs: np.ndarray, ys: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Exact order statistics of the pairwise differences ``xs[b, i] - ys[b, j]``.

    Parameters
    ----------
    xs, ys : (B, n) and (B, m) arrays, each row sorted ascending, without NaN.
    ranks : (B, R, 2) int array of 0-based rank pairs ``(a, b)``, ``b`` being ``a`` or ``a + 1`` (the two middle
        ranks of a median come out of one band).

    Returns
    -------
    (B, R, 2) float array: ``D_(a)`` and ``D_(b)``, ``D`` being the row's ``n*m`` differences sorted ascending.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    ranks = np.asarray(ranks, dtype=np.int64)
    nb, n = xs.shape
    m = ys.shape[1]
    jit = kernels(nb * (n + m))
    if jit is not None:
        out = np.empty(ranks.shape)
        # past a band of about n + m values a selection in place costs more than another walk
        band = n * m if n * m <= _BRUTE_MAX else max(_BAND_MIN, n + m)
        xs, ys, ranks = np.ascontiguousarray(xs), np.ascontiguousarray(ys), np.ascontiguousarray(ranks)
        workers = _threads(nb, nb * (n + m))
        if workers == 1:
            jit.order_statistics(xs, ys, ranks, band, out)
        else:
            step = -(-nb // workers)
            list(_pool().map(lambda lo: jit.order_statistics(xs[lo:lo + step], ys[lo:lo + step],
                                                             ranks[lo:lo + step], band, out[lo:lo + step]),
                             range(0, nb, step)))
        return out
    if n * m <= _BRUTE_MAX:
        return _brute(xs, ys, ranks.reshape(nb, -1)).reshape(ranks.shape)
    out = np.empty(ranks.shape)
    per_row = ranks.shape[1]
    diff = _sub if np.isfinite(xs).all() and np.isfinite(ys).all() else _diff
    step = max(1, _CHUNK // (2 * per_row * (n + m)))
    for lo in range(0, nb, step):
        x, y, k = xs[lo:lo + step], ys[lo:lo + step], ranks[lo:lo + step]
        soft_lo, p1, p2, soft_hi = _guess(x, y, k[..., 0], k[..., 1])
        row = np.repeat(np.arange(len(x)), per_row)
        res = _refine(x, y, row, k[..., 0].ravel(), k[..., 1].ravel(), (p1.ravel(), p2.ravel()),
                      (soft_lo.ravel(), soft_hi.ravel()), diff)
        out[lo:lo + step] = res.reshape(len(x), per_row, 2)
    return out


def kth_difference(x, y, k: int) -> float:
    """The ``k``-th smallest (0-based) of all ``x_i - y_j``; equals ``np.sort(np.subtract.outer(x, y).ravel())[k]``."""
    xs, ys = np.sort(np.asarray(x, dtype=float))[None], np.sort(np.asarray(y, dtype=float))[None]
    if not 0 <= k < xs.size * ys.size:
        raise ValueError(f"`k` must be in [0, {xs.size * ys.size}), got {k}")
    return float(order_statistics(xs, ys, np.array([[[k, k]]]))[0, 0, 0])
