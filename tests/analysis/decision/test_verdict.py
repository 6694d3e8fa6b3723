"""Verdict rules: thresholds, critical failures, nodata and errors never pass."""

from __future__ import annotations

import pytest

from analysis.config import Thresholds
from analysis.decision.scoring import Scored, score
from analysis.decision.verdict import Verdict, decide, decide_run
from judges import Classification as C

T = Thresholds(95, 75)


def verdict(results, critical_failures=(), weights=None):
    return decide(results, list(critical_failures), score(results, weights or {}), T)


def test_thresholds():
    passes = [Scored(f"p{i}", "g", C.PASS) for i in range(19)]
    assert verdict(passes + [Scored("h", "g", C.HIGH)]).verdict is Verdict.PASS  # 95.0
    assert verdict(passes[:9] + [Scored("h", "g", C.HIGH)]).verdict is Verdict.MARGINAL  # 90
    assert verdict(passes[:2] + [Scored("h", "g", C.HIGH)]).verdict is Verdict.FAIL  # 66.67


def test_critical_failure_fails_even_with_a_high_score():
    rs = [Scored(f"p{i}", "g", C.PASS) for i in range(50)] + [Scored("c", "g", C.HIGH, critical_metric=True)]
    v = verdict(rs, ["c"])
    assert v.verdict is Verdict.FAIL and v.exit_code == 1 and "c" in v.reason


@pytest.mark.parametrize("label, expected", [(C.NODATA, Verdict.NODATA), (C.ERROR, Verdict.ERROR)])
def test_critical_metric_without_result_never_passes(label, expected):
    rs = [Scored(f"p{i}", "g", C.PASS) for i in range(10)] + [Scored("c", "g", label, critical_metric=True)]
    v = verdict(rs)
    assert v.verdict is expected and v.exit_code == 4


def test_error_on_any_metric_blocks_a_pass():
    rs = [Scored(f"p{i}", "g", C.PASS) for i in range(10)] + [Scored("e", "g", C.ERROR)]
    v = verdict(rs)
    assert v.verdict is Verdict.ERROR and "e" in v.reason


def test_error_does_not_hide_a_fail():
    rs = [Scored("h1", "g", C.HIGH), Scored("h2", "g", C.HIGH), Scored("e", "g", C.ERROR)]
    assert verdict(rs).verdict is Verdict.FAIL


def test_half_nodata_is_nodata():
    rs = [Scored("a", "g", C.PASS), Scored("b", "g", C.NODATA), Scored("c", "g", C.NODATA)]
    v = verdict(rs)
    assert v.verdict is Verdict.NODATA and v.exit_code == 4


def test_some_nodata_can_pass_but_is_reported():
    rs = [Scored(f"p{i}", "g", C.PASS) for i in range(5)] + [Scored("n", "g", C.NODATA)]
    v = verdict(rs)
    assert v.verdict is Verdict.PASS and "without data" in v.reason


def test_must_have_data_missing_never_passes():
    rs = [Scored(f"p{i}", "g", C.PASS) for i in range(40)] + [Scored("n", "g", C.NODATA, must_have_data=True)]
    assert verdict(rs).verdict is not Verdict.PASS


def test_all_muted_is_nodata():
    assert verdict([Scored("a", "g", C.PASS, muted=True)]).verdict is Verdict.NODATA


def test_a_denominator_the_collector_left_out_is_an_error_never_a_pass():
    import numpy as np

    from analysis.config import parse_config
    from analysis.pipeline import judge_pairs
    from analysis.series import SamplePair, Series

    cfg = parse_config({"metrics": [{"name": "errors", "judge": "rate", "denominator": "requests"},
                                    {"name": "requests"}]})
    s = Series(np.arange(60.0), np.full(60, 3.0))
    result = judge_pairs(cfg, {"errors": SamplePair("errors", s, s)}, None)
    assert result.metric("errors").classification is C.ERROR
    assert "denominator requests failed" in result.metric("errors").reason
    assert result.verdict is not Verdict.PASS


def _run(results):
    return decide_run(results, [], {}, Thresholds())


def test_an_inconclusive_critical_metric_never_passes():
    passes = [Scored(f"p{i}", "g", C.PASS) for i in range(19)]
    score, v = _run(passes + [Scored("errors", "g", C.INCONCLUSIVE, critical_metric=True)])
    assert v.verdict is Verdict.INCONCLUSIVE and v.exit_code == 5 and "critical metric errors" in v.reason
    assert score.total == 0.0  # what has been shown: a critical metric is not shown within its allowed effect


def test_non_critical_inconclusive_metrics_decide_only_when_they_could_change_the_verdict():
    passes = [Scored(f"p{i}", "g", C.PASS) for i in range(19)]
    # 1 of 20: 95 either way -> pass, and the reason says so
    _, v = _run(passes + [Scored("cpu", "g", C.INCONCLUSIVE)])
    assert v.verdict is Verdict.PASS and "do not change the verdict" in v.reason and "cpu" in v.reason
    # 2 of 20: 90 (marginal) or 100 (pass) -> inconclusive
    _, v = _run(passes[:18] + [Scored("cpu", "g", C.INCONCLUSIVE), Scored("mem", "g", C.INCONCLUSIVE)])
    assert v.verdict is Verdict.INCONCLUSIVE and "marginal if shown worse" in v.reason.replace(
        "would be pass if shown within the allowed effect, ", "")
    # a run that fails on its other metrics fails whatever the inconclusive one shows
    _, v = _run([Scored("a", "g", C.HIGH), Scored("b", "g", C.HIGH), Scored("c", "g", C.INCONCLUSIVE)])
    assert v.verdict is Verdict.FAIL


def test_every_verdict_has_a_distinct_documented_exit_code():
    from analysis.decision.verdict import EXIT_CODES

    assert EXIT_CODES[Verdict.INCONCLUSIVE] == 5 and 0 not in (EXIT_CODES[v] for v in Verdict
                                                                    if v is not Verdict.PASS)


def test_a_critical_metric_high_below_its_critical_threshold_scores_as_an_ordinary_failure():
    # Kayenta (kayenta-judge.md 1.3 step 9, CL-18): the result's critical flag is false, so ScoringHelper's
    # critical override does not zero the score
    passes = [Scored(f"p{i}", "g", C.PASS) for i in range(19)]
    s = score(passes + [Scored("lat", "g", C.HIGH, critical_metric=True, critical=False)], {})
    assert s.total == 95.0 and not s.override
    s = score(passes + [Scored("lat", "g", C.HIGH, critical_metric=True, critical=True)], {})
    assert s.total == 0.0 and "lat" in s.override
