"""Compiled (numba) loops of the rank judges: one merge per metric for the rank statistics, and the exact
selection of order statistics of the pairwise differences.

Samples are sorted by numpy before they get here (its SIMD sort is about ten times numba's). Every kernel takes
2-D arrays, one metric per row, and releases the GIL, so that callers can run blocks of rows on threads.

* :func:`rank_summary`: U of the first sample (mid-ranks), the pooled tie term ``sum(t^3 - t)``, the same term
  within each sample and whether anything is tied, from one linear merge of the two sorted rows.
* :func:`rank_lag1`: the lag-1 cross product and the sum of squares of the centred mid-ranks of a sample in time
  order (what ``judges.autocorrelation.lag1`` pools), from its sorting permutation. Mid-ranks and their mean
  ``(n + 1) / 2`` are multiples of 1/2, so both sums are exact, in any order of summation.
* :func:`order_statistics`: exact order statistics of the ``n*m`` differences ``x_i - y_j`` of two sorted rows,
  bit for bit ``np.sort(np.subtract.outer(x, y).ravel())[k]`` with ``inf - inf`` of one sign taken as 0. The
  differences form a matrix that decreases along each row and increases down each column, so ``{D <= t}`` is a
  staircase, counted by a two-pointer walk in O(n + m) (Johnson and Mizoguchi, "Selecting the Kth element in
  X + Y and X1 + X2 + ... + Xm", SIAM J. Comput. 7, 1978; Monahan, "Fast computation of the Hodges-Lehmann
  location estimator", ACM TOMS 10, 1984). The candidates for a wanted rank lie in a band between a lower and an
  upper staircase; each round places two pivots around the rank: order statistics of a stratified sample of the
  band (one sample of the whole matrix serves every rank in the first round; the jitter comes from a fixed-seed
  xorshift, so results and work are deterministic) or, once a round has at least halved the band, values
  interpolated between the band's bounding values (regula falsi) with a margin of about 3 sqrt(band). The lower
  pivot counts ``D <= p``, the upper one ``D < p``; a sampled pivot is a band value, so a sampling round either
  shrinks the band or shows it to be one repeated value, which bounds the work on any data, ties included. A band
  of at most ``band_max`` values is copied out and selected in place (branch-free three-way quickselect). The
  walks of all the wanted ranks share one pass over the rows, which overlaps their dependency chains. Smooth data
  take one sampling round and two or three interpolations: O((n + m) log(n + m)) time, O(n + m) memory.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["order_statistics", "rank_lag1", "rank_summary"]

_SAMPLE_MIN, _SAMPLE_MAX = 64, 1024  # pivots come from a sample of about sqrt(band) band values
_PAD = 8  # columns per branch-free step of a walk
_SEED = 0x5EED


@numba.njit(cache=True, nogil=True, inline="always")
def _d(x, y):
    d = x - y
    return 0.0 if d != d else d  # inf - inf of one sign: two tied values


@numba.njit(cache=True, nogil=True)
def rank_summary(xs, ys, u, pooled, within, tied):
    """Per row of sorted ``xs`` (n) and ``ys`` (m): ``u`` = #{x > y} + #{x = y}/2, tie terms, any tie."""
    n, m = xs.shape[1], ys.shape[1]
    for r in range(xs.shape[0]):
        x, y = xs[r], ys[r]
        # U from a two-pointer merge; ties are rare, so the tie terms get a second pass only when there are some
        j = k = 0
        twice_u = equal = 0
        for i in range(n):
            xi = x[i]
            while j < m and y[j] < xi:
                j += 1
            k = max(k, j)
            while k < m and y[k] <= xi:
                k += 1
            twice_u += j + k
            equal += k - j
        u[r] = twice_u / 2
        any_tie = equal > 0
        for i in range(n - 1):
            any_tie |= x[i] == x[i + 1]
        for j in range(m - 1):
            any_tie |= y[j] == y[j + 1]
        pooled[r] = within[r] = 0.0
        tied[r] = any_tie
        if any_tie:
            pooled[r], within[r] = _tie_terms(x, y)


