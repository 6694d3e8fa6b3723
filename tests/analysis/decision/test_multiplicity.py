"""Holm's family-wise correction: the adjusted p-values, and how the pipeline applies them to a release."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import parse_config
from analysis.decision.family import apply_holm
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


def _result(name, cls, p, muted=False, critical=False):
    stats = Statistics(n_baseline=60, n_canary=60, estimate=1.0, ci_lower=0.5, ci_upper=1.5, p_value=p)
    reason = "" if cls is Classification.PASS else f"{name} is higher: shift 1"
    return MetricResult(name=name, group="g", judge="mann-whitney", muted=muted, critical_metric=critical,
                        judgement=Judgement(cls, reason, critical=critical, statistics=stats))


def test_a_high_that_holm_does_not_confirm_becomes_a_pass_with_the_adjusted_p():
    results = [_result("a", Classification.HIGH, 0.01, critical=True), _result("b", Classification.HIGH, 0.001)]
    results += [_result(f"m{i}", Classification.PASS, 0.5) for i in range(10)]
    out = apply_holm(results, 0.05)
    a, b = out[0], out[1]
    assert a.classification is Classification.PASS and not a.critical
    assert a.p_adjusted == pytest.approx(0.11)
    assert "Holm-adjusted p 0.11 > alpha 0.05" in a.reason and "raw p 0.01" in a.reason
    assert "a is higher" in a.reason  # what the judge alone would have said
    assert b.classification is Classification.HIGH and b.p_adjusted == pytest.approx(0.012)
    assert all(r.p_adjusted == 1.0 for r in out[2:])


def test_muted_and_p_less_metrics_are_outside_the_family():
    results = [_result("muted", Classification.HIGH, 0.001, muted=True), _result("kayenta", Classification.HIGH,
                                                                                  math.nan),
               _result("x", Classification.HIGH, 0.02), _result("y", Classification.PASS, 0.9)]
    out = apply_holm(results, 0.05)
    assert out[0].classification is Classification.HIGH and math.isnan(out[0].p_adjusted)
    assert out[1].classification is Classification.HIGH and math.isnan(out[1].p_adjusted)
    assert out[2].classification is Classification.HIGH and out[2].p_adjusted == pytest.approx(0.04)


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


def test_the_pipeline_applies_holm_by_default_and_can_be_switched_off():
    names = [f"m{i}" for i in range(12)]
    shifts = {n: 0.0 for n in names}
    shifts["m0"] = 0.02  # raw p about 0.008: significant alone at 98 %, not once for 12 metrics
    pairs = _pairs(shifts, seed=1)
    alone = judge_pairs(_config(names, holm=False), pairs, None)
    on = judge_pairs(_config(names), pairs, None)
    assert alone.metric("m0").classification is Classification.HIGH
    assert 0.05 / 12 < alone.metric("m0").statistics.p_value < 0.02
    assert math.isnan(alone.metric("m0").p_adjusted)
    m0 = on.metric("m0")
    assert m0.classification is Classification.PASS and "Holm-adjusted p" in m0.reason
    assert m0.p_adjusted == pytest.approx(min(1.0, 12 * m0.statistics.p_value))
    assert on.verdict.value == "pass" and alone.verdict.value != "pass"
    big = judge_pairs(_config(names), _pairs({**shifts, "m0": 0.2}), None)
    assert big.metric("m0").classification is Classification.HIGH
    assert big.metric("m0").to_dict()["p_adjusted"] <= 0.05
