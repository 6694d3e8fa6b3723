"""The ``mann-whitney`` judge: U, p, Hodges-Lehmann estimate and interval against R, exactness of the selection
against brute force, and the decision wiring.

Reference numbers come from R 4.2.2 on the vectors in ``DATA`` (canary ``x``, baseline ``y``), for
``cl`` in 0.95 and 0.98::

    w <- wilcox.test(x, y, conf.int=TRUE, conf.level=cl)          # R's default: exact when n, m < 50 and untied
    ties <- length(unique(c(x, y))) < length(x) + length(y)
    p <- wilcox.test(x, y, exact=(min(length(x), length(y)) <= 8 && !ties), correct=TRUE)$p.value  # scipy's 'auto'
    median(outer(x, y, "-"))                                       # the HL estimate
    qu <- qwilcox((1 - cl)/2, length(x), length(y)); if (qu == 0) qu <- 1
    1 - 2 * pwilcox(qu - 1, length(x), length(y))                  # achieved confidence, exact branch

printed with ``sprintf("%.17g")``. The exact branch must agree to the last bit. In the asymptotic branch R's interval
ends are ``uniroot`` approximations (tol = 1e-4) of jumps of a step function, which this engine returns exactly: they
must agree to 1e-4 and be actual pairwise differences. R's interval for ``zeros_40_35`` at 0.95 is inverted
(6.19e-05 > 5.00e-05), Kayenta's MW-7 artefact; ours is not.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from judges import Classification, Direction, JudgeParams, NanStrategy, OutlierStrategy, get_judge
from judges import _pairwise
from judges._hodges_lehmann import null_cdf, shift_interval
from judges._pairwise import count_below, kth_difference, order_statistics
from judges.mann_whitney import judge, judge_many, mann_whitney_test

_I, _J = np.arange(1, 201), np.arange(1, 181)

DATA = {
    "exact_5_6": (
        [5.77, 19.17, 9.05, 39.56, 7.2],
        [53.63, 7.92, 9.35, 6.32, 8.56, 7.52]),
    "exact_8_7": (
        [33.05, 18.05, 14.38, 15.03, 10.04, 71.76, 15.76, 42.92],
        [12.36, 41.43, 11.82, 10.6, 40.93, 12.51, 5.27]),
    "exact_12_15": (
        [7.22, 5.01, 6.84, 14.04, 40.87, 26.87, 6.18, 7.07, 57.63, 13.08, 25.41, 17.31],
        [36.2, 2.14, 59.5, 75.55, 0.39, 3.92, 1.59, 17.34, 17.1, 6.37, 14.91, 9.25, 28.22, 17.07, 7.8]),
    "exact_30_25": (
        [4.584, 6.035, 4.034, 7.076, 20.388, 14.297, 3.953, 3.574, 1.532, 4.947, 17.484, 9.531, 18.013, 14.742,
         45.851, 2.022, 16.683, 35.012, 5.233, 38.357, 13.091, 30.877, 23.927, 9.15, 81.284, 14.174, 7.325,
         5.833, 28.333, 7.348],
        [7.86, 10.878, 14.299, 6.563, 36.213, 1.595, 27.343, 13.736, 37.446, 9.769, 20.9, 4.885, 48.55, 0.872,
         9.335, 7.56, 16.19, 2.014, 4.313, 15.02, 6.451, 16.867, 3.798, 32.638, 4.488]),
    "exact_3_3": (
        [2.48, 44.99, 16.74],
        [22.59, 21.66, 7.25]),
    "asym_61_55": (
        [10.051, 11.29, 30.586, 32.782, 15.491, 41.131, 7.567, 11.018, 21.054, 11.555, 7.79, 6.934, 38.741,
         17.188, 12.362, 9.003, 7.922, 5.4, 8.166, 9.061, 9.526, 5.205, 170.278, 5.815, 19.286, 3.549, 30.231,
         39.05, 42.598, 15.884, 43.616, 21.248, 6.585, 17.33, 15.244, 10.178, 27.367, 10.707, 7.557, 13.065,
         15.307, 9.488, 4.295, 5.645, 12.612, 2.59, 23.351, 4.552, 8.047, 5.611, 9.483, 5.583, 23.99, 11.103,
         19.342, 9.163, 4.022, 5.336, 30.347, 10.46, 12.835],
        [11.145, 2.678, 6.255, 6.723, 30.526, 18.048, 5.072, 8.304, 4.845, 33.754, 15.19, 7.977, 17.442, 5.702,
         5.312, 19.355, 6.456, 8.851, 4.422, 127.097, 2.7, 4.882, 3.124, 9.84, 5.807, 12.395, 2.554, 30.278,
         6.991, 6.895, 1.502, 30.506, 6.041, 42.96, 12.892, 12.721, 28.384, 6.18, 4.067, 3.862, 5.45, 17.424,
         5.359, 12.505, 30.925, 12.755, 10.278, 34.026, 6.328, 4.178, 30.293, 10.008, 84.416, 8.573, 30.102]),
    "ties_20_25": (
        [4.0, 3.0, 6.0, 4.0, 0.0, 3.0, 4.0, 8.0, 4.0, 4.0, 6.0, 7.0, 3.0, 2.0, 2.0, 4.0, 4.0, 3.0, 7.0, 3.0],
        [2.0, 4.0, 3.0, 1.0, 1.0, 2.0, 2.0, 5.0, 1.0, 2.0, 5.0, 5.0, 5.0, 3.0, 2.0, 3.0, 5.0, 4.0, 3.0, 7.0,
         5.0, 1.0, 6.0, 2.0, 2.0]),
    "ties_15_9": (
        [9.0, 10.0, 10.0, 14.0, 15.0, 8.0, 10.0, 7.0, 8.0, 9.0, 10.0, 11.0, 7.0, 13.0, 10.0],
        [6.0, 8.0, 12.0, 11.0, 8.0, 9.0, 10.0, 7.0, 10.0]),
    "ties_4_5": (
        [1.0, 2.0, 2.0, 3.0],
        [0.0, 1.0, 1.0, 2.0, 5.0]),
    "zeros_40_35": (
        [0.0, 0.0, 0.0, 0.967, 0.0, 0.0, 0.0, 0.0, 0.0, 2.129, 0.344, 0.0, 0.0, 0.339, 2.863, 0.0, 0.0, 0.0,
         0.0, 1.096, 0.0, 0.212, 1.255, 0.133, 1.943, 0.0, 0.0, 0.0, 2.753, 0.0, 1.353, 0.0, 0.0, 0.703, 0.802,
         0.0, 2.169, 0.0, 0.309, 0.0],
        [0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
         0.0, 1.567, 0.0, 0.0, 0.0, 0.0, 0.0, 1.495, 0.0, 0.0, 2.462, 0.0, 0.0, 0.0, 0.0]),
    # R: i <- 1:200; j <- 1:180; x <- 10 + ((i * 7919) %% 1009) / 100; y <- 9.5 + ((j * 104729) %% 1013) / 100
    "formula_200_180_ties": (10 + ((_I * 7919) % 1009) / 100, 9.5 + ((_J * 104729) % 1013) / 100),
    # as above with y + 0.003: no value tied
    "formula_200_180": (10 + ((_I * 7919) % 1009) / 100, 9.5 + ((_J * 104729) % 1013) / 100 + 0.003),
}

R_REFERENCE = [
    ("exact_5_6", 0.95, 15.0, 1.0, 0.09500000000000064, -34.46, 31.0, 0.9696969696969697),
    ("exact_5_6", 0.98, 15.0, 1.0, 0.09500000000000064, -44.58, 31.64, 0.9826839826839827),
    ("exact_8_7", 0.95, 40.0, 0.1892773892773893, 4.185, -8.380000000000003, 30.410000000000004, 0.9599067599067599),
    ("exact_8_7", 0.98, 40.0, 0.1892773892773893, 4.185, -25.17, 31.1, 0.986013986013986),
    ("exact_12_15", 0.95, 95.0, 0.8262002033788081, 0.9699999999999998, -10.23, 10.94, 0.953133653860535),
    ("exact_12_15", 0.98, 95.0, 0.8262002033788081, 0.9699999999999998, -10.920000000000002, 13.389999999999999, 0.9814101125986978),
    ("exact_30_25", 0.95, 391.0, 0.7933231236887011, 0.6210000000000004, -3.9859999999999998, 5.805, 0.9516433194619192),
    ("exact_30_25", 0.98, 391.0, 0.7933231236887011, 0.6210000000000004, -5.336000000000002, 7.517000000000001, 0.9807488838970353),
    ("exact_3_3", 0.95, 4.0, 1.0, -4.77, -20.11, 37.74, 0.9),
    ("exact_3_3", 0.98, 4.0, 1.0, -4.77, -20.11, 37.74, 0.9),
    ("asym_61_55", 0.95, 1942.0, 0.1443801673224838, 1.963000000000001, -0.6019603740972627, 4.526969089516821, None),
    ("asym_61_55", 0.98, 1942.0, 0.1443801673224838, 1.963000000000001, -1.0940117919691603, 5.013084738458756, None),
    ("ties_20_25", 0.95, 313.0, 0.14777755379866614, 1.0, -5.727229416585753e-05, 1.9999924751640212, None),
    ("ties_20_25", 0.98, 313.0, 0.14777755379866614, 1.0, -0.9999478524071058, 2.000065591454289, None),
    ("ties_15_9", 0.95, 82.5, 0.37936640878162164, 1.0, -1.000052311775023, 2.9999724930612706, None),
    ("ties_15_9", 0.98, 82.5, 0.37936640878162164, 1.0, -1.0000089651232436, 3.0000492512403905, None),
    ("ties_4_5", 0.95, 13.0, 0.5261684777561433, 1.0, -3.000032005472687, 2.000031718991754, None),
    ("ties_4_5", 0.98, 13.0, 0.5261684777561433, 1.0, -4.0, 3.0, None),
    ("zeros_40_35", 0.95, 891.0, 0.009336000209209033, 0.0, 6.192664712915329e-05, 4.997727903125291e-05, None),
    ("zeros_40_35", 0.98, 891.0, 0.009336000209209033, 0.0, -5.2068700263615706e-05, 0.1330095372764684, None),
    ("formula_200_180_ties", 0.95, 19954.0, 0.0676665288035956, 0.5599999999999987, -0.04004200623769587, 1.1699806729284972, None),
    ("formula_200_180_ties", 0.98, 19954.0, 0.0676665288035956, 0.5599999999999987, -0.16001652469752725, 1.280033970736382, None),
    ("formula_200_180", 0.95, 19937.0, 0.070091845370632, 0.5569999999999986, -0.04304200623769598, 1.166980672928497, None),
    ("formula_200_180", 0.98, 19937.0, 0.070091845370632, 0.5569999999999986, -0.16301652469752737, 1.2770339707363818, None),
]


# References hold for independent samples: the judge's default correction for serial correlation is switched off
# (tests/judges/test_autocorrelation.py covers it).
IID = {"autocorrelation": False}

@pytest.mark.parametrize("name, cl, u, p, estimate, lower, upper, achieved", R_REFERENCE)
def test_against_r_wilcox_test(name, cl, u, p, estimate, lower, upper, achieved):
    x, y = (np.asarray(v, dtype=float) for v in DATA[name])
    ci = shift_interval(x, y, cl)
    assert ci.estimate == estimate
    assert ci.lower <= ci.estimate <= ci.upper
    if achieved is not None:
        assert ci.method == "exact"
        assert (ci.lower, ci.upper) == (lower, upper)
        assert ci.confidence == pytest.approx(achieved, abs=1e-14)
    else:
        assert ci.method == "asymptotic" and ci.confidence == cl
        assert ci.lower == pytest.approx(lower, abs=1e-4) and ci.upper == pytest.approx(upper, abs=1e-4)
        diffs = np.subtract.outer(x, y).ravel()
        assert ci.lower in diffs and ci.upper in diffs

    stats = judge(y, x, JudgeParams(confidence=cl, options=IID)).statistics
    assert stats.extra["u"] == u
    assert stats.p_value == pytest.approx(p, rel=1e-12)
    assert (stats.estimate, stats.ci_lower, stats.ci_upper) == (ci.estimate, ci.lower, ci.upper)


@pytest.mark.parametrize("name", list(DATA))
def test_u_and_p_are_scipys(name):
    x, y = (np.asarray(v, dtype=float) for v in DATA[name])
    ref = mannwhitneyu(x, y, alternative="two-sided", method="auto")
    stats = judge(y, x, JudgeParams(options=IID)).statistics
    assert stats.extra["u"] == ref.statistic
    assert stats.p_value == ref.pvalue
    many = judge_many([y], [x], JudgeParams(options=IID))[0].statistics
    assert many.extra["u"] == ref.statistic
    assert many.p_value == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("n, m", [(1, 1), (3, 3), (4, 7), (10, 6)])
def test_null_distribution_is_the_exact_count(n, m):
    # brute force over all C(n+m, n) placements of the canary ranks
    from itertools import combinations

    counts = np.zeros(n * m + 1)
    for pos in combinations(range(n + m), n):
        counts[sum(pos) - n * (n - 1) // 2] += 1
    assert np.allclose(null_cdf(n, m), np.cumsum(counts) / counts.sum(), rtol=0, atol=1e-15)


def test_vif_widens_the_interval_and_selects_the_normal_branch():
    x, y = (np.asarray(v, dtype=float) for v in DATA["exact_30_25"])
    plain, wide = shift_interval(x, y, 0.95), shift_interval(x, y, 0.95, vif=3.0)
    assert plain.method == "exact" and wide.method == "asymptotic"
    assert wide.lower <= plain.lower and wide.upper >= plain.upper and wide.estimate == plain.estimate
    normal = shift_interval(x, y, 0.95, exact=False)
    assert wide.lower < normal.lower and wide.upper > normal.upper


@pytest.mark.parametrize("bad", [dict(confidence=0.0), dict(confidence=1.0), dict(vif=0.0)])
def test_interval_rejects_bad_parameters(bad):
    with pytest.raises(ValueError, match="confidence|vif"):
        shift_interval([1.0, 2.0], [3.0, 4.0], **{"confidence": 0.95, **bad})


def test_interval_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="at least one value"):
        shift_interval([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        shift_interval([np.nan, 1.0], [1.0])


# --- exactness of the selection: equal to sorting all n*m differences ---------------------------------------------

def _brute(x, y):
    with np.errstate(invalid="ignore"):
        d = np.subtract.outer(np.asarray(x, float), np.asarray(y, float)).ravel()
    d[np.isnan(d)] = 0.0  # inf - inf of one sign: tied values, difference 0
    return np.sort(d)


values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0]),                           # heavy ties
    st.sampled_from([np.inf, -np.inf, 1e300, -1e300, 5e-324, 0.1, 0.3]),  # extremes and rounding
)
samples = st.lists(values, min_size=1, max_size=90)


@contextmanager
def _selection_path(small: bool):
    """Take the selection path even for tiny samples and, if ``small``, refine bands down to single values."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_pairwise, "_BRUTE_MAX", 0)
        if small:
            mp.setattr(_pairwise, "_BAND_MIN", 0)
        yield


