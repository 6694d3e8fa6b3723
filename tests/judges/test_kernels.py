"""The compiled kernels (``judges._kernels``) and the batched serial correction give the numpy path's numbers
exactly: order statistics against sorting all n*m differences, rank statistics against the numpy code and
``scipy.stats.rankdata``, and ``judge_many`` on the compiled path against ``judge`` on the numpy path, bit for bit.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from judges import JudgeParams, NanStrategy, OutlierStrategy
from judges import _pairwise
from judges._hodges_lehmann import rank_summary
from judges._serial_batch import serial_batch
from judges.autocorrelation import serial_adjustment
from judges.mann_whitney import judge, judge_many

K = pytest.importorskip("judges._kernels", reason="numba is not installed")


def _brute(x, y):
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.subtract.outer(np.asarray(x, float), np.asarray(y, float)).ravel()
    d[np.isnan(d)] = 0.0  # inf - inf of one sign: tied values, difference 0
    return np.sort(d)


@pytest.fixture
def compiled(monkeypatch):
    """Every call takes the compiled path, however small."""
    monkeypatch.setattr(_pairwise, "JIT_MIN_POINTS", 0)


@pytest.fixture
def numpy_only(monkeypatch):
    """Every call takes the numpy path, as without numba."""
    monkeypatch.setattr(_pairwise, "_load", lambda: None)


values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, -1.0]),                     # heavy ties, signed zeros
    st.sampled_from([np.inf, -np.inf, 1e300, -1e300, 5e-324, 0.1, 0.3]),  # extremes and rounding
)


@settings(max_examples=300, deadline=None)
@given(x=st.lists(values, min_size=1, max_size=80), y=st.lists(values, min_size=1, max_size=80),
       band=st.sampled_from([0, 1, 7, 64, 10 ** 6]), data=st.data())
def test_order_statistics_equal_sorting_every_difference(x, y, band, data):
    xs, ys = np.sort(np.array(x))[None], np.sort(np.array(y))[None]
    d = _brute(x, y)
    ks = data.draw(st.lists(st.integers(0, d.size - 1), min_size=1, max_size=4))
    ranks = np.array([[[k, min(k + 1, d.size - 1)] for k in ks]], dtype=np.int64)
    out = np.empty(ranks.shape)
    K.order_statistics(xs, ys, ranks, band, out)  # band 0: refined down to single values, never copied out
    assert np.array_equal(out[0], d[ranks[0]])


@pytest.mark.parametrize("n, m", [(300, 500), (700, 40), (1, 900)])
@pytest.mark.parametrize("kind", ["lognormal", "poisson", "zero-inflated", "two-values"])
def test_order_statistics_on_larger_samples(n, m, kind):
    rng = np.random.default_rng(n * m)
    draw = {"lognormal": lambda s: rng.lognormal(size=s), "poisson": lambda s: rng.poisson(3.0, s).astype(float),
            "zero-inflated": lambda s: np.where(rng.random(s) < 0.8, 0.0, rng.lognormal(size=s)),
            "two-values": lambda s: rng.choice([0.0, 1.0], s)}[kind]
    xs, ys = np.sort(draw((3, n)), axis=1), np.sort(draw((3, m)), axis=1)
    nm = n * m
    ks = np.array([0, 1, nm // 3, (nm - 1) // 2, nm - 2, nm - 1]).clip(0, nm - 1)
    ranks = np.broadcast_to(np.stack([ks, np.minimum(ks + 1, nm - 1)], axis=-1), (3, ks.size, 2)).copy()
    out = np.empty(ranks.shape)
    K.order_statistics(xs, ys, ranks, n + m, out)
    for r in range(3):
        assert np.array_equal(out[r], _brute(xs[r], ys[r])[ranks[r]])


def test_threads_give_the_single_thread_result():
    rng = np.random.default_rng(7)
    xs, ys = np.sort(rng.lognormal(size=(64, 600)), axis=1), np.sort(rng.lognormal(size=(64, 500)), axis=1)
    ranks = np.broadcast_to(np.array([[1000, 1000], [149_999, 150_000], [290_000, 290_000]]), (64, 3, 2)).copy()
    assert _pairwise._threads(64, 64 * 1100) == min(os.cpu_count() or 1, 4)  # at least 16 metrics a thread
    threaded = _pairwise.order_statistics(xs, ys, ranks)
    single = np.empty(ranks.shape)
    K.order_statistics(xs, ys, ranks, 1100, single)
    assert np.array_equal(threaded, single)


def test_rank_summary_equals_the_numpy_path(monkeypatch):
    rng = np.random.default_rng(3)
    for n, m, draw in [(40, 55, lambda s: rng.normal(size=s)), (30, 30, lambda s: rng.integers(0, 4, s) * 1.0),
                       (9, 12, lambda s: rng.choice([np.inf, -np.inf, 0.0, -0.0, 1.0], s))]:
        xs, ys = np.sort(draw((5, n)), axis=1), np.sort(draw((5, m)), axis=1)
        monkeypatch.setattr(_pairwise, "JIT_MIN_POINTS", 0)
        fast = rank_summary(xs, ys)
        monkeypatch.setattr(_pairwise, "_load", lambda: None)
        slow = rank_summary(xs, ys)
        monkeypatch.undo()
        for field in ("u", "pooled_ties", "within_ties", "tied"):
            assert np.array_equal(getattr(fast, field), getattr(slow, field)), field


def test_rank_lag_sums_are_those_of_scipy_mid_ranks():
    rng = np.random.default_rng(4)
    rows = np.vstack([rng.normal(size=(3, 50)), rng.integers(0, 5, (3, 50)).astype(float)])
    order = np.argsort(rows, axis=1)
    num, den = np.empty(len(rows)), np.empty(len(rows))
    K.rank_lag1(np.take_along_axis(rows, order, 1), order, num, den)
    for r, row in enumerate(rows):
        c = rankdata(row) - (row.size + 1) / 2
        assert (num[r], den[r]) == (float(c[1:] @ c[:-1]), float(c @ c))


def _ar1(rng, shape, phi):
    e = rng.normal(size=shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + e[..., t]
    return out


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # autocorrelation.welch_p on an inf row
@pytest.mark.parametrize("n, m", [(60, 60), (5, 40), (3, 4), (200, 150)])
def test_serial_batch_is_the_scalar_correction(n, m):
    rng = np.random.default_rng(n + m)
    b, c = _ar1(rng, (12, m), 0.7), _ar1(rng, (12, n), 0.7) + 0.3
    b[1], c[2] = 5.0, np.arange(n) * 1.0       # a constant arm, a monotone one
    b[3, 0] = np.inf                            # an infinite value: the scalar Welch test
    ob, oc = np.argsort(b, axis=1), np.argsort(c, axis=1)
    lag = tuple(np.empty(12) for _ in range(4))
    K.rank_lag1(np.take_along_axis(b, ob, 1), ob, lag[0], lag[1])
    K.rank_lag1(np.take_along_axis(c, oc, 1), oc, lag[2], lag[3])
    batch = serial_batch(b, c, lag, 0.95)
    p = rng.uniform(size=12)
    p[0] = 1.0
    final, rank = batch.p_values(p)
    for r in range(12):
        one = serial_adjustment(b[r], c[r], 0.95)
        assert bool(batch.active[r]) == one.active
        if not one.active:
            continue
        assert (batch.vif[r], batch.interval_vif[r], batch.df[r], batch.n_eff[r]) == \
            (one.vif, one.interval_vif, one.df, one.n_eff)
        assert batch.extra(r) == pytest.approx(one.extra(), nan_ok=True, rel=0, abs=0)
        assert (final[r], rank[r]) == (one.p_value(p[r]), one.rank_p(p[r]))


def _mixed(seed, count=90):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.choice([1, 3, 8, 9, 30, 60, 250]))
        m = n if i % 3 else int(rng.choice([1, 5, 8, 30, 120]))
        kind = i % 6
        if kind == 0:
            b, c = rng.lognormal(size=m), rng.lognormal(size=n) * rng.choice([1.0, 1.6])
        elif kind == 1:
            b, c = rng.poisson(3, m).astype(float), rng.poisson(3, n) + rng.choice([0.0, 2.0])
        elif kind == 2:
            b, c = _ar1(rng, (m,), 0.8), _ar1(rng, (n,), 0.8) + rng.choice([0.0, 1.0])
        elif kind == 3:
            b, c = np.zeros(m), np.zeros(n)
        elif kind == 4:
            b, c = np.r_[rng.normal(size=m), np.nan], np.r_[rng.normal(size=n) + 2, np.nan, np.nan]
        else:
            b, c = rng.choice([0.0, 1.0, np.inf, 2.5], m), rng.choice([0.0, 1.0, np.inf, 3.0], n)
        out.append((b, c))
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # autocorrelation.welch_p on inf values
@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_judge_many_is_the_numpy_judge_bit_for_bit(seed, monkeypatch):
    pairs = _mixed(seed)
    params = [JudgeParams(name=f"m{i}", confidence=(0.95, 0.98)[i % 2], critical=i % 4 == 0,
                          nan_strategy=(NanStrategy.REMOVE, NanStrategy.REPLACE)[i % 3 == 0],
                          outlier_strategy=(OutlierStrategy.KEEP, OutlierStrategy.REMOVE)[i % 7 == 0],
                          options={"autocorrelation": i % 5 != 0}) for i in range(len(pairs))]
    monkeypatch.setattr(_pairwise, "_load", lambda: None)
    reference = [judge(b, c, p).to_dict() for (b, c), p in zip(pairs, params)]
    monkeypatch.undo()
    monkeypatch.setattr(_pairwise, "JIT_MIN_POINTS", 0)
    many = judge_many([b for b, _ in pairs], [c for _, c in pairs], params)
    one = [judge(b, c, p) for (b, c), p in zip(pairs, params)]
    for ref, got, single in zip(reference, many, one):
        assert _same(ref, got.to_dict())  # values and the order of the extra keys
        assert _same(ref, single.to_dict())


def test_a_fleet_larger_than_a_block_is_judged_as_one_by_one():
    rng = np.random.default_rng(11)
    base, can = _ar1(rng, (700, 400), 0.5), _ar1(rng, (700, 400), 0.5) * 1.02
    many = judge_many(base, can, JudgeParams())  # 560,000 points: the compiled path, Welch in blocks
    for r in (0, 350, 699):
        assert _same(many[r].to_dict(), judge(base[r], can[r], JudgeParams()).to_dict())


def test_without_numba_judge_many_takes_the_numpy_path(numpy_only):
    rng = np.random.default_rng(12)
    base, can = rng.lognormal(size=(30, 50)), rng.lognormal(size=(30, 50)) * 1.3
    assert _pairwise.kernels() is None
    many = judge_many(base, can, JudgeParams())
    assert [j.classification for j in many] == [judge(b, c, JudgeParams()).classification for b, c in zip(base, can)]
    assert all(math.isfinite(j.statistics.ci_lower) for j in many)
