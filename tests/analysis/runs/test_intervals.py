"""Interval runs as in Kayenta's canary stage (``shared/docs/kayenta-judge.md`` section 3.2).

Vectors: IW-1..IW-3 from ``fixtures/kayenta-public.json`` (``SetupAndExecuteCanariesStageTest``); AG-1..AG-5 are
the ``AggregateCanaryResultsTask`` vectors quoted in section 3.2. The window tables follow the section's schedule
pseudo-code line by line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analysis import Window, parse_config
from analysis.collectors.file import FileCollector
from analysis.errors import UsageError
from analysis.runs.intervals import IntervalRun, Mode, final_judgment, lifetime_of, parse_instant, plan, run_intervals
from servers import datasets

REPO = Path(__file__).resolve().parents[3]
T0 = datasets.T0
MIN = 60.0


def _vectors() -> dict:
    data = json.loads((REPO / "fixtures" / "kayenta-public.json").read_text())
    return {v["id"]: v for v in data["interval_windows"]}


def test_iw1_lifetime_from_start_and_end():
    v = _vectors()["IW-1"]
    assert v["inputs"] == {"start": "now", "end": "now+5min"}
    assert lifetime_of(T0, T0 + 5 * MIN, None) / MIN == v["expected"]["lifetime_min"]


def test_iw2_lifetime_from_the_duration():
    v = _vectors()["IW-2"]
    assert lifetime_of(T0, None, v["inputs"]["lifetimeDurationMins"] * MIN) / MIN == v["expected"]["lifetime_min"]


def test_iw3_neither_end_nor_lifetime_is_an_error():
    assert _vectors()["IW-3"]["expected"] == "IllegalArgumentException"
    with pytest.raises(UsageError, match="--end.*--lifetime"):
        plan(T0)


# (end, lifetime, interval, warmup, lookback) in minutes -> windows as (start, end) minutes after T0
@pytest.mark.parametrize("end, lifetime, interval, warmup, lookback, windows", [
    (None, 180, 60, 0, 0, [(0, 60), (0, 120), (0, 180)]),            # Spinnaker's recommended start: growing
    (None, 180, 60, 10, 0, [(10, 70), (10, 130), (10, 190)]),        # no end: the warm-up shifts every window
    (180, None, 60, 10, 0, [(0, 60), (0, 120), (0, 180)]),           # an end: the warm-up does not
    (None, 180, 60, 0, 30, [(30, 60), (90, 120), (150, 180)]),       # sliding: start_i = end_i - lookback
    (None, 180, 60, 5, 90, [(-25, 65), (35, 125), (95, 185)]),       # lookback longer than the interval
    (None, 60, None, 0, 0, [(0, 60)]),                               # no interval: one, the lifetime
    (None, 60, 0, 0, 0, [(0, 60)]),                                  # 0 means the lifetime
    (None, 60, 90, 0, 0, [(0, 60)]),                                 # longer than the lifetime: the lifetime
    (None, 50, 20, 0, 0, [(0, 20), (0, 40)]),                        # N = floor(50 / 20); the rest is not judged
    (1, None, 1, 0, 0, [(0, 1)]),                                    # Kayenta's integration tests: 1 min / 1 min
])
def test_schedule(end, lifetime, interval, warmup, lookback, windows):
    s = plan(T0, None if end is None else T0 + end * MIN, None if lifetime is None else lifetime * MIN,
             None if interval is None else interval * MIN, warmup * MIN, lookback * MIN)
    assert [((w.start - T0) / MIN, (w.end - T0) / MIN) for w in s.windows] == windows


@pytest.mark.parametrize("kwargs, message", [
    ({"end": T0 - 1}, "before --start"),
    ({"lifetime": 0.0}, "longer than zero"),
    ({"lifetime": 60.0, "interval": -1.0}, "--interval must be a non-negative"),
])
def test_schedule_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        plan(T0, **kwargs)


@pytest.mark.parametrize("vector, last, marginal, pass_, passed", [
    ("AG-1", 95, None, None, True),
    ("AG-2", 60, 75, 95, False),
    ("AG-3", 85, 75, None, True),
    ("AG-4", 85, 75, 95, False),
    ("AG-5", 97, 75, 95, True),
])
def test_final_judgment_ag_vectors(vector, last, marginal, pass_, passed):
    assert final_judgment(last, marginal, pass_)[0] is passed


@pytest.mark.parametrize("last, message", [
    (75, "Final canary score 75 is not above the marginal score threshold."),
    (94.99, "Final canary score 94.99 is below the pass score threshold."),
    (95, "Final canary score 95 met or exceeded the pass score threshold."),
])
def test_final_judgment_messages(last, message):
    assert final_judgment(last, 75, 95) == (last >= 95, message)


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T00:00:00Z", T0),
    ("2024-01-01T01:00:00+01:00", T0),
    ("2024-01-01T00:00:00", T0),           # no zone: UTC
    ("2024-01-01", T0),
    ("1704067200", T0),
    ("1704067200.5", T0 + 0.5),
    ("now", T0 + 7200),
    ("now-1h", T0 + 3600),
    ("now - 30m", T0 + 5400),
    ("now+90s", T0 + 7290),
])
def test_parse_instant(text, expected):
    assert parse_instant(text, now=T0 + 7200) == expected


@pytest.mark.parametrize("text, message", [
    ("yesterday", "expected ISO 8601"),
    ("now-1x", "offset must be a duration"),
    ("1704067200000", "milliseconds"),
    ("-5", "not negative"),
])
def test_parse_instant_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_instant(text, now=T0, what="--start")


# ---- runs over recorded data: every interval's score is known ---------------------------------------------------

def _config(n_metrics: int = 4):
    return parse_config({"defaults": {"judge": "kayenta"}, "scoring": {"pass": 95, "marginal": 75},
                         "metrics": [{"name": f"m{i}", "direction": "increase"} for i in range(n_metrics)]})


def _write(tmp_path, bad_after: dict[int, float], minutes: int = 60) -> FileCollector:
    """Four metrics at 10 s; metric ``i`` of the canary jumps +50 % from ``bad_after[i]`` minutes on."""
    rng = np.random.default_rng(11)
    ts = T0 + 10 * np.arange(minutes * 6 + 1)
    rows = ["metric,scope,timestamp,value"]
    for i in range(4):
        base, can = rng.normal(100, 5, ts.size), rng.normal(100, 5, ts.size)
        if i in bad_after:
            can[ts >= T0 + bad_after[i] * MIN] += 50
        rows += [f"m{i},baseline,{t!r},{v!r}" for t, v in zip(ts.tolist(), base.tolist())]
        rows += [f"m{i},canary,{t!r},{v!r}" for t, v in zip(ts.tolist(), can.tolist())]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    return FileCollector(path)


def _sliding(minutes=60, interval=15):
    return plan(T0, T0 + minutes * MIN, interval=interval * MIN, lookback=interval * MIN)


def test_all_intervals_pass(tmp_path):
    run = run_intervals(_config(), _write(tmp_path, {}), _sliding())
    assert isinstance(run, IntervalRun) and run.scores == (100, 100, 100, 100)
    assert run.verdict.value == "pass" and run.exit_code == 0 and not run.stopped_early
    assert run.reason == "Final canary score 100 met or exceeded the pass score threshold."


def test_fails_fast_at_the_first_interval_at_or_below_marginal(tmp_path):
    # one metric of four goes bad at 30 min: score 75 == marginal still stops (Kayenta's <=)
    run = run_intervals(_config(), _write(tmp_path, {0: 30}), _sliding())
    assert run.scores == (100, 100, 75) and run.stopped_early
    assert run.verdict.value == "fail" and run.exit_code == 1
    assert run.reason.startswith("Final canary score 75 is not above the marginal score threshold.")
    assert len(run.intervals) == 3 and run.result.window == Window(T0 + 30 * MIN, T0 + 45 * MIN)


def test_the_final_verdict_comes_from_the_last_interval_and_a_marginal_one_fails(tmp_path):
    # AG-4: a last score between marginal and pass fails the run, though it did not stop it
    cfg = parse_config({"defaults": {"judge": "kayenta"}, "scoring": {"pass": 95, "marginal": 70},
                        "metrics": [{"name": f"m{i}", "direction": "increase"} for i in range(4)]})
    run = run_intervals(cfg, _write(tmp_path, {2: 45}), _sliding())
    assert run.scores == (100, 100, 100, 75)
    assert run.intervals[-1].verdict.value == "marginal"
    assert run.verdict.value == "fail"
    assert run.reason == "Final canary score 75 is below the pass score threshold."


def test_an_interval_without_data_stops_the_run_and_fails_closed(tmp_path):
    run = run_intervals(_config(), _write(tmp_path, {}, minutes=25), _sliding())
    assert run.scores[:2] == (100, 100) and len(run.intervals) == 3 and run.stopped_early
    assert run.verdict.value == "nodata" and run.exit_code == 4
    assert run.reason.startswith("interval 3 of 4:")


def test_growing_windows_keep_the_start(tmp_path):
    run = run_intervals(_config(), _write(tmp_path, {}), plan(T0, T0 + 3600, interval=20 * MIN))
    assert [len(r.pairs["m0"].canary) for r in run.intervals] == [121, 241, 361]


def test_run_dict_has_every_interval_and_the_final_verdict(tmp_path):
    run = run_intervals(_config(), _write(tmp_path, {0: 30}), _sliding())
    d = json.loads(run.to_json())
    assert d["verdict"] == "fail" and d["exit_code"] == 1 and d["scores"] == [100, 100, 75]
    assert d["stopped_early"] is True and d["mode"] == "retrospective"
    assert [i["index"] for i in d["intervals"]] == [1, 2, 3] and d["intervals"][2]["verdict"] == "marginal"
    assert d["schedule"]["intervals"] == 4 and d["schedule"]["sliding"] is True
    assert d["window"] == {"start": "2024-01-01T00:30:00Z", "end": "2024-01-01T00:45:00Z"}


class _Clock:
    """Wall time for ``realtime``: starts at the run's T0, advances only when the run sleeps."""

    def __init__(self, now: float):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_realtime_waits_for_each_window_to_close(tmp_path):
    collector = _write(tmp_path, {})
    clock = _Clock(T0)
    waits, seen = [], []
    schedule = plan(T0, None, lifetime=60 * MIN, interval=20 * MIN, warmup=5 * MIN)
    run = run_intervals(_config(), collector, schedule, Mode.REALTIME, clock=clock, sleep=clock.sleep,
                        on_wait=lambda i, n, until: waits.append((i, until - T0)),
                        on_interval=lambda i, n, r, stop: seen.append((i, clock.now - T0)))
    assert waits == [(1, 25 * MIN), (2, 45 * MIN), (3, 65 * MIN)]
    assert seen == [(1, 25 * MIN), (2, 45 * MIN), (3, 65 * MIN)]  # judged once each window has closed
    assert run.mode is Mode.REALTIME and len(run.intervals) == 3


