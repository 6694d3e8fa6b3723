"""Windows past Prometheus' 11,000 points per series are fetched in sub-ranges and stitched (a real Prometheus)."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from analysis.collectors import _ranges
from servers import datasets
from test_prometheus_collector import HOUR, LATENCY, collect

MULTI = [{"name": "latency", "query": "app_latency_ms{${scope}}", "aggregate": "avg"}]
PODS = {"baseline": {"app": "multi", "version": "v1"}, "canary": {"app": "multi", "version": "v2"}}


def test_prometheus_itself_refuses_more_than_11000_points(prometheus):
    r = requests.get(f"{prometheus.url}/api/v1/query_range", timeout=10, params={
        "query": "app_latency_ms", "start": HOUR.start, "end": HOUR.end, "step": "0.25"})
    assert r.status_code == 400 and "11,000 points" in r.json()["error"]


@pytest.mark.parametrize("metrics, scopes", [(LATENCY, None), (MULTI, PODS)], ids=["one series", "pods combined"])
def test_a_long_window_is_split_and_stitched_into_the_single_query_answer(prometheus, metrics, scopes):
    fine = collect(prometheus.url, metrics, scopes=scopes, step=0.25)  # 14,401 points: two sub-ranges
    coarse = collect(prometheus.url, metrics, scopes=scopes, step=0.5)  # 7,201 points: one query
    for name, pair in fine.items():
        assert pair.error is None, pair.error
        for scope in ("baseline", "canary"):
            f, c = getattr(pair, scope), getattr(coarse[name], scope)
            assert len(f) == 14_401 and f.missing == 0
            assert np.all(np.diff(f.timestamps) == 0.25)
            np.testing.assert_array_equal(f.timestamps[::2], c.timestamps)
            np.testing.assert_array_equal(f.values[::2], c.values)


@pytest.mark.parametrize("n, expect", [(1, [(0, 1)]), (11_000, [(0, 11_000)]), (11_001, [(0, 11_000), (110_000, 1)]),
                                       (25_000, [(0, 11_000), (110_000, 11_000), (220_000, 3_000)])])
def test_split_covers_the_grid_in_order(n, expect):
    assert _ranges.split(0, 10, n) == expect


def test_stitch_joins_series_by_label_set_in_order():
    a = [{"metric": {"pod": "x"}, "values": [[1, "1"]]}, {"metric": {"pod": "y"}, "values": [[1, "2"]]}]
    b = [{"metric": {"pod": "y"}, "values": [[2, "4"]]}, {"metric": {"pod": "x"}, "values": [[2, "3"]]}]
    assert _ranges.stitch([a, b]) == [{"metric": {"pod": "x"}, "values": [[1, "1"], [2, "3"]]},
                                      {"metric": {"pod": "y"}, "values": [[1, "2"], [2, "4"]]}]
    assert _ranges.stitch([a, "garbage"]) == "garbage"  # left for the caller's validation to report


def test_the_standard_dataset_is_an_hour():
    assert HOUR.duration == datasets.DURATION
