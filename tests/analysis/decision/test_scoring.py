"""Scoring against Kayenta's ScorerSuite vectors and the worked example of kayenta-judge.md section 1.6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.decision.scoring import Scored, round_half_up, score
from judges import Classification

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "fixtures" / "kayenta-public.json").read_text())
LABELS = {"Pass": Classification.PASS, "High": Classification.HIGH, "Low": Classification.LOW,
          "Nodata": Classification.NODATA, "Error": Classification.ERROR}


def _scored(results):
    return [Scored(f"m{i}", r["groups"][0], LABELS[r["classification"]], r["critical"])
            for i, r in enumerate(results)]


@pytest.mark.parametrize("vec", VECTORS["scorer"], ids=lambda v: v["id"])
def test_kayenta_scorer_vectors(vec):
    s = score(_scored(vec["inputs"]["results"]), vec["inputs"]["groupWeights"])
    assert s.total == pytest.approx(vec["expected"]["summaryScore"], abs=1e-9)
    for g, v in vec["port_computed"]["group_scores"].items():
        assert s.groups[g] == pytest.approx(v)
        assert s.groups_nodata[g] == vec["port_computed"]["group_noData"][g]


def test_worked_example_weights_and_unweighted_share():
    # kayenta-judge.md 1.6: Errors 50, Latency 30, unweighted Saturation gets 20 -> 55.0
    results = [Scored("e1", "Errors", Classification.PASS), Scored("e2", "Errors", Classification.HIGH),
               Scored("l1", "Latency", Classification.PASS), Scored("l2", "Latency", Classification.PASS),
               Scored("l3", "Latency", Classification.NODATA), Scored("s1", "Saturation", Classification.LOW)]
    s = score(results, {"Errors": 50, "Latency": 30})
    assert s.total == 55.0
    assert s.groups == {"Errors": 50.0, "Latency": 100.0, "Saturation": 0.0}
    critical = [Scored("e2", "Errors", Classification.HIGH, critical_metric=True)] + results[2:]
    assert score(critical, {"Errors": 50, "Latency": 30}).total == 0.0


def test_nodata_share_of_fifty_percent_zeroes_the_score():
    rs = [Scored("a", "g", Classification.PASS), Scored("b", "g", Classification.NODATA)]
    s = score(rs, {})
    assert s.total == 0.0 and "50%" in s.override


def test_must_have_data_counts_as_a_failure_in_its_group():
    rs = [Scored("a", "g", Classification.PASS), Scored("b", "g", Classification.PASS),
          Scored("c", "g", Classification.NODATA, must_have_data=True)]
    assert score(rs, {}).total == pytest.approx(66.67)


def test_muted_results_are_not_scored():
    rs = [Scored("a", "g", Classification.PASS), Scored("b", "g", Classification.HIGH, muted=True)]
    assert score(rs, {}).total == 100.0


def test_all_nodata_group_counts_as_full_weight():
    rs = [Scored("a", "g1", Classification.PASS), Scored("b", "g1", Classification.PASS),
          Scored("c", "g1", Classification.PASS), Scored("d", "g2", Classification.NODATA)]
    assert score(rs, {"g1": 60, "g2": 40}).total == 100.0


@pytest.mark.parametrize("x, expected", [(33.333333, 33.33), (0.125, 0.13), (2.675, 2.68), (99.995, 100.0)])
def test_half_up_rounding(x, expected):
    assert round_half_up(x) == expected