@numba.njit(cache=True, nogil=True)
def _tie_terms(x, y):
    """``sum(t^3 - t)`` over the tie groups of the pooled sorted samples, and over those of each sample."""
    n, m = x.size, y.size
    i = j = 0
    pool = inner = 0.0
    while i < n or j < m:
        v = x[i] if j >= m or (i < n and x[i] <= y[j]) else y[j]
        a = i
        while a < n and x[a] == v:
            a += 1
        b = j
        while b < m and y[b] == v:
            b += 1
        tx, ty = float(a - i), float(b - j)
        t = tx + ty
        pool += t * t * t - t
        inner += tx * tx * tx - tx + ty * ty * ty - ty
        i, j = a, b
    return pool, inner


@numba.njit(cache=True, nogil=True)
def rank_lag1(sorted_rows, order, num, den):
    """Per row: ``num = sum c_t c_{t+1}`` and ``den = sum c_t^2`` of the centred mid-ranks ``c`` in time order;
    ``sorted_rows[r] = values[r][order[r]]``."""
    n = sorted_rows.shape[1]
    mean = (n + 1) / 2
    for r in range(sorted_rows.shape[0]):
        s, o = sorted_rows[r], order[r]
        c = np.empty(n)
        g = 0
        while g < n:
            e = g + 1
            while e < n and s[e] == s[g]:
                e += 1
            mid = (g + 1 + e) / 2 - mean
            for k in range(g, e):
                c[o[k]] = mid
            g = e
        a = b = 0.0
        for t in range(n - 1):
            a += c[t] * c[t + 1]
            b += c[t] * c[t]
        num[r] = a
        den[r] = b + c[n - 1] * c[n - 1]


@numba.njit(cache=True, nogil=True)
def _walk(x, yp, m, pool, tops, bots, outs, ps, count, pos, width):
    """One pass over the rows for all pivots at once: ``pool[i, outs[q]]`` becomes the first column of row i
    with ``D <= ps[q]``, clamped to ``[pool[i, tops[q]], pool[i, bots[q]]]``, and ``count[q]`` the number of
    differences in that staircase. The pivots' pointers are independent chains, so their work overlaps; each
    moves in branch-free, vectorised steps of ``width`` (= ``_PAD``, passed at run time so that the loop is
    vectorised rather than unrolled) columns of ``yp``, ``y`` padded with ``_PAD`` values."""
    for q in range(ps.size):
        pos[q] = 0
        count[q] = 0
    for i in range(x.size):
        xi = x[i]
        for q in range(ps.size):
            s = max(max(pos[q], pool[i, tops[q]]), 0)
            e = pool[i, bots[q]]
            p = ps[q]
            nan_above = 0.0 > p  # inf - inf counts as 0
            while True:
                k = 0
                for t in range(width):
                    d = xi - yp[s + t]
                    k += (d > p) | ((d != d) & nan_above)
                if k < width or s + width >= e:
                    s = min(s + k, e)
                    break
                s += width
            pool[i, outs[q]] = s
            pos[q] = s
            count[q] += m - s


@numba.njit(cache=True, nogil=True)
def _split(x, yp, m, cut):
    """The largest difference inside the staircase ``cut`` and the smallest outside it."""
    below, above = -np.inf, np.inf
    for i in range(x.size):
        s = cut[i]
        if s < m:
            below = max(below, _d(x[i], yp[s]))
        if s > 0:
            above = min(above, _d(x[i], yp[s - 1]))
    return below, above


