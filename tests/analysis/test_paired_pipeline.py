"""Timestamp alignment (``analysis.series.align``) and the paired default judge through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.config import parse_config
from analysis.pipeline import judge_pairs
from analysis.series import SamplePair, Series, align
from judges import Classification

T0 = 1_767_225_600.0


def series(ts, values):
    return Series(np.asarray(ts, float), np.asarray(values, float))


def test_align_joins_on_timestamps_and_counts_the_unmatched():
    b = series(T0 + 60 * np.arange(60), np.arange(60))
    c = series(T0 + 60 * np.arange(10, 60), 100 + np.arange(10, 60))  # the canary started 10 minutes later
    a = align(b, c)
    assert (a.unmatched_baseline, a.unmatched_canary, a.timestamps.size) == (10, 0, 50)
    assert np.array_equal(a.canary - a.baseline, np.full(50, 100.0))


def test_align_never_pairs_by_position():
    b = series(T0 + 60 * np.arange(5), [1, 2, 3, 4, 5])
    c = series(T0 + 30 + 60 * np.arange(5), [1, 2, 3, 4, 5])  # same length, a different grid
    a = align(b, c)
    assert a.timestamps.size == 0 and (a.unmatched_baseline, a.unmatched_canary) == (5, 5)


def test_align_keeps_the_first_of_repeated_timestamps_and_tolerates_float_noise():
    b = series([T0, T0 + 60, T0 + 60, T0 + 120], [1, 2, 99, 3])
    c = series([T0 + 1e-7, T0 + 60.0000001, T0 + 120], [10, 20, 30])
    a = align(b, c)
    assert np.array_equal(a.baseline, [1, 2, 3]) and np.array_equal(a.canary, [10, 20, 30])
    assert (a.unmatched_baseline, a.unmatched_canary) == (1, 0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), late=st.integers(0, 20))
def test_align_ignores_the_order_of_the_points(seed, late):
    rng = np.random.default_rng(seed)
    ts = T0 + 60 * np.arange(40)
    b = series(ts, rng.normal(size=40))
    c = series(ts[late:], rng.normal(size=40 - late))
    pb, pc = rng.permutation(40), rng.permutation(40 - late)
    one = align(b, c)
    two = align(series(b.timestamps[pb], b.values[pb]), series(c.timestamps[pc], c.values[pc]))
    for x, y in ((one.timestamps, two.timestamps), (one.baseline, two.baseline), (one.canary, two.canary)):
        assert np.array_equal(x, y)
    assert np.all(np.diff(two.timestamps) > 0)


def _release(seed, shift=0.0, late=0, offset=0.0):
    rng = np.random.default_rng(seed)
    load = np.cumsum(rng.normal(0, 0.05, 60))
    ts = T0 + 60 * np.arange(60)
    b = 100 * np.exp(load + 0.04 * rng.standard_normal(60))
    c = 100 * np.exp(load + 0.04 * rng.standard_normal(60)) * (1 + shift)
    return {"latency": SamplePair("latency", series(ts, b), series(ts[late:] + offset, c[late:]))}


CONFIG = parse_config({"name": "t", "metrics": [{"name": "latency", "direction": "increase"}]}, "t.yaml")


def test_the_default_judge_is_paired_and_pairs_a_late_canary_on_the_overlap():
    result = judge_pairs(CONFIG, _release(1, shift=0.25, late=10), None)
    m = result.metrics[0]
    x = m.statistics.extra
    assert m.judge == "paired" and m.classification is Classification.HIGH
    assert (x["paired"], x["n_pairs"], x["unmatched_baseline"], x["unmatched_canary"]) == (1, 50, 10, 0)
    assert "10 unmatched points left out" in m.judgement.reason


def test_a_canary_on_another_grid_falls_back_to_mann_whitney_with_the_reason():
    result = judge_pairs(CONFIG, _release(2, offset=30.0), None)
    m = result.metrics[0]
    assert m.judge == "paired" and m.statistics.extra["paired"] == 0
    assert "judged unpaired (mann-whitney) because only 0 timestamps pair up" in m.judgement.reason
    assert "60 baseline and 60 canary points have no partner" in m.judgement.reason


def test_unpaired_judges_stay_available_by_name():
    cfg = parse_config({"name": "t", "defaults": {"judge": "mann-whitney"},
                        "metrics": [{"name": "latency", "direction": "increase"}]}, "t.yaml")
    m = judge_pairs(cfg, _release(3, shift=0.25), None).metrics[0]
    assert m.judge == "mann-whitney" and "paired" not in m.statistics.extra and "vif" in m.statistics.extra


def test_shuffled_rows_give_the_same_judgement():
    pair = _release(4, shift=0.1, late=5)["latency"]
    rng = np.random.default_rng(0)
    pb, pc = rng.permutation(len(pair.baseline)), rng.permutation(len(pair.canary))
    shuffled = SamplePair("latency", series(pair.baseline.timestamps[pb], pair.baseline.values[pb]),
                          series(pair.canary.timestamps[pc], pair.canary.values[pc]))
    one = judge_pairs(CONFIG, {"latency": pair}, None).metrics[0].judgement
    two = judge_pairs(CONFIG, {"latency": shuffled}, None).metrics[0].judgement
    assert one.classification is two.classification and one.reason == two.reason
    assert one.statistics.estimate == pytest.approx(two.statistics.estimate, rel=1e-12)


def _alike(seed, metrics=5, n=40, shift=0.0):
    """Metrics with alike (moving-average) noise; the canary of ``m0`` is ``shift`` higher."""
    rng = np.random.default_rng(seed)
    ts = T0 + 60 * np.arange(n)
    out = {}
    for k in range(metrics):
        b, c = (100 * np.exp(0.05 * np.convolve(rng.standard_normal(n + 2), [1, 0.8, 0.5])[2:]) for _ in range(2))
        out[f"m{k}"] = SamplePair(f"m{k}", series(ts, b), series(ts, c * (1 + shift if k == 0 else 1)))
    return out


def test_each_paired_metric_sees_the_autocorrelation_of_the_others_also_after_holm():
    pairs = _alike(3, shift=0.5)
    pairs["short"] = SamplePair("short", series(T0 + 60 * np.arange(5), np.ones(5)),
                                series(T0 + 60 * np.arange(5), np.ones(5) * 2))
    pairs["ranked"] = pairs["m0"]
    metrics = [{"name": f"m{k}"} for k in range(5)] + [{"name": "short"}, {"name": "ranked", "judge": "mann-whitney"}]
    config = parse_config({"name": "t", "metrics": metrics}, "t.yaml")
    result = judge_pairs(config, pairs, None)
    by_name = {m.name: m for m in result.metrics}
    # the five paired metrics with enough points pool (each sees the other four); the 5-point one and the
    # mann-whitney one stay out
    assert [by_name[f"m{k}"].statistics.extra["autocorrelation_peers"] for k in range(5)] == [4] * 5
    # m0 is high at its own level, so Holm judged it again at its step-down level: still with its peers
    x = by_name["m0"].statistics.extra
    assert by_name["m0"].classification is Classification.HIGH and x["ci_confidence"] > 0.99
    assert by_name["short"].statistics.extra["autocorrelation_peers"] == 5


def test_the_pool_does_not_depend_on_the_order_of_the_metrics():
    pairs = _alike(4, metrics=6)
    names = list(pairs)
    one = judge_pairs(parse_config({"name": "t", "metrics": [{"name": k} for k in names]}, "t.yaml"), pairs, None)
    two = judge_pairs(parse_config({"name": "t", "metrics": [{"name": k} for k in names[::-1]]}, "t.yaml"), pairs,
                      None)
    a, b = {m.name: m.statistics for m in one.metrics}, {m.name: m.statistics for m in two.metrics}
    for k in names:
        assert a[k].extra["autocorrelation"] == b[k].extra["autocorrelation"] and a[k].ci_upper == b[k].ci_upper
