"""The ``paired`` judge: decisions, fall-back, change within the window, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from _ar import ar1 as _ar1
from judges import Classification, Direction, JudgeParams, get_judge
from judges.paired import LEVEL_SHARE, MIN_CHANGE, paired_test

judge = get_judge("paired")
MIRROR = {Classification.HIGH: Classification.LOW, Classification.LOW: Classification.HIGH,
          Classification.PASS: Classification.PASS, Classification.INCONCLUSIVE: Classification.INCONCLUSIVE,
          Classification.NODATA: Classification.NODATA,
          Classification.ERROR: Classification.ERROR}



def paired(b, c, ts=None, **kw):
    """JudgeParams carrying an alignment, as analysis.pipeline builds it."""
    b, c = np.asarray(b, float), np.asarray(c, float)
    ts = np.arange(b.size) * 60.0 if ts is None else ts
    opts = {"paired_baseline": b, "paired_canary": c, "paired_timestamps": ts, "unmatched_baseline": 0,
            "unmatched_canary": 0, **kw.pop("options", {})}
    return JudgeParams(options=opts, **kw)


def release(seed, n=60, shift=0.0, start=0, phi=0.5, cv=0.05):
    """Baseline and canary sharing a strong load signal, each with its own AR noise."""
    rng = np.random.default_rng(seed)
    load = 0.3 * _ar1(rng, 0.95, n)
    b = 100 * np.exp(load + cv * _ar1(rng, phi, n))
    c = 100 * np.exp(load + cv * _ar1(rng, phi, n)) * np.where(np.arange(n) >= start, 1 + shift, 1.0)
    return b, c


def test_shared_load_cancels_and_a_25_percent_regression_is_high_with_its_ratio():
    b, c = release(1, shift=0.25)
    j = judge(b, c, paired(b, c, direction=Direction.INCREASE))
    x = j.statistics.extra
    assert j.classification is Classification.HIGH and x["paired"] == 1 and x["log_ratio"] == 1
    assert x["ratio_lower"] < x["ratio"] < x["ratio_upper"] and 1.15 < x["ratio"] < 1.35
    # 0.65 of 1 - 0.98 for the level test, 0.35 for the change test
    assert x["ci_confidence"] == pytest.approx(0.987)
    assert "98.7% CI" in j.reason and "ratio 1." in j.reason
    # the allowed effect the reason names is the margin (1.25 on the ratio scale); the tolerance (JudgeParams'
    # default 0.25 here, 0 from a config) is reported apart, on both scales
    assert x["mde"] > 0 and x["allowed_upper"] == pytest.approx(1.25) and "allowed effect ratio 1.25" in j.reason
    assert x["band_upper"] == pytest.approx(math.log(1.25))
    assert x["tolerance_ratio_upper"] == pytest.approx(math.exp(x["log_bound"])) and x["log_bound"] > 0
    # the unpaired rank test on the same data cannot see through the shared load: not enough data to tell
    assert get_judge("mann-whitney")(b, c, JudgeParams(direction=Direction.INCREASE)).classification \
        is not Classification.HIGH


def test_a_step_in_the_second_half_is_found_by_the_change_test_with_its_location():
    b, c = release(3, shift=0.3, start=40)
    ts = 1_767_225_600.0 + 60.0 * np.arange(60)
    j = judge(b, c, paired(b, c, ts, direction=Direction.INCREASE))
    x = j.statistics.extra
    assert j.classification is Classification.HIGH and "a change within the window" in j.reason
    assert x["p_change"] <= 0.007 and abs(x["change_index"] - 40) <= 2
    assert x["change_at"] == ts[int(x["change_index"])]
    # weighted Bonferroni: 3/4 of the error rate for the level test, 1/4 for the change test
    assert j.statistics.p_value == pytest.approx(min(1.0, x["p_level"] / LEVEL_SHARE, x["p_change"] / (1 - LEVEL_SHARE)))


def test_short_windows_skip_the_change_test_and_use_the_whole_error_rate():
    b, c = release(4, n=MIN_CHANGE - 1)
    t = paired_test(np.log(c) - np.log(b), 0.98)
    assert t.change is None and math.isnan(t.p_change) and t.confidence == pytest.approx(0.98)
    assert t.p_value == t.p_level


def test_values_at_or_below_zero_are_judged_on_plain_differences():
    rng = np.random.default_rng(5)
    b = rng.normal(0.0, 1.0, 40)
    c = b + 3.0 + rng.normal(0.0, 0.2, 40)
    j = judge(b, c, paired(b, c))
    assert j.statistics.extra["log_ratio"] == 0 and "difference" in j.reason
    assert j.classification is Classification.HIGH and j.statistics.estimate == pytest.approx(3.0, abs=0.2)


def test_a_catastrophic_canary_on_three_points_is_high():
    b = np.array([0.0011, 0.0009, 0.0010])
    c = 13 * b * np.array([1.05, 0.97, 1.0])
    j = judge(b, c, paired(b, c, direction=Direction.INCREASE, critical=True))
    assert j.classification is Classification.HIGH and j.critical


def test_nan_pairs_are_dropped_and_counted():
    b, c = release(6, shift=0.25)
    b[[3, 9]] = np.nan
    c[20] = np.nan
    j = judge(b, c, paired(b, c, direction=Direction.INCREASE))
    x = j.statistics.extra
    assert x["n_pairs"] == 57 and x["n_nan_baseline"] == 2 and x["n_nan_canary"] == 1


def test_constant_ratio_is_decided_without_spread():
    b = np.linspace(100, 140, 30)
    j = judge(b, 1.5 * b, paired(b, 1.5 * b))
    s = j.statistics
    assert j.classification is Classification.HIGH and s.ci_lower == pytest.approx(s.ci_upper, abs=1e-12)
    assert s.estimate == pytest.approx(math.log(1.5))


# --- fall-back to the unpaired judge ----------------------------------------------------------------------------------

def test_without_an_alignment_the_judge_falls_back_to_mann_whitney_and_says_so():
    b, c = release(7, shift=0.25)
    j = judge(b, c, JudgeParams(direction=Direction.INCREASE))
    ref = get_judge("mann-whitney")(b, c, JudgeParams(direction=Direction.INCREASE))
    assert j.classification is ref.classification and j.statistics.estimate == ref.statistics.estimate
    assert j.reason.startswith("judged unpaired (mann-whitney) because no timestamps") and j.statistics.extra["paired"] == 0


@pytest.mark.parametrize("matched, why", [(2, "only 2 timestamps pair up"), (20, "only 20 of the shorter side's 60")])
def test_too_few_matched_timestamps_fall_back_with_the_counts(matched, why):
    b, c = release(8)
    j = judge(b, c, JudgeParams(options={"paired_baseline": b[:matched], "paired_canary": c[:matched],
                                         "unmatched_baseline": 60 - matched, "unmatched_canary": 60 - matched}))
    assert "judged unpaired (mann-whitney)" in j.reason and why in j.reason
    assert f"{60 - matched} baseline and {60 - matched} canary points have no partner" in j.reason
    assert j.statistics.extra["paired"] == 0 and j.statistics.extra["n_pairs"] == matched


def test_an_all_nan_side_falls_back_and_stays_nodata():
    b, _ = release(9)
    c = np.full(60, np.nan)
    j = judge(b, c, paired(b, c, critical=True))
    assert j.classification is Classification.NODATA and j.critical and "unpaired" in j.reason


def test_bad_options_raise_naming_the_option():
    with pytest.raises(ValueError, match="paired_canary"):
        judge([1.0, 2.0, 3.0], [1.0, 2.0], JudgeParams(options={"paired_baseline": [1.0, 2.0, 3.0],
                                                                "paired_canary": [1.0, 2.0]}))


# --- properties -------------------------------------------------------------------------------------------------------

positive = st.lists(st.floats(1.0, 1000.0, allow_nan=False), min_size=MIN_CHANGE + 2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values=positive, critical=st.booleans())
def test_identical_series_pass(values, critical):
    b = np.array(values)
    j = judge(b, b.copy(), paired(b, b.copy(), critical=critical))
    assert j.classification is Classification.PASS and not j.critical and j.reason


def _close(j) -> bool:
    s = j.statistics
    bound = 0.25 * abs(s.estimate)
    ends = [s.ci_lower - bound, s.ci_upper + bound, s.ci_lower + bound, s.ci_upper - bound]
    if "after pair" in j.reason:  # decided on the post-change interval
        x = s.extra
        ends += [x["post_lower"] - bound, x["post_upper"] + bound]
    pc = s.extra.get("p_change", math.nan)
    return any(abs(e) < 1e-6 * (1 + abs(s.estimate)) for e in ends if math.isfinite(e)) or \
        (math.isfinite(pc) and abs(pc - 0.01) < 1e-3)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 16), shift=st.sampled_from([0.0, 0.05, 0.3, -0.3]), start=st.sampled_from([0, 30]),
       critical=st.booleans())
def test_swapping_sides_swaps_high_and_low(seed, shift, start, critical):
    b, c = release(seed, shift=shift, start=start)
    fwd, bwd = judge(b, c, paired(b, c, critical=critical)), judge(c, b, paired(c, b, critical=critical))
    assume(not _close(fwd) and not _close(bwd))
    assert bwd.classification is MIRROR[fwd.classification] and bwd.critical == fwd.critical
    assert bwd.statistics.estimate == pytest.approx(-fwd.statistics.estimate, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), shift=st.sampled_from([0.0, 0.1, 0.3]), scale=st.floats(0.01, 100.0))
def test_a_common_multiplicative_factor_changes_nothing(seed, shift, scale):
    b, c = release(seed, shift=shift)
    k = scale * np.exp(np.random.default_rng(seed + 1).normal(0, 0.5, b.size))
    one, two = judge(b, c, paired(b, c)), judge(b * k, c * k, paired(b * k, c * k))
    assume(not _close(one))
    assert two.classification is one.classification
    assert two.statistics.estimate == pytest.approx(one.statistics.estimate, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), shift=st.sampled_from([0.0, 1.0, 5.0]), level=st.floats(-500.0, 500.0))
# a change within the window: the effect-size gate of the post-change interval once read the whole window's mean
# ratio (below 1 with the signal added, NaN without), so the same differences gave high and inconclusive
@example(seed=1022, shift=0.0, level=0.0)
def test_a_common_additive_signal_changes_nothing_on_differences(seed, shift, level):
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0, 1.0, 40)  # values around 0: judged on differences
    c = b + shift + 0.5 * rng.standard_normal(40)
    signal = level + 50 * np.sin(np.arange(40) / 5)
    one = judge(b, c, paired(b, c))
    two = judge(b + signal, c + signal, paired(b + signal, c + signal, options={}))
    assume(one.statistics.extra["log_ratio"] == 0 and two.statistics.extra["log_ratio"] == 0)
    assume(not _close(one))
    assert two.classification is one.classification
    assert two.statistics.estimate == pytest.approx(one.statistics.estimate, abs=1e-8)


# --- calibration: false alarms at the levels of a 12-metric Holm step ---------------------------------------------------

@pytest.mark.parametrize("phi, n", [(0.0, 60), (0.5, 30)])
def test_a_a_rejections_stay_near_their_level(phi, n):
    # 250 seeded A/A series: p <= 0.05 happens ~5 % of the time (binomial sd 1.4 %); the paired test may be
    # conservative but not liberal beyond noise
    rng = np.random.default_rng(int(phi * 10) + n)
    p = np.array([paired_test(0.07 * _ar1(rng, phi, n), 0.98).p_value for _ in range(250)])
    assert (p <= 0.05).mean() <= 0.09


@pytest.mark.parametrize("n, phi, confidence", [(30, 0.5, 1 - 0.05 / 12), (60, 0.8, 0.98), (300, 0.5, 0.98)])
def test_the_planned_mde_is_detected_with_its_power(n, phi, confidence):
    # canary plan's number for the paired judge: at its MDE the level interval lies above 0 with the planned power
    # (simulated in the judge up to 240 points, a noncentral t beyond); here 500 simulated windows
    from judges._har import ar1_rows
    from judges.paired import paired_test, planned_mde

    mde = planned_mde(n, 0.07, phi, confidence, 0.8)
    x = 0.07 * ar1_rows(np.random.default_rng(n), 500, n, phi) + mde
    rate = np.mean([paired_test(row, confidence).lower > 0 for row in x])
    assert 0.72 <= rate <= 0.88
    assert planned_mde(2, 0.07, phi, confidence) == math.inf and planned_mde(n, 0.0, phi, confidence) == 0.0


# --- the release's autocorrelation pool (pooled_autocorrelation) --------------------------------------------------------

def test_the_pool_needs_four_estimates_and_keeps_an_unusual_one():
    from judges.paired import POOL_MIN, pooled_autocorrelation

    # too few estimates, or too short a series: the metric's own estimate, not set by the pool
    assert pooled_autocorrelation(0.8, 30, [(0.5, 30)] * (POOL_MIN - 2)) == (0.8, False)
    assert pooled_autocorrelation(0.8, 6, [(0.5, 30)] * 11) == (0.8, False)
    # peers shorter than autocorrelation.MIN_POINTS or not finite do not count
    assert pooled_autocorrelation(0.8, 30, [(0.5, 5)] * 11 + [(math.nan, 30)] * 3) == (0.8, False)
    # eleven peers at 0.45 and no spread beyond sampling: the pool's mean, (0.7 + 11 x 0.45) / 12, set by the pool
    phi, pooled = pooled_autocorrelation(0.7, 30, [(0.45, 30)] * 11)
    assert phi == pytest.approx((0.7 + 11 * 0.45) / 12) and pooled
    # an estimate far above the pool (0.95 among latencies at 0.3) keeps its own value: pulling it down would make
    # its test liberal; one far below is moved up (which can only cost power)
    assert pooled_autocorrelation(0.95, 30, [(0.3, 30)] * 11) == (0.95, False)
    assert pooled_autocorrelation(0.0, 30, [(0.8, 30)] * 11)[0] > 0.25
    # peers that differ a lot among themselves move the estimate little, and do not set it
    spread = [(v, 30) for v in (0.0, 0.1, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.3, 0.4)]
    phi, pooled = pooled_autocorrelation(0.75, 30, spread)
    assert 0.6 < phi < 0.75 and not pooled


def test_the_level_test_takes_more_cosines_when_the_pool_sets_the_autocorrelation():
    from judges._har import ar1_rows

    x = 0.07 * ar1_rows(np.random.default_rng(3), 1, 30, 0.5)[0]
    alone, pooled = paired_test(x, 0.98), paired_test(x, 0.98, [(0.5, 30)] * 11)
    # 0.5 x 30^(2/3) = 4.8 -> 5 cosines alone; 0.6 x 30^(2/3) = 5.8 -> 6 with the pool
    assert (alone.df, pooled.df) == (5, 6) and pooled.phi_own == alone.phi_own
    # the pool's value is what the critical value is calibrated at (a 0.05 grid point, rounded up)
    assert pooled.phi_level >= 0.5 and pooled.critical_value < paired_test(x, 0.98, [(0.9, 30)] * 11).critical_value


@settings(max_examples=200, deadline=None)
@given(own=st.floats(-0.5, 0.99), n=st.integers(8, 500),
       peers=st.lists(st.tuples(st.floats(-0.5, 0.99), st.integers(8, 500)), min_size=0, max_size=20))
def test_the_pool_moves_an_estimate_towards_the_mean_never_past_it(own, n, peers):
    from judges.paired import pooled_autocorrelation

    got, _ = pooled_autocorrelation(own, n, peers)
    m = float(np.mean([own] + [r for r, _ in peers]))
    assert min(own, m) - 1e-12 <= got <= max(own, m) + 1e-12
    # the order of the peers does not matter
    assert pooled_autocorrelation(own, n, peers[::-1])[0] == pytest.approx(got, abs=1e-12)


def test_the_pool_buys_power_in_a_release_of_alike_metrics():
    # 12 metrics with AR 0.5 noise on 30 points, +20 % on one (log sd 0.07 of the differences), at the first Holm
    # step of 12 metrics: its own estimate of the autocorrelation (sd ~0.18) often lands high and lifts the critical
    # value; the release's pool is tighter. 150 seeded releases.
    from judges._har import ar1_rows
    from judges.autocorrelation import lag1

    rng = np.random.default_rng(12)
    conf = 1 - 0.05 / 12
    alone = pooled = 0
    for _ in range(150):
        x = 0.07 * ar1_rows(rng, 12, 30, 0.5)
        x[0] += math.log(1.2)
        peers = [lag1([row]) for row in x[1:]]
        alone += paired_test(x[0], conf).lower > 0
        pooled += paired_test(x[0], conf, peers).lower > 0
    assert pooled >= alone + 6 and pooled / 150 >= 0.82


def test_peers_that_are_not_estimates_never_lower_the_calibration():
    # the pipeline gives finite (estimate, points) pairs; a library caller might not: rows that no lag-1 estimate
    # can be (1e200, an infinite length) are left out, and a malformed array is an error, never a pass
    from judges._har import ar1_rows
    from judges.paired import pooled_autocorrelation

    x = 0.07 * ar1_rows(np.random.default_rng(5), 1, 30, 0.9)[0]
    alone = paired_test(x, 0.99)
    for bad in ([(0.9, 30)] * 2 + [(1e200, 30)], [(0.9, 30)] * 2 + [(0.5, math.inf)], [(math.nan, 30)] * 5):
        assert paired_test(x, 0.99, bad).critical_value == alone.critical_value
    assert pooled_autocorrelation(math.nan, 30, [(0.5, 30)] * 11) == (pytest.approx(math.nan, nan_ok=True), False)
    b, c = np.exp(x), np.exp(x + 0.05)
    j = judge(b, c, paired(b, c, options={"peers": np.zeros((2, 7))}))
    assert j.classification is Classification.ERROR and "options.peers" in j.reason