def test_realtime_over_past_windows_does_not_wait(tmp_path):
    clock = _Clock(T0 + 10 * 3600)
    run = run_intervals(_config(), _write(tmp_path, {}), _sliding(), "realtime", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [] and len(run.intervals) == 4


def test_a_warmup_with_an_end_is_reported(tmp_path):
    run = run_intervals(_config(), _write(tmp_path, {}), plan(T0, T0 + 3600, warmup=5 * MIN))
    assert any("warm-up does not shift" in w for w in run.result.warnings)


# ---- through the CLI, against the real Prometheus ----------------------------------------------------------------

LATE = """\
name: late-regression
defaults: {judge: kayenta}
scopes:
  baseline: {app: late, version: v1}
  canary: {app: late, version: v2}
prometheus: {step: 10s}
metrics:
  - name: latency
    query: app_latency_ms{${scope}}
    direction: increase
"""


def _canary(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["canary", *args], capture_output=True, text=True, timeout=120)


def test_cli_sliding_intervals_stop_at_the_first_failure(prometheus, tmp_path):
    cfg = tmp_path / "late.yaml"
    cfg.write_text(LATE)
    out = tmp_path / "run.json"
    r = _canary("analyze", str(cfg), "--prometheus-url", prometheus.url, "--start", "2024-01-01T00:00:00Z",
                "--end", "2024-01-01T01:00:00Z", "--interval", "15m", "--lookback", "15m", "--json", str(out))
    lines = [line for line in r.stdout.splitlines() if line.startswith("interval ")]
    assert r.returncode == 1, r.stdout + r.stderr
    assert len(lines) == 3 and lines[0].startswith("interval 1/4  2024-01-01T00:00:00Z .. 2024-01-01T00:15:00Z")
    assert "(stopping: score" in lines[2] and "verdict: FAIL" in r.stdout
    d = json.loads(out.read_text())
    assert d["stopped_early"] and len(d["intervals"]) == 3 and d["metrics"][0]["classification"] == "high"


def test_cli_growing_intervals_of_an_aa_pair_pass(prometheus, tmp_path):
    cfg = tmp_path / "aa.yaml"
    cfg.write_text(LATE.replace("app: late", "app: aa"))
    r = _canary("analyze", str(cfg), "--prometheus-url", prometheus.url, "--start", "2024-01-01T00:00:00Z",
                "--lifetime", "1h", "--interval", "20m", "--mode", "retrospective")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("interval ")] == \
        ["1/3", "2/3", "3/3"]
    assert "Final canary score 100 met or exceeded the pass score threshold." in r.stdout


