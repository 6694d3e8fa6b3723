"""The ``threshold`` judge: statistics, absolute and ratio bounds, no-data rules, reasons and parameter errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judges import Classification, JudgeParams, NanStrategy, get_judge
from judges.threshold import STATISTICS, judge, ratio

VALUES = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 10.0])


# expected values: numpy's default (R-7, "linear") percentiles, as in preprocessing
@pytest.mark.parametrize("statistic, expected", [
    ("mean", 5.5), ("median", 5.5), ("p90", 9.1), ("p95", 9.55), ("p99", 9.91), ("max", 10.0), ("last", 10.0),
])
def test_statistics(statistic, expected):
    j = judge(VALUES, VALUES, JudgeParams(statistic=statistic, upper=100.0))
    assert j.classification is Classification.PASS
    assert j.statistics.estimate == pytest.approx(expected, rel=1e-12)
    assert j.statistics.effect_size == 1.0 and j.statistics.extra["baseline_statistic"] == j.statistics.estimate


def test_registered_and_statistic_names():
    assert get_judge("threshold") is judge
    assert set(STATISTICS) == {"mean", "median", "p90", "p95", "p99", "max", "last"}


@pytest.mark.parametrize("bounds, expected, reason", [
    (dict(upper=300.0), Classification.HIGH, "p99 latency 412 exceeds the upper bound 300"),
    (dict(upper=500.0), Classification.PASS, ""),
    (dict(lower=450.0), Classification.LOW, "p99 latency 412 is below the lower bound 450"),
    (dict(max_ratio=1.5), Classification.HIGH,
     "p99 latency 412 is 2.06x the baseline p99 200, above the maximum ratio 1.5"),
    (dict(min_ratio=2.5), Classification.LOW,
     "p99 latency 412 is 2.06x the baseline p99 200, below the minimum ratio 2.5"),
    (dict(max_ratio=3.0, min_ratio=0.5), Classification.PASS, ""),
    (dict(upper=300.0, min_ratio=2.5), Classification.HIGH, "exceeds the upper bound 300"),  # high first
])
def test_bounds(bounds, expected, reason):
    canary, baseline = np.full(50, 412.0), np.full(50, 200.0)
    j = judge(baseline, canary, JudgeParams(name="latency", statistic="p99", **bounds))
    assert j.classification is expected
    assert reason in j.reason if reason else j.reason == ""
    assert j.statistics.estimate == 412.0 and j.statistics.effect_size == 2.06
    assert not j.critical


def test_critical_metric_high_and_low_are_critical():
    high = judge(np.ones(5), np.full(5, 9.0), JudgeParams(name="errors", upper=1.0, critical=True))
    low = judge(np.ones(5), np.zeros(5), JudgeParams(name="rps", lower=0.5, critical=True))
    assert high.critical and high.reason.endswith("(critical)")
    assert low.classification is Classification.LOW and low.critical
    assert not judge(np.ones(5), np.ones(5), JudgeParams(upper=2.0, critical=True)).critical


@pytest.mark.parametrize("canary_value, expected_ratio, expected", [
    (0.0, 1.0, Classification.PASS),
    (3.0, math.inf, Classification.HIGH),
    (-3.0, -math.inf, Classification.LOW),
])
def test_zero_baseline_ratio(canary_value, expected_ratio, expected):
    j = judge(np.zeros(4), np.full(4, canary_value), JudgeParams(max_ratio=2.0, min_ratio=0.5))
    assert j.statistics.effect_size == expected_ratio and j.classification is expected
    assert ratio(canary_value, 0.0) == expected_ratio


@pytest.mark.parametrize("baseline, canary, params, reason", [
    ([1.0], [], JudgeParams(upper=1.0), "no canary"),
    ([1.0], [np.nan, np.nan], JudgeParams(upper=1.0), "no canary"),
    ([], [1.0], JudgeParams(max_ratio=2.0), "no baseline"),
    ([np.nan], [1.0], JudgeParams(min_ratio=0.5, critical=True), "no baseline"),
])
def test_nodata(baseline, canary, params, reason):
    j = judge(np.array(baseline), np.array(canary), params)
    assert j.classification is Classification.NODATA and reason in j.reason
    assert j.critical == params.critical


def test_absolute_bound_needs_no_baseline():
    j = judge(np.array([]), np.array([1.0, 5.0]), JudgeParams(statistic="max", upper=4.0))
    assert j.classification is Classification.HIGH and math.isnan(j.statistics.effect_size)
    assert j.statistics.n_baseline == 0 and j.statistics.n_canary == 2


def test_nan_handling_and_last_point():
    canary = np.array([1.0, 2.0, 30.0, np.nan])
    removed = judge(np.ones(3), canary, JudgeParams(statistic="last", upper=10.0))
    assert removed.classification is Classification.HIGH and removed.statistics.estimate == 30.0
    assert removed.statistics.extra["n_nan_canary"] == 1 and removed.statistics.n_canary == 3
    replaced = judge(np.ones(3), canary, JudgeParams(statistic="last", upper=10.0, nan_strategy=NanStrategy.REPLACE))
    assert replaced.classification is Classification.PASS and replaced.statistics.estimate == 0.0


def test_infinite_values_are_compared():
    j = judge(np.ones(3), np.array([1.0, np.inf]), JudgeParams(statistic="max", upper=1e9))
    assert j.classification is Classification.HIGH and "inf" in j.reason


@pytest.mark.parametrize("baseline, canary, params", [
    (np.ones(3), np.array([np.inf, -np.inf, 1.0]), JudgeParams(name="lat", upper=10.0, critical=True)),
    (np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), JudgeParams(name="lat", statistic="max", max_ratio=1.5,
                                                                    critical=True)),
])
def test_an_undefined_statistic_never_passes(baseline, canary, params):
    with np.errstate(invalid="ignore"):
        j = judge(baseline, canary, params)
    assert j.classification is Classification.ERROR and "undefined" in j.reason and j.critical


@pytest.mark.parametrize("params, message", [
    (JudgeParams(name="cpu", statistic="p50", upper=1.0), r"`statistic` of cpu must be one of \{mean, median"),
    (JudgeParams(name="cpu"), "needs at least one of `upper`, `lower`"),
    (JudgeParams(name="cpu", upper=float("nan")), "`upper` of cpu must be a number"),
])
def test_bad_parameters_raise(params, message):
    with pytest.raises(ValueError, match=message):
        judge(np.ones(3), np.ones(3), params)


def test_a_failing_statistic_is_an_error_outcome(monkeypatch):
    import judges.threshold as th

    def boom(v):
        raise ArithmeticError("broken")

    monkeypatch.setitem(th.STATISTICS, "mean", boom)
    j = judge(np.ones(3), np.ones(3), JudgeParams(name="cpu", upper=1.0, critical=True))
    assert j.classification is Classification.ERROR and "broken" in j.reason and j.critical
