"""Holm's family-wise correction: the adjusted p-values, and how the pipeline applies them to a release."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import parse_config
from analysis.decision.family import holm_by_level
from analysis.pipeline import judge_pairs
from analysis.results import MetricResult
from analysis.series import SamplePair, Series
from judges import Classification, Judgement, Statistics
from judges.multiplicity import holm

# R: p.adjust(p, method = "holm")
REFERENCE = [
    ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
    ([0.04, 0.001, 0.5, 0.012], [0.08, 0.004, 0.5, 0.036]),
    ([0.3, 0.3, 0.3], [0.9, 0.9, 0.9]),
    ([0.6, 0.01], [0.6, 0.02]),
    ([0.0], [0.0]),
]


@pytest.mark.parametrize("p, expected", REFERENCE)
def test_holm_matches_p_adjust(p, expected):
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12)


def test_nan_is_outside_the_family():
    out = holm([0.01, math.nan, 0.04])
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])
    assert np.isnan(holm([math.nan])).all()


def test_p_values_outside_the_unit_interval_are_rejected():
    with pytest.raises(ValueError, match="p_values"):
        holm([0.5, 1.5])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_is_the_step_down_procedure(p):
    p = np.array(p)
    adj = holm(p)
    assert (adj >= p - 1e-15).all() and (adj <= 1).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(adj[order]) >= -1e-15).all()
    m, alpha = p.size, 0.05
    # direct definition: reject the k smallest while p_(i) <= alpha / (m - i + 1)
    rejected = 0
    for i, j in enumerate(order):
        if p[j] > alpha / (m - i):
            break
        rejected += 1
    assert int((adj <= alpha).sum()) == rejected


def test_family_wise_error_rate_for_twelve_independent_metrics():
    rng = np.random.default_rng(12)
    p = rng.random((20_000, 12))
    any_false = (np.apply_along_axis(holm, 1, p) <= 0.05).any(axis=1).mean()
    assert any_false <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 20_000)
    assert (p <= 0.05).any(axis=1).mean() > 0.4  # uncorrected: 1 - 0.95^12 = 46 %


def _result(name, p, muted=False, critical=False):
    stats = Statistics(n_baseline=60, n_canary=60, estimate=1.0, ci_lower=0.5, ci_upper=1.5, p_value=p)
    return MetricResult(name=name, group="g", judge="mann-whitney", muted=muted, critical_metric=critical,
                        judgement=_at(p, 0.98, critical))


def _at(p, confidence, critical=False):
    """A judge whose test rejects at level 1 - confidence exactly when p <= 1 - confidence."""
    cls = Classification.HIGH if p <= 1 - confidence + 1e-15 else Classification.INCONCLUSIVE
    stats = Statistics(n_baseline=60, n_canary=60, p_value=p, extra={"ci_confidence": confidence})
    return Judgement(cls, f"at {confidence}", critical=critical and cls is Classification.HIGH, statistics=stats)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=15))
def test_holm_by_level_flags_exactly_what_holm_rejects(p):
    # the interval reading of Holm's step-down procedure: flagged at alpha / k == rejected by p.adjust("holm")
    results = [_result(f"m{i}", v) for i, v in enumerate(p)]
    out = holm_by_level(results, 0.05, [0.98] * len(p), lambda i, c: _at(p[i], c))
    flagged = [r.classification is Classification.HIGH for r in out]
    assert flagged == [bool(a <= 0.05) and v <= 0.02 for a, v in zip(holm(p), p)]
    for r in out:  # every result says the confidence its interval was judged at
        assert r.statistics.extra["ci_confidence"] >= 0.98


def test_holm_never_turns_a_flag_into_a_pass_and_keeps_muted_and_p_less_metrics_out():
    results = [_result("muted", 0.001, muted=True), _result("x", 0.019, critical=True), _result("y", 0.9),
               _result("z", 0.5)]
    results.insert(3, MetricResult(name="kayenta", group="g", judge="kayenta",
                                judgement=Judgement(Classification.HIGH, "k", statistics=Statistics())))
    calls = []

    def rejudge(i, c):
        calls.append((results[i].name, c))
        return _at(results[i].statistics.p_value, c, results[i].critical_metric)

    out = holm_by_level(results, 0.05, [0.98] * 5, rejudge)
    assert out[0] == results[0] and out[3] == results[3]
    assert ("muted", pytest.approx(0.975)) not in calls and all(n != "kayenta" for n, _ in calls)
    # x: p 0.019 > 0.05 / 3: at 98.33 % it is not shown worse, so it is inconclusive, never a pass
    assert out[1].classification is Classification.INCONCLUSIVE and not out[1].critical
    assert out[1].statistics.extra["ci_confidence"] == pytest.approx(1 - 0.05 / 3)


def _pairs(shifts: dict[str, float], n=60, seed=3):
    rng = np.random.default_rng(seed)
    ts = np.arange(n) * 60.0
    return {m: SamplePair(m, Series(ts, rng.normal(100, 5, n)), Series(ts, rng.normal(100, 5, n) * (1 + s)))
            for m, s in shifts.items()}


def _config(names, **scoring):
    # tolerance 0: high as soon as the 98 % interval excludes 0, so that Holm is the only extra hurdle; the p-values
    # below are the rank test's on independent samples, so the judge is named (the default became `paired`)
    metrics = [{"name": n, "direction": "increase", "tolerance": 0, "judge": "mann-whitney",
                "options": {"autocorrelation": False}} for n in names]
    return parse_config({"name": "t", "metrics": metrics, **({"scoring": scoring} if scoring else {})})


def test_the_pipeline_applies_holm_to_the_interval_level_and_can_be_switched_off():
    names = [f"m{i}" for i in range(12)]
    shifts = {n: 0.0 for n in names}
    shifts["m0"] = 0.02  # raw p about 0.008: significant alone at 98 %, not once for 12 metrics
    pairs = _pairs(shifts, seed=1)
    alone = judge_pairs(_config(names, holm=False), pairs, None)
    on = judge_pairs(_config(names), pairs, None)
    assert alone.metric("m0").classification is Classification.HIGH
    assert 0.05 / 12 < alone.metric("m0").statistics.p_value < 0.02
    m0 = on.metric("m0")
    # judged again at 1 - 0.05/12: its interval now includes 0, and it is labelled with that level
    assert m0.classification is not Classification.HIGH
    assert m0.statistics.extra["ci_confidence"] == pytest.approx(1 - 0.05 / 12)
    assert "99.58% CI" in m0.reason
    assert alone.verdict.value != "pass"
    big = judge_pairs(_config(names), _pairs({**shifts, "m0": 0.2}), None)
    assert big.metric("m0").classification is Classification.HIGH
    assert "99.58% CI" in big.metric("m0").reason


def test_three_points_at_thirteen_times_the_errors_never_pass_with_holm():
    # issue 12: 3 vs 3 points, a critical error ratio at 13x the baseline passed with score 100 (the rank test's
    # smallest p is 0.1, Holm lifted it to 0.2 and "not significant" read as pass; the reason said "98% CI" where
    # 90 % was used)
    ts = np.arange(3) * 60.0
    base = np.array([0.0010, 0.0012, 0.0009])
    pairs = {"errors": SamplePair("errors", Series(ts, base), Series(ts, base * 13))}
    # the default (paired) judge sees every pair 13x higher: fail
    cfg = parse_config({"name": "t", "metrics": [{"name": "errors", "direction": "increase", "critical": True}]})
    r = judge_pairs(cfg, pairs, None)
    assert r.verdict.value == "fail" and r.exit_code == 1
    # the unpaired rank test cannot show it at its level with 3 vs 3: inconclusive, labelled with the level used
    cfg = parse_config({"name": "t", "metrics": [{"name": "errors", "direction": "increase", "critical": True,
                                                  "judge": "mann-whitney"}]})
    r = judge_pairs(cfg, pairs, None)
    assert r.verdict.value != "pass" and r.exit_code != 0
    m = r.metric("errors")
    assert m.classification is Classification.INCONCLUSIVE
    assert "90% CI" not in m.reason or "cannot reach 98%" in m.reason
    assert m.statistics.extra["ci_confidence"] == pytest.approx(0.9)
    assert "98% CI" not in m.reason