@numba.njit(cache=True, nogil=True)
def _partition(v, lo, hi):
    """Three-way partition of ``v[lo:hi]`` around the median of its first, middle and last values: returns
    ``(i, j)`` with ``v[lo:i] < p``, ``v[i:j] == p`` (never empty) and ``v[j:hi] > p``. Lomuto's scheme with an
    unconditional swap, so no branch depends on the data."""
    a, b, c = v[lo], v[(lo + hi) >> 1], v[hi - 1]
    p = max(min(a, b), min(max(a, b), c))
    i = lo
    for k in range(lo, hi):
        w = v[k]
        v[k] = v[i]
        v[i] = w
        i += w < p
    j = i
    for k in range(i, hi):
        w = v[k]
        v[k] = v[j]
        v[j] = w
        j += w <= p
    return i, j


@numba.njit(cache=True, nogil=True)
def _nth(v, lo, hi, k):
    """Move the k-th smallest of ``v[lo:hi]`` to ``v[k]``, smaller ones before it, larger after (in place)."""
    while hi - lo > 1:
        i, j = _partition(v, lo, hi)
        if k < i:
            hi = i
        elif k >= j:
            lo = j
        else:
            return


@numba.njit(cache=True, nogil=True)
def _multiselect(v, size, ks):
    """Put the ``ks[q]``-th smallest of ``v[:size]`` at ``v[ks[q]]`` for every q (``ks`` ascending): quickselect
    that descends only into the parts holding a wanted rank, O(size log len(ks))."""
    if ks.size == 0:
        return
    stack = np.empty((ks.size, 4), np.int64)  # disjoint runs of ks with the part of v that holds them
    stack[0] = 0, size, 0, ks.size
    top = 1
    while top:
        top -= 1
        lo, hi, qa, qb = stack[top]
        if qb - qa == 1 or hi - lo <= 1:
            _nth(v, lo, hi, ks[qa])
            continue
        i, j = _partition(v, lo, hi)
        q1 = qa
        while q1 < qb and ks[q1] < i:
            q1 += 1
        q2 = q1
        while q2 < qb and ks[q2] < j:
            q2 += 1  # ranks in [i, j) hold the pivot's value already
        if q1 > qa:
            stack[top] = lo, i, qa, q1
            top += 1
        if qb > q2:
            stack[top] = j, hi, q2, qb
            top += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _next(state):
    state ^= state << np.uint64(13)
    state ^= state >> np.uint64(7)
    state ^= state << np.uint64(17)
    return state


@numba.njit(cache=True, nogil=True, inline="always")
def _sample_size(w):
    return min(w, max(_SAMPLE_MIN, min(_SAMPLE_MAX, int(math.sqrt(w)))))


@numba.njit(cache=True, nogil=True)
def _sample(x, yp, m, pool, top, bot, w, size, state, buf):
    """A stratified sample of ``size`` of the ``w`` band values (rows ``top``, ``bot`` of ``pool``; -1: the whole
    matrix) into ``buf``, one value at a jittered position in each of ``size`` equal slices."""
    step = w / size
    i = start = 0
    for k in range(size):
        state = _next(state)
        pos = min(int((k + (state >> np.uint64(11)) * 2.0 ** -53) * step), w - 1)
        if top < 0:
            i = pos // m
            buf[k] = _d(x[i], yp[pos - i * m])
        else:
            while pos >= start + pool[i, bot] - pool[i, top]:
                start += pool[i, bot] - pool[i, top]
                i += 1
            buf[k] = _d(x[i], yp[pool[i, top] + pos - start])
    return state


@numba.njit(cache=True, nogil=True)
def _pivot_ranks(a, b, c_lo, w, size):
    """Sample ranks just below rank ``a`` and just above rank ``b`` of a band of ``w`` values above ``c_lo``."""
    delta = 1.5 * math.sqrt(size) + 1.0
    r1 = min(max(int((a - c_lo + 0.5) / w * size - delta), 0), size - 1)
    r2 = min(max(int(math.ceil((b - c_lo + 0.5) / w * size + delta)), r1), size - 1)
    return r1, r2