@settings(max_examples=300, deadline=None)
@given(x=samples, y=samples, small=st.booleans(), data=st.data())
def test_kth_difference_equals_brute_force(x, y, small, data):
    d = _brute(x, y)
    ks = {0, len(d) - 1, len(d) // 2, data.draw(st.integers(0, len(d) - 1))}
    assert all(kth_difference(x, y, k) == d[k] for k in ks)  # the brute-force path
    with _selection_path(small):
        assert all(kth_difference(x, y, k) == d[k] for k in ks)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 400), m=st.integers(1, 400),
       levels=st.sampled_from([2, 3, 10, 1000, 0]))
def test_batched_selection_equals_brute_force(seed, n, m, levels):
    rng = np.random.default_rng(seed)
    draw = (lambda s: rng.integers(0, levels, s).astype(float)) if levels else (lambda s: rng.lognormal(size=s))
    xs, ys = np.sort(draw((3, n)), axis=1), np.sort(draw((3, m)), axis=1)
    ks = rng.integers(0, n * m, (3, 4))
    pairs = np.stack([ks, np.minimum(ks + 1, n * m - 1)], axis=-1)
    with _selection_path(seed % 2 == 0):
        got = order_statistics(xs, ys, pairs)
    for b in range(3):
        assert np.array_equal(got[b], _brute(xs[b], ys[b])[pairs[b]])


