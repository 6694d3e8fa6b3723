"""A run whose sides hold equal samples is an error only when nothing shows they are different series: equal
values from two different queries (zero errors on both sides, one histogram bucket) are judged as usual. Found in
the real HAProxy rollout: a healthy canary with no errors was halted as 'the scopes select the same series'."""

from __future__ import annotations

import numpy as np

from analysis import parse_config
from analysis.pipeline import judge_pairs
from analysis.series import SamplePair, Series

TS = np.arange(30) * 1.0
CFG = parse_config({"name": "t", "metrics": [{"name": "errors", "judge": "kayenta", "direction": "increase"}]})


def pair(b_query: str, c_query: str) -> dict[str, SamplePair]:
    zeros = np.zeros(TS.size)
    return {"errors": SamplePair("errors", Series(TS, zeros, b_query), Series(TS, zeros.copy(), c_query))}


def test_equal_values_of_two_different_queries_are_judged():
    r = judge_pairs(CFG, pair('sum(rate(e{version="v1"}[1m]))', 'sum(rate(e{version="v2"}[1m]))'), None)
    assert r.verdict.value == "pass"


def test_equal_values_of_one_query_on_both_sides_are_an_error():
    q = 'sum(rate(e{version="v1"}[1m]))'
    r = judge_pairs(CFG, pair(q, q), None)
    assert r.verdict.value == "error" and "identical for every metric" in r.reason and r.score == 0


def test_equal_values_without_queries_are_an_error():
    r = judge_pairs(CFG, pair("", ""), None)
    assert r.verdict.value == "error"
