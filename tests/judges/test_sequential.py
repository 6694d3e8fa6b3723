"""Anytime-valid tests (``judges.eprocess``) and the ``sequential-rate`` / ``sequential-mean`` judges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judges import Classification, Direction, JudgeParams, get_judge
from judges.eprocess import count_test, mean_test


def _savvi_events():
    # savvi docs example: exposure shares [0.8, 0.2], log rates [1.5, 2], one event per row, np.random.seed(1)
    rho, delta = np.array([0.8, 0.2]), np.array([1.5, 2.0])
    theta = rho * np.exp(delta) / (rho * np.exp(delta)).sum()
    np.random.seed(1)
    x = np.random.multinomial(1, theta, size=1500)
    return x[:, 0].astype(float), x[:, 1].astype(float)


def test_savvi_example_is_reproduced_exactly():
    # savvi (assuncaolfi/savvi) docs, Lindon and Malek's multinomial test, k = 100, alpha = 0.05:
    # stops at n = 210 with p = 0.04557963 and the running-intersection sequence [0.004646, 0.754940]
    baseline, canary = _savvi_events()
    res = count_test(baseline, canary, 0.2, concentration=100, alpha=0.05)
    i = res.stop()
    assert i + 1 == 210
    assert res.p_value[i] == pytest.approx(0.0455796, abs=5e-8)
    assert res.ci_lower[i] == pytest.approx(0.004646, abs=5e-7)
    assert res.ci_upper[i] == pytest.approx(0.754940, abs=5e-7)
    assert res.p_value[i - 1] > 0.05


def test_varying_shares_use_a_grid_that_matches_the_closed_form():
    baseline, canary = _savvi_events()
    share = np.full(baseline.size, 0.2)
    share[0] += 1e-6  # forces the grid path with (practically) the same shares
    grid = count_test(baseline, canary, share, concentration=100, alpha=0.05)
    exact = count_test(baseline, canary, 0.2, concentration=100, alpha=0.05)
    assert grid.stop() == exact.stop()
    np.testing.assert_allclose(grid.log_e, exact.log_e, rtol=1e-3, atol=1e-3)
    step = 0.005
    # the grid sequence contains the exact one and is at most two grid steps wider
    assert grid.ci_lower[-1] <= exact.ci_lower[-1] <= grid.ci_lower[-1] + 2 * step
    assert grid.ci_upper[-1] - 2 * step <= exact.ci_upper[-1] <= grid.ci_upper[-1]


@pytest.mark.parametrize("shares", ["fixed", "varying"])
def test_one_sided_count_tests(shares):
    baseline, canary = _savvi_events()  # the canary's rate is e^0.5 = 1.65 times the baseline's
    share = 0.2 if shares == "fixed" else np.where(np.arange(baseline.size) % 2, 0.2, 0.2 + 1e-6)
    two = count_test(baseline, canary, share, concentration=100)
    greater = count_test(baseline, canary, share, concentration=100, alternative="greater")
    less = count_test(baseline, canary, share, concentration=100, alternative="less")
    assert greater.stop() <= two.stop()
    assert less.stop() is None
    assert less.p_value[-1] > 0.5


def test_paths_are_monotone():
    baseline, canary = _savvi_events()
    res = count_test(baseline, canary, 0.2)
    assert (np.diff(res.p_value) <= 0).all()
    assert (np.diff(res.ci_lower) >= 0).all() and (np.diff(res.ci_upper) <= 0).all()


def test_count_test_false_alarm_under_continuous_looking_is_at_most_alpha():
    # 600 A/A streams of 3,000 events each, looked at after every event; Ville: P(ever reject) <= alpha
    rng = np.random.default_rng(20240501)
    alpha, runs = 0.05, 600
    rejected = 0
    for _ in range(runs):
        canary = (rng.random(3000) < 0.5).astype(float)
        rejected += count_test(1 - canary, canary, 0.5, alpha=alpha).stop() is not None
    # binomial upper 99.9 % bound around alpha * runs = 30
    assert rejected <= 30 + 3.1 * math.sqrt(runs * alpha * (1 - alpha))


def test_count_test_detects_a_doubled_rate_within_about_100_events():
    rng = np.random.default_rng(7)
    stops = []
    for _ in range(300):
        canary = (rng.random(2000) < 2 / 3).astype(float)  # canary rate 2x at a 50/50 split
        stops.append(count_test(1 - canary, canary, 0.5).stop() + 1)
    assert 60 <= np.median(stops) <= 110


def test_mean_test_e_value_and_sequence_match_their_formulas():
    rng = np.random.default_rng(2)
    z = rng.normal(size=80) + 0.3
    alpha = 0.05
    res = mean_test(np.zeros(80), z, alpha=alpha, min_n=2, autocorrelation=False)
    g = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / 60

    def log_e(v):
        s, S, V = v.size, v.sum(), (v * v).sum()
        return -0.5 * math.log1p(s * g) + s / 2 * math.log(V / (V - S * S * g / (1 + s * g)))

    used = z[2:]
    assert res.log_e[-1] == pytest.approx(log_e(used), rel=1e-12)
    s, m = used.size, used.mean()
    K = (math.sqrt(1 + s * g) / alpha) ** (2 / s)
    q = (K - 1) * (1 + s * g) / (K * g)
    half = math.sqrt(q * ((used - m) ** 2).sum() / (s * (s - q)))
    # at the ends of the per-look sequence the e-value of the shifted data is exactly 1/alpha
    assert log_e(used - (m + half)) == pytest.approx(math.log(1 / alpha), rel=1e-9)
    assert log_e(used - (m - half)) == pytest.approx(math.log(1 / alpha), rel=1e-9)


def _ar1(rng, phi, n, burn=100):
    e = rng.standard_normal(n + burn) * math.sqrt(1 - phi ** 2)
    x = np.empty(n + burn)
    x[0] = rng.standard_normal()
    for i in range(1, n + burn):
        x[i] = phi * x[i - 1] + e[i]
    return x[burn:]


@pytest.mark.parametrize("phi, limit", [(0.0, 0.05), (0.5, 0.05), (0.8, 0.08)])
def test_mean_test_false_alarm_under_continuous_looking(phi, limit):
    rng = np.random.default_rng(int(phi * 10) + 3)
    runs = 400
    rejected = sum(mean_test(_ar1(rng, phi, 180), _ar1(rng, phi, 180)).stop() is not None for _ in range(runs))
    assert rejected / runs <= limit + 2.5 * math.sqrt(limit * (1 - limit) / runs)


def test_without_prewhitening_autocorrelation_breaks_the_mean_test():
    rng = np.random.default_rng(11)
    runs = 200
    plain = sum(mean_test(_ar1(rng, 0.8, 180), _ar1(rng, 0.8, 180), autocorrelation=False).stop() is not None
                for _ in range(runs))
    assert plain / runs > 0.3


def test_mean_test_burn_in_never_rejects():
    res = mean_test(np.zeros(30), np.full(30, 5.0) + np.arange(30) * 1e-3, min_n=10)
    assert (res.p_value[:11] == 1).all()  # the scale-invariant e-value of a single value is exactly 1
    assert res.stop() is not None and res.stop() > 10


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(-1.0, 1.0))
def test_swapping_the_arms_mirrors_the_mean_test(seed, shift):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=40), rng.normal(size=40) + shift
    a, b = mean_test(x, y), mean_test(y, x)
    np.testing.assert_allclose(a.p_value, b.p_value, rtol=1e-9)
    np.testing.assert_allclose(a.estimate, -b.estimate, atol=1e-12)
    np.testing.assert_allclose(a.ci_lower[-1], -b.ci_upper[-1], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(0, 10_000))
def test_swapping_the_arms_mirrors_the_count_test(canary, seed):
    rng = np.random.default_rng(seed)
    c = np.array(canary, dtype=float)
    b = rng.integers(0, 5, c.size).astype(float)
    a, s = count_test(b, c, 0.3), count_test(c, b, 0.7)
    np.testing.assert_allclose(a.p_value, s.p_value, rtol=1e-9)
    np.testing.assert_allclose(a.ci_lower, -s.ci_upper, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: count_test([1], [1], 1.2), "canary_share"),
    (lambda: count_test([1, 2], [1], 0.5), "one count per look"),
    (lambda: count_test([-1], [1], 0.5), "non-negative"),
    (lambda: count_test([1], [1], 0.5, alpha=0), "alpha"),
    (lambda: count_test([1], [1], 0.5, alternative="up"), "alternative"),
    (lambda: count_test([1], [1], 0.5, concentration=0), "concentration"),
    (lambda: mean_test([1, 2], [1], alpha=0.05), "paired"),
    (lambda: mean_test([1], [1], min_n=1), "min_n"),
])
def test_bad_arguments_name_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _rate_params(**options):
    return JudgeParams(name="errors", direction=Direction.INCREASE, options=options)


def test_sequential_rate_judge_flags_a_doubled_error_rate_and_says_when():
    rng = np.random.default_rng(5)
    nb, nc = rng.poisson(2000, 90).astype(float), rng.poisson(2000, 90).astype(float)
    b = rng.binomial(nb.astype(int), 0.001).astype(float)
    c = rng.binomial(nc.astype(int), 0.002).astype(float)
    j = get_judge("sequential-rate")(b, c, _rate_params(baseline_denominator=nb, canary_denominator=nc))
    assert j.classification is Classification.HIGH
    assert 1 < j.statistics.ci_lower and j.statistics.p_value < 0.02
    assert 1 <= j.statistics.extra["stop_look"] <= 90
    assert "rate ratio" in j.reason


def test_sequential_rate_judge_edge_cases():
    judge = get_judge("sequential-rate")
    zeros = np.zeros(30)
    assert judge(zeros, zeros, _rate_params()).classification is Classification.INCONCLUSIVE  # nothing to compare
    assert judge(np.zeros(0), np.zeros(0), _rate_params()).classification is Classification.NODATA
    j = judge(zeros, zeros + 1, _rate_params(baseline_denominator=zeros, canary_denominator=zeros + 10))
    assert j.classification is Classification.NODATA and "no baseline exposure" in j.reason
    # an all-zero baseline against a steady stream of canary errors
    assert judge(zeros, zeros + 2, _rate_params()).classification is Classification.HIGH


def test_sequential_rate_judge_truncates_shorter_denominators_too():
    rng = np.random.default_rng(8)
    nb, nc = rng.poisson(2000, 25).astype(float), rng.poisson(2000, 25).astype(float)
    b = rng.binomial(2000, 0.001, 30).astype(float)
    c = rng.binomial(2000, 0.003, 30).astype(float)
    judge = get_judge("sequential-rate")
    j = judge(b, c, _rate_params(baseline_denominator=nb, canary_denominator=nc))
    same = judge(b[:25], c[:25], _rate_params(baseline_denominator=nb, canary_denominator=nc))
    assert j.classification is same.classification is Classification.HIGH
    assert j.statistics.extra["looks"] == 25 and j.statistics.estimate == same.statistics.estimate
    empty = judge(b, c, _rate_params(baseline_denominator=nb, canary_denominator=np.zeros(0)))
    assert empty.classification is Classification.NODATA and "no canary data points" in empty.reason


def test_sequential_mean_judge():
    rng = np.random.default_rng(3)
    x = rng.normal(100, 10, 60)
    judge = get_judge("sequential-mean")
    params = JudgeParams(name="latency", direction=Direction.INCREASE)
    high = judge(x, x * 1.2 + rng.normal(0, 1, 60), params)
    assert high.classification is Classification.HIGH and high.statistics.ci_lower > 0
    assert judge(x, x, params).classification is Classification.PASS
    assert judge(x, rng.normal(100, 10, 60), params).classification is Classification.PASS
    # a decrease is not a regression of an increase-only metric
    assert judge(x, x * 0.8, params).classification is Classification.PASS


def test_sequential_rate_concludes_nothing_before_the_dispersion_is_estimable():
    # issue 12: bursty counts (negative binomial) fooled the Poisson e-process in early looks; with fewer than
    # SEQUENTIAL_MIN_DF + 1 steps with events the judge is inconclusive whatever the counts say
    from judges.anytime import SEQUENTIAL_MIN_DF

    judge = get_judge("sequential-rate")
    b, c = np.full(SEQUENTIAL_MIN_DF, 5.0), np.full(SEQUENTIAL_MIN_DF, 40.0)
    j = judge(b, c, _rate_params())
    assert j.classification is Classification.INCONCLUSIVE and "dispersion" in j.reason
    j = judge(np.full(SEQUENTIAL_MIN_DF + 1, 5.0), np.full(SEQUENTIAL_MIN_DF + 1, 40.0), _rate_params())
    assert j.classification is Classification.HIGH


def test_sequential_mean_freezes_its_autocorrelation_estimate():
    # issue 12: re-estimated at every look, phi drifted to its cap under a shift and the prewhitening hid it
    from judges.eprocess import FREEZE_PHI_AT, PHI_CAP, _phi_path

    rng = np.random.default_rng(3)
    d = np.r_[rng.normal(0, 1, FREEZE_PHI_AT), rng.normal(3, 1, 90)]  # a step after the freeze point
    assert _phi_path(d - d[0])[-1] > _phi_path(d - d[0])[FREEZE_PHI_AT - 1]  # the running estimate drifts up
    assert PHI_CAP < 1
    res = mean_test(np.zeros(d.size), d, alpha=0.02)
    assert res.stop() is not None and res.stop() < FREEZE_PHI_AT + 20


def test_sequential_mean_pairs_by_timestamp_not_position():
    # issue 12: a canary that starts 10 minutes later was compared with another time of the baseline
    from analysis import parse_config
    from analysis.pipeline import judge_pairs
    from analysis.series import SamplePair, Series

    rng = np.random.default_rng(7)
    t = np.arange(120) * 60.0
    load = 100 + 0.5 * np.arange(120)  # traffic ramping up: both sides follow it
    base = load + rng.normal(0, 1, 120)
    can = load + rng.normal(0, 1, 120)
    pair = SamplePair("lat", Series(t, base), Series(t[10:], can[10:]))
    cfg = parse_config({"name": "t", "metrics": [{"name": "lat", "judge": "sequential-mean"}]})
    r = judge_pairs(cfg, {"lat": pair}, None).metric("lat")
    assert r.classification is not Classification.HIGH and r.classification is not Classification.LOW
    assert r.statistics.n_baseline == r.statistics.n_canary == 110
    # by position the same data fail
    shifted = get_judge("sequential-mean")(base, can[10:], JudgeParams(name="lat"))
    assert shifted.classification in (Classification.HIGH, Classification.LOW)