@pytest.mark.parametrize("n, m", [(400, 300), (1500, 1200)])
@pytest.mark.parametrize("kind", ["lognormal", "poisson", "zero-inflated"])
def test_selection_on_larger_samples(n, m, kind):
    rng = np.random.default_rng(n + m)
    draw = {"lognormal": lambda s: rng.lognormal(size=s), "poisson": lambda s: rng.poisson(3.0, s).astype(float),
            "zero-inflated": lambda s: np.where(rng.random(s) < 0.8, 0.0, rng.lognormal(size=s))}[kind]
    x, y = draw(n), draw(m)
    d = _brute(x, y)
    for k in (0, 1, n * m // 3, (n * m - 1) // 2, n * m // 2, n * m - 2, n * m - 1):
        assert kth_difference(x, y, k) == d[k]
    ci = shift_interval(x, y, 0.98)
    assert ci.lower <= ci.estimate <= ci.upper and ci.method == "asymptotic"


def test_count_below_counts_ties_and_strictness():
    x, y = np.array([[0.0, 1.0, 1.0, 3.0]]), np.array([[1.0, 1.0, 2.0]])
    d = _brute(x[0], y[0])
    for t in (-2.0, 0.0, 1.0, 2.5, np.inf, -np.inf):
        assert count_below(x, y, t)[0] == (d <= t).sum()
        assert count_below(x, y, t, strict=True)[0] == (d < t).sum()


def test_kth_difference_validates_k():
    with pytest.raises(ValueError, match="`k`"):
        kth_difference([1.0], [2.0], 1)


def test_infinities_are_order_statistics():
    ci = shift_interval([np.inf, np.inf, 5.0], [1.0, 2.0, 3.0], 0.95, exact=False)
    assert ci.upper == np.inf and ci.lower <= ci.estimate <= ci.upper
    assert shift_interval([np.inf] * 3, [np.inf, 1.0], 0.95).lower == 0.0  # inf - inf of one sign: tied


# --- the judge --------------------------------------------------------------------------------------------------

def test_registered():
    assert get_judge("mann-whitney") is judge


def test_clear_shifts_are_high_and_low():
    rng = np.random.default_rng(7)
    base = rng.lognormal(3.0, 0.2, 120)
    high = judge(base, base * 1.5, JudgeParams(name="latency"))
    assert high.classification is Classification.HIGH and high.reason.startswith("latency is higher")
    assert judge(base, base / 1.5, JudgeParams()).classification is Classification.LOW
    assert judge(base, rng.permutation(base)[:100], JudgeParams()).classification is Classification.PASS


def test_statistics_are_filled():
    rng = np.random.default_rng(8)
    base = np.r_[rng.normal(100, 5, 60), np.nan, np.nan]
    can = np.r_[rng.normal(110, 5, 50), np.nan, 1e6]
    params = JudgeParams(confidence=0.95, outlier_strategy=OutlierStrategy.REMOVE)
    s = judge(base, can, params).statistics
    assert (s.n_baseline, s.n_canary) == (60, 50)
    assert s.extra["n_nan_baseline"] == 2 and s.extra["n_nan_canary"] == 1 and s.extra["n_outliers_canary"] == 1
    assert s.ci_lower <= s.estimate <= s.ci_upper and 0 <= s.p_value <= 1
    assert s.effect_size == s.extra["mean_ratio"] and s.extra["ci_exact"] == 0.0
    assert s.canary_median == pytest.approx(np.median(can[:50]))
    assert s.extra["u"] == mannwhitneyu(can[:50], base[:60]).statistic


@pytest.mark.parametrize("baseline, canary, expected, reason", [
    ([], [1.0, 2.0], Classification.NODATA, "no baseline"),
    ([np.nan], [1.0], Classification.NODATA, "no baseline"),
    ([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], Classification.PASS, "identical"),
    ([4.0, 4.0], [4.0, 4.0, 4.0], Classification.PASS, "equals 4"),
])
def test_shortcuts(baseline, canary, expected, reason):
    j = judge(np.array(baseline), np.array(canary), JudgeParams(critical=True))
    assert j.classification is expected and reason in j.reason
    assert judge_many([np.array(baseline)], [np.array(canary)], JudgeParams(critical=True))[0] == j


def test_critical_and_gates():
    base = np.linspace(10.0, 20.0, 40)
    can = base * 2
    assert judge(base, can, JudgeParams(critical=True, options=IID)).critical
    assert judge(base, can, JudgeParams(direction=Direction.DECREASE, options=IID)).classification \
        is Classification.PASS


def test_a_failing_test_is_an_error_outcome(monkeypatch):
    import judges.mann_whitney as mw

    def boom(*args, **kwargs):
        raise FloatingPointError("no interval")

    monkeypatch.setattr(mw, "shift_intervals", boom)
    j = judge(np.arange(10.0), np.arange(10.0) + 3, JudgeParams(name="m", critical=True))
    assert j.classification is Classification.ERROR and "no interval" in j.reason and j.critical


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="`confidence` of cpu"):
        judge(np.ones(3), np.ones(3), JudgeParams(name="cpu", confidence=1.5))
    with pytest.raises(ValueError, match="`params`"):
        judge_many([np.ones(3)], [np.ones(3)], [JudgeParams(), JudgeParams()])


