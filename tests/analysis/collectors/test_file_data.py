"""Recorded data files: CSV and Parquet, timestamps, NaN, and one-line errors that name the line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.collectors.file import FileCollector
from analysis.config import parse_config
from analysis.errors import DataError

HEADER = "metric,scope,timestamp,value\n"


def write(tmp_path, body, name="d.csv"):
    p = tmp_path / name
    p.write_text(body)
    return p


@pytest.mark.parametrize("body, what", [
    (HEADER + "lat,canry,1,2\n", "line 2: unknown scope 'canry'"),
    (HEADER + "lat,canary,1,2\nlat,canary,2,fast\n", "line 3: value 'fast' is not a number"),
    (HEADER + "lat,canary,yesterday,2\n", "line 2: timestamp 'yesterday'"),
    ("metric,scope,value\nlat,canary,2\n", "missing column(s) timestamp"),
    ("", "the file is empty"),
    (HEADER, "no rows"),
    (HEADER + ",canary,1,2\n", "line 2: empty metric name"),
    (HEADER + "lat,canary,1,2\nlat,canary,inf,2\n", "line 3: timestamp 'inf' is not a finite time"),
])
def test_bad_files_get_one_line_errors(tmp_path, body, what):
    p = write(tmp_path, body)
    with pytest.raises(DataError) as e:
        FileCollector(p)
    assert what in str(e.value) and str(p) in str(e.value) and e.value.exit_code == 2


def test_metadata_lines_shift_the_line_numbers(tmp_path):
    p = write(tmp_path, '# canary: {"window": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"}}\n'
              + HEADER + "lat,canary,1,2\nlat,baseline,1,x\n")
    with pytest.raises(DataError, match="line 4"):
        FileCollector(p)


def test_iso_and_epoch_timestamps_and_nan(tmp_path):
    p = write(tmp_path, HEADER + "lat,baseline,2024-01-01T00:01:00Z,2\nlat,baseline,1704067200,1\n"
              "lat,canary,2024-01-01T00:00:00+00:00,NaN\nlat,canary,1704067260,\n")
    c = FileCollector(p)
    b = c.series("lat", "baseline")
    assert b.timestamps.tolist() == [1704067200.0, 1704067260.0] and b.values.tolist() == [1.0, 2.0]
    assert c.series("lat", "canary").n_nan == 2
    assert c.window().start == 1704067200.0


def test_missing_metric_is_empty_not_an_error(tmp_path):
    c = FileCollector(write(tmp_path, HEADER + "lat,baseline,1,2\n"))
    cfg = parse_config({"metrics": [{"name": "lat"}, {"name": "errors"}]})
    pairs = c.collect(cfg.metrics, None)
    assert len(pairs["lat"].canary) == 0 and len(pairs["errors"].baseline) == 0
    assert pairs["lat"].error is None


def test_parquet(tmp_path):
    df = pd.DataFrame({"metric": ["lat"] * 4, "scope": ["baseline", "baseline", "canary", "canary"],
                       "timestamp": [1.0, 2.0, 1.0, 2.0], "value": [1.0, math.nan, 3.0, 4.0]})
    p = tmp_path / "d.parquet"
    df.to_parquet(p)
    c = FileCollector(p)
    assert np.array_equal(c.series("lat", "canary").values, [3.0, 4.0])
    assert c.series("lat", "baseline").n_nan == 1


def test_recording_metadata_is_read_back(tmp_path):
    import json

    meta = {"window": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:02:00Z"},
            "queries": {"lat": {"baseline": 'lat{version="v1"}', "canary": 'lat{version="v2"}'}},
            "labels": {"lat": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}}},
            "missing": {"lat": {"baseline": 1, "canary": 0}}, "notes": {"lat": ["combined 2 series with sum"]}}
    p = write(tmp_path, "# canary: " + json.dumps(meta) + "\n" + HEADER
              + "lat,baseline,1704067200,1\nlat,canary,1704067200,2\nlat,canary,1704067260,3\n")
    c = FileCollector(p)
    cfg = parse_config({"metrics": [{"name": "lat"}]})
    pair = c.collect(cfg.metrics, c.window())["lat"]
    assert pair.baseline.query == 'lat{version="v1"}' and pair.canary.labels == {"version": "v2"}
    assert pair.baseline.missing == 1 and pair.notes == ("combined 2 series with sum",)
    assert any("missing 1 points" in w for w in pair.warnings())
    narrow = c.collect(cfg.metrics, type(c.window())(1704067200.0, 1704067230.0))["lat"]
    assert narrow.baseline.missing == 0


@pytest.mark.parametrize("meta", ["[1]", '["ab"]', "5"])
def test_metadata_that_is_not_an_object_is_a_data_error(tmp_path, meta):
    p = write(tmp_path, f"# canary: {meta}\n" + HEADER + "lat,canary,1,2\n")
    with pytest.raises(DataError, match="line 1: metadata must be a JSON object"):
        FileCollector(p)


def test_a_recorded_window_that_is_not_an_object_falls_back_to_the_data_span(tmp_path):
    c = FileCollector(write(tmp_path, '# canary: {"window": 5}\n' + HEADER + "lat,canary,10,2\nlat,canary,20,3\n"))
    assert (c.window().start, c.window().end) == (10.0, 20.0)


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_parquet_timestamp_column_is_read_as_epoch_seconds(tmp_path, tz):
    ts = pd.to_datetime([1704067200, 1704067215], unit="s")
    df = pd.DataFrame({"metric": ["lat"] * 2, "scope": ["canary"] * 2,
                       "timestamp": ts.tz_localize(tz) if tz else ts, "value": [1.0, 2.0]})
    p = tmp_path / "d.parquet"
    df.to_parquet(p)
    assert FileCollector(p).series("lat", "canary").timestamps.tolist() == [1704067200.0, 1704067215.0]


def test_a_recorded_window_in_epoch_seconds_is_read_as_seconds(tmp_path):
    c = FileCollector(write(tmp_path, '# canary: {"window": {"start": 1704067200, "end": 1704070800}}\n'
                            + HEADER + "lat,canary,1704067260,2\n"))
    assert (c.window().start, c.window().end) == (1704067200.0, 1704070800.0)


@pytest.mark.parametrize("body", [
    HEADER + "b,canary,3,1.5\na,baseline,2,NaN\na,baseline,1,\nb,canary,1,inf\na,canary,1,-2e3\nb,canary,2,7\n",
    HEADER + "a,baseline,1,1\na,baseline,2,2\na,canary,1,3\nb,baseline,5,null\n",
    '# canary: {"notes": {}}\n' + HEADER + '"x,y",canary,1,1\n"x,y",baseline,1,None\n',
    HEADER + "a, baseline, 1, 2\na,canary,2024-01-01T00:00:00Z,3\n",
])
@pytest.mark.parametrize("engine", ["pyarrow", "pandas"])
def test_the_fast_readers_agree_with_the_validating_one(tmp_path, monkeypatch, body, engine):
    import analysis.collectors.file as file

    p = write(tmp_path, body)
    if engine == "pandas":
        monkeypatch.setattr(file, "_fast_csv", lambda path, skipped: file._fast_csv_pandas(path, skipped))
    fast = FileCollector(p)
    monkeypatch.setattr(file, "_fast_csv", lambda path, skipped: None)
    slow = FileCollector(p)
    assert fast.metric_names() == slow.metric_names() and fast.window() == slow.window()
    for name in slow.metric_names():
        for scope in ("baseline", "canary"):
            a, b = fast.series(name, scope), slow.series(name, scope)
            assert a.timestamps.tolist() == b.timestamps.tolist()
            np.testing.assert_array_equal(a.values, b.values)
    frame, _ = file.read_frame(p)
    assert len(fast.frame) == len(frame)


def test_series_are_read_only_views(tmp_path):
    c = FileCollector(write(tmp_path, HEADER + "a,baseline,1,1\na,baseline,2,2\n"))
    s = c.series("a", "baseline")
    with pytest.raises(ValueError):
        s.values[0] = 5.0