@numba.njit(cache=True, nogil=True)
def _select(x, yp, m, ranks, band_max, res, pool, buf):
    """``res[t] = (D_(ranks[t, 0]), D_(ranks[t, 1]))`` for every target t (``ranks[t, 1]`` is ``ranks[t, 0]``
    or one more) of row ``x`` against the padded column ``yp`` (``m`` values), all targets in lock step."""
    n = x.size
    nt = ranks.shape[0]
    total = n * m
    # pool columns 4t .. 4t + 3: target t's top staircase, bottom staircase and its two pivots' cuts
    rows = np.empty((nt, 4), np.int64)
    c_lo = np.zeros(nt, np.int64)
    c_hi = np.full(nt, total, np.int64)
    t_lo = np.full(nt, -np.inf)
    t_hi = np.full(nt, np.inf)
    sample = np.ones(nt, np.bool_)
    active = np.ones(nt, np.bool_)
    for t in range(nt):
        for k in range(4):
            rows[t, k] = 4 * t + k
        pool[:, 4 * t] = 0
        pool[:, 4 * t + 1] = m
    ps = np.empty(2 * nt)
    tops = np.empty(2 * nt, np.int64)
    bots = np.empty(2 * nt, np.int64)
    outs = np.empty(2 * nt, np.int64)
    owner = np.empty(2 * nt, np.int64)
    count = np.empty(2 * nt, np.int64)
    pos = np.empty(2 * nt, np.int64)
    wanted = np.empty(2 * nt, np.int64)
    state = np.uint64(_SEED)
    first = True
    while True:
        for t in range(nt):
            w = c_hi[t] - c_lo[t]
            if active[t] and w <= band_max:
                top, bot = rows[t, 0], rows[t, 1]
                k = 0
                for i in range(n):
                    xi = x[i]
                    for j in range(pool[i, top], pool[i, bot]):
                        buf[k] = _d(xi, yp[j])
                        k += 1
                a, b = ranks[t, 0] - c_lo[t], ranks[t, 1] - c_lo[t]
                _nth(buf, 0, w, a)
                hi = buf[a]
                if b > a:  # the next value up: the smallest of those after a
                    hi = np.inf
                    for j in range(a + 1, w):
                        hi = min(hi, buf[j])
                res[t, 0], res[t, 1] = buf[a], hi
                active[t] = False
        if not active.any():
            return
        npiv = 0
        shared = first
        if first:  # every band is the whole matrix: one sample serves all targets
            size = _sample_size(total)
            state = _sample(x, yp, m, pool, -1, -1, total, size, state, buf)
            for t in range(nt):
                if active[t]:
                    wanted[2 * t], wanted[2 * t + 1] = _pivot_ranks(ranks[t, 0], ranks[t, 1], 0, total, size)
                else:
                    wanted[2 * t] = wanted[2 * t + 1] = 0
            _multiselect(buf, size, np.sort(wanted[:2 * nt]))
            first = False
        for t in range(nt):
            if not active[t]:
                continue
            w = c_hi[t] - c_lo[t]
            a, b = ranks[t, 0], ranks[t, 1]
            if not sample[t]:
                margin = (3.0 * math.sqrt(w) + w / 256.0 + 4.0) / w
                p1 = t_lo[t] + (t_hi[t] - t_lo[t]) * max((a - c_lo[t] + 0.5) / w - margin, 0.0)
                p2 = t_lo[t] + (t_hi[t] - t_lo[t]) * min((b - c_lo[t] + 0.5) / w + margin, 1.0)
                sample[t] = not (math.isfinite(p1) and math.isfinite(p2) and p1 <= p2)
            if sample[t]:
                if shared:
                    p1, p2 = buf[wanted[2 * t]], buf[wanted[2 * t + 1]]
                else:
                    size = _sample_size(w)
                    state = _sample(x, yp, m, pool, rows[t, 0], rows[t, 1], w, size, state, buf)
                    r1, r2 = _pivot_ranks(a, b, c_lo[t], w, size)
                    _nth(buf, 0, size, r1)
                    _nth(buf, r1, size, r2)
                    p1, p2 = buf[r1], buf[r2]
            # the lower pivot counts D <= p1, the upper one D < p2, which is D <= the double below p2
            for half in range(2):
                p = p1 if half == 0 else np.nextafter(p2, -np.inf)
                if half == 1 and p2 == -np.inf:
                    continue  # nothing is below -inf
                ps[npiv], owner[npiv] = p, t
                tops[npiv], bots[npiv], outs[npiv] = rows[t, 0], rows[t, 1], rows[t, 2 + half]
                npiv += 1
        _walk(x, yp, m, pool, tops[:npiv], bots[:npiv], outs[:npiv], ps[:npiv], count[:npiv], pos[:npiv], yp.size - m)
        for q in range(npiv):
            t = owner[q]
            if not active[t]:
                continue
            if q == 0 or owner[q - 1] != t:
                before_lo, before_hi = c_lo[t], c_hi[t]
            c, cut = count[q], outs[q]
            slot = 2 if cut == rows[t, 2] else 3
            if c <= ranks[t, 0]:
                if c > c_lo[t]:
                    c_lo[t], t_lo[t] = c, ps[q]
                    rows[t, 1], rows[t, slot] = cut, rows[t, 1]
            elif c > ranks[t, 1]:
                if c < c_hi[t]:
                    c_hi[t], t_hi[t] = c, ps[q]
                    rows[t, 0], rows[t, slot] = cut, rows[t, 0]
            else:  # c == b == a + 1: the cut falls between the two ranks
                res[t, 0], res[t, 1] = _split(x, yp, m, pool[:, cut])
                active[t] = False
                continue
            if q + 1 == npiv or owner[q + 1] != t:  # the target's last pivot
                w_before = before_hi - before_lo
                if sample[t] and c_lo[t] == before_lo and c_hi[t] == before_hi:
                    # no sampled pivot moved a bound: every band value lies between them, and they are equal
                    res[t, 0] = res[t, 1] = ps[q - 1] if q > 0 and owner[q - 1] == t else ps[q]
                    active[t] = False
                else:
                    sample[t] = (c_hi[t] - c_lo[t]) * 2 > w_before


