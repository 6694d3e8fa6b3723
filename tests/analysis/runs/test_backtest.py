"""``canary backtest`` on recorded data: windows, degradation, rates and intervals, the JSON shape, bad input."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from analysis import SamplePair, Series, UsageError, load_config
from analysis.runs.backtest import backtest, check_scheduler, degrade, plan_windows, wilson_interval

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "fixtures" / "backtest" / "canary.yaml"
HISTORY = ROOT / "fixtures" / "backtest" / "history.csv"
T0 = 1_767_225_600
pytest.importorskip("distributed")


def canary(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("start, end, every, window, expect", [
    (0, 3600, 600, 1800, [(0, 1800), (600, 2400), (1200, 3000), (1800, 3600)]),
    (0, 3600, 3600, 3600, [(0, 3600)]),
    (0, 3599, 1800, 1800, [(0, 1800)]),  # the second window would end after the range
    (100, 400, 100, 100, [(100, 200), (200, 300), (300, 400)]),
])
def test_windows_start_every_and_fit_in_the_range(start, end, every, window, expect):
    assert [(w.start, w.end) for w in plan_windows(start, end, every, window)] == expect


@pytest.mark.parametrize("start, end, every, window, message", [
    (3600, 0, 600, 600, "--end (1970-01-01T00:00:00Z) must be after --start (1970-01-01T01:00:00Z)"),
    (0, 0, 600, 600, "must be after --start"),
    (0, 3600, 600, 7200, "--window (2h) is longer than the range --start .. --end (1h)"),
    (0, 3600, 0, 600, "--every must be a duration longer than zero"),
    (0, 3600, 600, 0, "--window must be a duration longer than zero"),
    (0, 1e9, 1, 1, "more than 100000"),
])
def test_bad_ranges_are_usage_errors(start, end, every, window, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        plan_windows(start, end, every, window)


# Newcombe, "Two-sided confidence intervals for the single proportion", Stat. Med. 17 (1998) 857-872, Table II,
# method 3 (score interval without continuity correction; R: prop.test(k, n, correct = FALSE)$conf.int)
@pytest.mark.parametrize("k, n, lo, hi", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_the_published_examples(k, n, lo, hi):
    assert wilson_interval(k, n) == pytest.approx((lo, hi), abs=5e-5)


@pytest.mark.parametrize("k, n", [(0, 1), (1, 3), (5, 17), (50, 100), (99, 100), (1000, 1000)])
def test_wilson_interval_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_interval_of_nothing_is_nan_and_bad_counts_raise():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="`k` must be in"):
        wilson_interval(3, 2)


def _pair(name: str, values: list[float], error: str | None = None) -> SamplePair:
    ts = np.arange(len(values), dtype=float)
    v = np.asarray(values, dtype=float)
    return SamplePair(name, Series(ts, v), Series(ts, v.copy()), error=error)


def test_degradation_follows_the_direction_and_leaves_the_traffic_alone():
    cfg = load_config(CONFIG)
    pairs = {m.name: _pair(m.name, [1.0, 2.0, 4.0]) for m in cfg.metrics}
    pairs["cpu_cores"] = _pair("cpu_cores", [1.0, 2.0, 4.0], error="cannot reach Prometheus")
    out = degrade(cfg, pairs, 1.25)
    assert out["latency_ms"].canary.values.tolist() == [1.25, 2.5, 5.0]  # fails when higher: multiplied
    assert out["hit_ratio"].canary.values.tolist() == [0.8, 1.6, 3.2]  # fails when lower: divided
    assert out["errors"].canary.values.tolist() == [1.25, 2.5, 5.0]  # the error counter: multiplied
    assert out["requests"].canary.values.tolist() == [1.0, 2.0, 4.0]  # the denominator: as recorded
    assert out["cpu_cores"] is pairs["cpu_cores"]  # a failed fetch stays a failure
    for name in pairs:  # the baseline is never touched
        assert out[name].baseline.values.tolist() == pairs[name].baseline.values.tolist()


@pytest.fixture(scope="module")
def history_result():
    return backtest(load_config(CONFIG), str(HISTORY), every=3600, window=1800, effect=1.5)


def test_a_backtest_of_the_fixture_history(history_result):
    d = history_result.to_dict()
    assert list(d)[:5] == ["windows", "false_alarm_rate", "detection_rate", "metrics", "scheduler"]
    assert d["windows"] == 12 and d["no_verdict"] == 0 and history_result.exit_code == 0
    assert d["range"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T11:30:00Z"}
    assert d["scheduler"].startswith("inproc://")
    for key in ("false_alarm_rate", "detection_rate"):
        assert 0.0 <= d[key] <= 1.0
    assert d["false_alarm_rate"] == d["false_alarms"] / d["judged"]
    lo, hi = d["false_alarm_interval"]
    assert lo <= d["false_alarm_rate"] <= hi
    names = [m["name"] for m in d["metrics"]]
    assert names == ["latency_ms", "hit_ratio", "cpu_cores", "errors", "requests"]
    for m in d["metrics"]:
        assert {"name", "false_alarm_rate", "detection_rate", "mde"} <= set(m)
    by = {m["name"]: m for m in d["metrics"]}
    assert by["requests"]["detection_rate"] is None and by["requests"]["mde"] is None  # never degraded
    assert by["latency_ms"]["detection_rate"] == 1.0  # +50 % latency is caught in every window
    assert by["latency_ms"]["mde"] <= 1.5
    assert json.loads(history_result.to_json()) == d


def test_each_window_judged_with_the_same_pipeline_as_analyze(history_result):
    from analysis import FileCollector, judge_pairs

    cfg = load_config(CONFIG)
    collector = FileCollector(HISTORY)
    for o, w in zip(history_result.outcomes, history_result.windows()):
        recorded = judge_pairs(cfg, collector.collect(cfg.metrics, w), w)
        assert o.verdicts[0] == recorded.verdict.value
        assert o.classes[0] == tuple(m.classification.value for m in recorded.metrics)
        worse = judge_pairs(cfg, degrade(cfg, collector.collect(cfg.metrics, w), 1.5), w)
        assert o.verdicts[o.factors.index(1.5)] == worse.verdict.value


def test_windows_without_data_are_no_verdict_never_no_alarm():
    # the first hour has no data: those windows are nodata, left out of the rates and counted apart
    result = backtest(load_config(CONFIG), str(HISTORY), start=T0 - 3600, end=T0 + 3 * 3600, every=3600,
                      window=1800)
    d = result.to_dict()
    assert d["windows"] == 4 and d["no_verdict"] == 1 and d["judged"] == 3
    assert d["window_results"][0]["verdict"] == "nodata"
    assert result.exit_code == 4


def test_the_cli_writes_json_and_html_and_no_progress_bar_off_a_terminal(tmp_path):
    out, page = tmp_path / "bt.json", tmp_path / "bt.html"
    done = canary("backtest", str(CONFIG), "--data", str(HISTORY), "--every", "2h", "--window", "1h",
                  "--json", str(out), "--html", str(page))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar, no Dask chatter
    assert "release verdict" in done.stdout and "latency_ms" in done.stdout
    d = json.loads(out.read_text())
    assert d["windows"] == 6 and d["effect"] == 1.25
    html = page.read_text()
    assert "<svg" in html and "latency_ms" in html and "http://" not in html.replace("http://www.w3.org", "")


def test_the_progress_bar_draws_on_a_terminal():
    from analysis.cli.cmd_backtest import _bar

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = _bar(stream)
    bar(1, 2)
    bar(2, 2)
    assert "1/2 windows" in stream.getvalue() and stream.getvalue().endswith("2/2 windows\n")
    assert _bar(io.StringIO()) is None


@pytest.mark.parametrize("args, message", [
    (["--start", "2026-01-01T06:00:00Z", "--end", "2026-01-01T05:00:00Z"], "--end (2026-01-01T05:00:00Z) must be "
                                                                           "after --start"),
    (["--window", "13h"], "--window (13h) is longer than the range"),
    (["--effect", "0.8"], "--effect must be a factor above 1"),
    (["--scheduler", "not an address"], "--scheduler 'not an address': expected a Dask scheduler address"),
    (["--every", "soon"], "--every: expected a duration"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    done = canary("backtest", str(CONFIG), "--data", str(HISTORY), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_scheduler_is_one_line_within_seconds_exit_4():
    from servers import free_port

    import time

    t = time.monotonic()
    done = canary("backtest", str(CONFIG), "--data", str(HISTORY), "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    assert time.monotonic() - t < 20
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("address, expect", [("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
                                             ("scheduler:8786", "tcp://scheduler:8786"),
                                             ("tls://[::1]:8786", "tls://[::1]:8786")])
def test_scheduler_addresses(address, expect):
    assert check_scheduler(address) == expect
