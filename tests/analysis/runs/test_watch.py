"""``canary watch``: anytime-valid judging at every step, replayed from a file or live from a real Prometheus."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import yaml

from analysis import load_config
from analysis.cli import main
from analysis.collectors.file import FileCollector
from analysis.runs.watch import sequential_config, watch

T0 = 1767225600


def write_release(path, rng, steps=120, error_ratio=1.0, latency_shift=0.0, phi=0.5, noise=0.05):
    """Per-minute requests, errors (0.2 % baseline rate) and AR(1) latency for both scopes."""
    lines = ["metric,scope,timestamp,value"]
    for scope in ("baseline", "canary"):
        req = rng.poisson(2000, steps)
        rate = 0.002 * (error_ratio if scope == "canary" else 1.0)
        err = rng.binomial(req, rate)
        a = np.empty(steps)
        a[0] = rng.standard_normal()
        for i in range(1, steps):
            a[i] = phi * a[i - 1] + math.sqrt(1 - phi ** 2) * rng.standard_normal()
        lat = 100 * np.exp(noise * a) * (1 + (latency_shift if scope == "canary" else 0.0))
        for i in range(steps):
            ts = T0 + 60 * i
            lines += [f"requests,{scope},{ts},{req[i]}", f"errors,{scope},{ts},{err[i]}",
                      f"latency_ms,{scope},{ts},{lat[i]:.4f}"]
    path.write_text("\n".join(lines) + "\n")
    return path


CONFIG = {"name": "watched", "metrics": [
    {"name": "latency_ms", "direction": "increase"},
    # 0.2 % of 2,000 requests per minute: about 240 errors per arm an hour, enough to show +50 % is not exceeded
    {"name": "errors", "judge": "rate", "denominator": "requests", "direction": "increase", "margin": 0.5},
    {"name": "requests", "muted": True}]}


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def run(*args, capsys):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_judges_are_swapped_for_their_anytime_valid_counterparts(config_path):
    seq = sequential_config(load_config(config_path))
    assert [m.judge for m in seq.metrics] == ["sequential-mean", "sequential-rate", "sequential-mean"]


def test_a_healthy_canary_is_watched_to_the_end_and_passes(tmp_path, config_path, capsys):
    data = write_release(tmp_path / "aa.csv", np.random.default_rng(1))
    out = tmp_path / "watch.json"
    code, stdout, _ = run("watch", str(config_path), "--data", str(data), "--json", str(out), capsys=capsys)
    assert code == 0, stdout
    assert "look  119" in stdout and "watch: end of the watch after 119 look(s)" in stdout
    d = json.loads(out.read_text())
    assert d["verdict"] == "pass" and d["watch"]["looks"] == 119 and not d["watch"]["stopped_early"]
    # early looks are inconclusive (not enough data yet), never a failure
    assert d["watch"]["history"][0]["verdict"] == "inconclusive"
    assert {h["verdict"] for h in d["watch"]["history"]} <= {"inconclusive", "pass"}
    assert {m["judge"] for m in d["metrics"]} == {"sequential-mean", "sequential-rate"}
    assert d["watch"]["history"][0]["time"] == "2026-01-01T00:01:00Z"


def test_a_doubled_error_rate_stops_the_watch_early(tmp_path, config_path, capsys):
    data = write_release(tmp_path / "bad.csv", np.random.default_rng(2), error_ratio=2.0)
    out = tmp_path / "watch.json"
    code, stdout, _ = run("watch", str(config_path), "--data", str(data), "--json", str(out), capsys=capsys)
    assert code == 1
    d = json.loads(out.read_text())
    assert d["verdict"] == "fail" and d["watch"]["stopped_early"]
    assert d["watch"]["looks"] < 60 and "errors flagged" in d["watch"]["reason"]
    errors = next(m for m in d["metrics"] if m["name"] == "errors")
    extra = errors["statistics"]["extra"]
    assert errors["classification"] == "high" and extra["baseline_events"] + extra["canary_events"] < 400


def test_a_latency_regression_stops_the_watch_early(tmp_path, config_path):
    data = write_release(tmp_path / "slow.csv", np.random.default_rng(3), latency_shift=0.2)
    c = FileCollector(data)
    w = c.window()
    res = watch(load_config(config_path), c, w.start, w.end, 60.0)
    assert res.result.verdict.value == "fail" and res.stopped_early
    assert res.looks[-1].flagged == ("latency_ms",) and len(res.looks) < 40
    assert all(look.verdict == "inconclusive" for look in res.looks[:10])  # burn-in: no early look can reject


def test_margin_gives_a_conclusive_pass(tmp_path, config_path):
    data = write_release(tmp_path / "calm.csv", np.random.default_rng(4), phi=0.0, noise=0.01)
    c = FileCollector(data)
    w = c.window()
    cfg = load_config(config_path)
    res = watch(cfg.with_overrides(metrics=cfg.metrics[:1]), c, w.start, w.end, 60.0, margin=0.05)
    assert res.stopped_early and res.result.verdict.value == "pass"
    assert res.reason.startswith("conclusive pass")


def test_false_alarms_under_continuous_looking_stay_at_alpha(tmp_path, config_path):
    rng = np.random.default_rng(5)
    cfg = load_config(config_path)
    runs, failed = 40, 0
    for r in range(runs):
        c = FileCollector(write_release(tmp_path / f"aa{r}.csv", rng, steps=60))
        w = c.window()
        failed += watch(cfg, c, w.start, w.end, 60.0).result.verdict.value in ("fail", "marginal")
    assert failed <= 4  # alpha 0.05: 2 expected at most, 4 is its binomial 95th percentile


def test_duration_bounds_a_replayed_watch(tmp_path, config_path, capsys):
    data = write_release(tmp_path / "aa.csv", np.random.default_rng(1))
    code, stdout, _ = run("watch", str(config_path), "--data", str(data), "--duration", "10m", capsys=capsys)
    # ten minutes of a healthy canary cannot show the error rate within +50 %: inconclusive (exit 5)
    assert code == 5 and "watch: end of the watch after 10 look(s)" in stdout


def test_usage_errors_exit_2(tmp_path, config_path, capsys):
    data = write_release(tmp_path / "aa.csv", np.random.default_rng(6), steps=5)
    code, _, err = run("watch", str(config_path), "--data", str(data), "--prometheus-url", "http://127.0.0.1:9",
                       capsys=capsys)
    assert code == 2 and "either --data or --prometheus-url" in err
    code, _, err = run("watch", str(config_path), "--prometheus-url", "http://127.0.0.1:9", capsys=capsys)
    assert code == 2 and "--end TIME or --duration" in err
    code, _, err = run("watch", str(config_path), "--data", str(data), "--margin", "-1", capsys=capsys)
    assert code == 2 and "--margin" in err


# --- live: a real Prometheus (tests/servers), watched retrospectively at its 60 s step ----------------------------

def _prom_config(tmp_path, app):
    cfg = {"name": "live", "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
           "variables": {"app": app}, "prometheus": {"step": "60s", "timeout": "5s"},
           "metrics": [
               {"name": "latency_ms", "query": 'app_latency_ms{${scope},app="${app}"}', "direction": "increase"},
               {"name": "errors", "judge": "rate", "denominator": "requests", "direction": "increase", "margin": 0.5,
                "query": 'sum(increase(http_requests_total{${scope},app="${app}",code="500"}[1m]))'},
               {"name": "requests", "muted": True,
                "query": 'sum(increase(http_requests_total{${scope},app="${app}"}[1m]))'}]}
    if app == "late":  # the dataset has no request counters for this app
        cfg["metrics"] = cfg["metrics"][:1]
    path = tmp_path / f"{app}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.parametrize("app, code, stopped_early", [("aa", 0, False), ("reg", 1, True), ("late", 1, True)])
def test_watch_against_a_real_prometheus(prometheus, tmp_path, app, code, stopped_early):
    out = tmp_path / "watch.json"
    r = subprocess.run(["canary", "watch", _prom_config(tmp_path, app), "--prometheus-url", prometheus.url,
                        "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == code, r.stdout + r.stderr
    d = json.loads(out.read_text())
    assert d["watch"]["stopped_early"] is stopped_early
    if app == "late":  # the canary turns bad at 00:40
        assert d["watch"]["looks"] > 40
    if app == "reg":
        assert d["watch"]["looks"] <= 15