def test_cli_interval_run_needs_an_end_or_a_lifetime(prometheus, tmp_path):
    cfg = tmp_path / "aa.yaml"
    cfg.write_text(LATE)
    r = _canary("analyze", str(cfg), "--prometheus-url", prometheus.url, "--start", "2024-01-01T00:00:00Z",
                "--interval", "20m")
    assert r.returncode == 2 and "--lifetime" in r.stderr


def test_cli_intervals_replay_a_recorded_file(tmp_path):
    _write(tmp_path, {0: 30})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("defaults: {judge: kayenta}\nmetrics:\n" + "".join(f"  - {{name: m{i}, direction: increase}}\n"
                                                                     for i in range(4)))
    r = _canary("analyze", str(cfg), "--data", str(tmp_path / "data.csv"), "--interval", "15m", "--lookback", "15m")
    assert r.returncode == 1, r.stdout + r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("interval ")] == ["1/4", "2/4", "3/4"]


def test_cli_a_retrospective_run_cannot_judge_the_future(prometheus, tmp_path):
    cfg = tmp_path / "aa.yaml"
    cfg.write_text(LATE)
    r = _canary("analyze", str(cfg), "--prometheus-url", prometheus.url, "--start", "now-30m", "--lifetime", "1h",
                "--interval", "20m")
    assert r.returncode == 2 and "--mode realtime" in r.stderr