def test_vif_reaches_the_interval():
    x, y = (np.asarray(v, dtype=float) for v in DATA["asym_61_55"])
    plain = mann_whitney_test(y, x, JudgeParams(confidence=0.95))
    wide = mann_whitney_test(y, x, JudgeParams(confidence=0.95), vif=2.0)
    assert wide.ci_lower < plain.ci_lower and wide.ci_upper > plain.ci_upper and wide.p_value == plain.p_value


# --- the batched path equals the one-at-a-time path --------------------------------------------------------------

def _mixed(seed, count=60):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.choice([1, 3, 8, 9, 30, 60]))
        m = n if i % 3 else int(rng.choice([1, 3, 8, 30]))
        kind = i % 5
        if kind == 0:
            b, c = rng.lognormal(size=m), rng.lognormal(size=n) * rng.choice([1.0, 1.6])
        elif kind == 1:
            b, c = rng.poisson(3, m).astype(float), rng.poisson(3, n) + rng.choice([0.0, 2.0])
        elif kind == 2:
            b = rng.normal(size=m)
            c = rng.permutation(b) if n == m else rng.normal(size=n)
        elif kind == 3:
            b, c = np.zeros(m), np.zeros(n)
        else:
            b, c = np.r_[rng.normal(size=m), np.nan], np.r_[rng.normal(size=n) + 2, np.nan, np.nan]
        out.append((b, c))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_judge_many_equals_judge(seed):
    pairs = _mixed(seed)
    params = [JudgeParams(name=f"m{i}", confidence=(0.95, 0.98)[i % 2], critical=i % 4 == 0,
                          nan_strategy=(NanStrategy.REMOVE, NanStrategy.REPLACE)[i % 3 == 0])
              for i in range(len(pairs))]
    many = judge_many([b for b, _ in pairs], [c for _, c in pairs], params)
    for (b, c), prm, got in zip(pairs, params, many):
        one = judge(b, c, prm)
        assert (got.classification, got.reason, got.critical) == (one.classification, one.reason, one.critical)
        for key, value in one.statistics.to_dict().items():
            other = got.statistics.to_dict()[key]
            if isinstance(value, dict):
                assert value.keys() == other.keys()
                assert all(other[k] == pytest.approx(v, rel=1e-12, abs=1e-300) for k, v in value.items()
                           if v is not None)
            elif isinstance(value, float):
                assert other == pytest.approx(value, rel=1e-12, abs=1e-300)
            else:
                assert other == value


def test_judge_many_takes_2d_arrays():
    rng = np.random.default_rng(5)
    base, can = rng.lognormal(size=(20, 50)), rng.lognormal(size=(20, 50)) * np.linspace(1, 2, 20)[:, None]
    many = judge_many(base, can, JudgeParams())
    assert [j.classification for j in many] == [judge(b, c, JudgeParams()).classification for b, c in zip(base, can)]
    assert math.isfinite(many[-1].statistics.ci_lower)