@numba.njit(cache=True, nogil=True)
def _row(xs, ys, ranks, band_max, out, r):
    """``order_statistics`` of row r."""
    n, m = xs.shape[1], ys.shape[1]
    swap = m > n  # walk down the longer side: x - y is -y - (-x) bit for bit, so swap and negate
    rows_n, cols_m = (m, n) if swap else (n, m)
    x = np.empty(rows_n)
    yp = np.empty(cols_m + _PAD)
    if swap:
        for i in range(m):
            x[i] = -ys[r, m - 1 - i]
        for j in range(n):
            yp[j] = -xs[r, n - 1 - j]
    else:
        x[:] = xs[r]
        yp[:m] = ys[r]
    yp[cols_m:] = np.inf
    pool = np.empty((rows_n, 4 * ranks.shape[1]), np.int32)
    buf = np.empty(max(band_max, _SAMPLE_MAX) + _PAD)
    _select(x, yp, cols_m, ranks[r], band_max, out[r], pool, buf)


@numba.njit(cache=True, nogil=True)
def order_statistics(xs, ys, ranks, band_max, out):
    """``out[r, t] = (D_(ranks[r, t, 0]), D_(ranks[r, t, 1]))`` of the differences ``xs[r, i] - ys[r, j]`` of
    rows sorted ascending (``ranks[r, t, 1]`` is ``ranks[r, t, 0]`` or one more); bands of at most ``band_max``
    values are selected directly. Releases the GIL: callers run blocks of rows on threads."""
    for r in range(xs.shape[0]):
        _row(xs, ys, ranks, band_max, out, r)
