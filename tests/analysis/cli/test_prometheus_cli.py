"""``canary analyze`` and ``canary record`` against the real Prometheus, run as a new user would (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import yaml

from servers import datasets
from servers.prometheus import free_port

from analysis.collectors.file import read_frame
from analysis.runs.record import write_recording
from analysis.series import SamplePair, Series, Window

WINDOW = ["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"]


def shop(**changes) -> dict:
    """A golden-signals config: latency and error rate, the app chosen by a variable."""
    cfg = {
        "name": "shop",
        "defaults": {"judge": "kayenta"},
        "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
        "variables": {"app": "aa"},
        "prometheus": {"step": "30s", "timeout": "5s"},
        "metrics": [
            {"name": "latency_ms", "query": 'app_latency_ms{${scope},app="${app}"}', "direction": "increase"},
            {"name": "error_rate", "direction": "increase", "critical": True,
             "query": 'sum(rate(http_requests_total{${scope},app="${app}",code="500"}[1m]))\n'
                      '  / sum(rate(http_requests_total{${scope},app="${app}"}[1m]))'},
        ],
    }
    cfg.update(changes)
    return cfg


def write(tmp_path, cfg: dict, name: str = "canary.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return str(path)


def canary(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["canary", *args], capture_output=True, text=True, timeout=timeout)


def test_an_aa_pair_passes(prometheus, tmp_path):
    out = tmp_path / "result.json"
    r = canary("analyze", write(tmp_path, shop()), "--prometheus-url", prometheus.url, *WINDOW,
               "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASS" in r.stdout
    d = json.loads(out.read_text())
    latency = d["metrics"][0]
    assert latency["query"] == {"baseline": 'app_latency_ms{version="v1",app="aa"}',
                                "canary": 'app_latency_ms{version="v2",app="aa"}'}
    assert len(latency["data"]["canary"]["values"]) == 121


def test_a_regression_fails_and_var_overrides_the_config(prometheus, tmp_path):
    r = canary("analyze", write(tmp_path, shop()), "--prometheus-url", prometheus.url, *WINDOW, "--var", "app=reg")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "HIGH (critical)" in r.stdout and "verdict: FAIL" in r.stdout


def test_the_config_prometheus_section_is_used_and_flags_override_it(prometheus, tmp_path):
    live = shop(prometheus={"url": prometheus.url, "step": "1m"})
    r = canary("analyze", write(tmp_path, live), *WINDOW, "--json", "-")
    assert r.returncode == 0 and len(json.loads(r.stdout)["metrics"][0]["data"]["canary"]["values"]) == 61
    dead = shop(prometheus={"url": f"http://127.0.0.1:{free_port()}", "step": "1m"})
    r = canary("analyze", write(tmp_path, dead), *WINDOW, "--prometheus-url", prometheus.url, "--step", "10m",
               "--json", "-")
    assert r.returncode == 0 and len(json.loads(r.stdout)["metrics"][0]["data"]["canary"]["values"]) == 7


def test_label_values_built_to_break_the_query(prometheus, tmp_path):
    cfg = shop(scopes={s: {"app": "weird", "version": v} for s, v in datasets.NASTY.items()},
               metrics=[{"name": "latency_ms", "query": "app_latency_ms{${scope}}", "direction": "increase"}])
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW, "--json", "-")
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads(r.stdout)["metrics"][0]
    assert m["classification"] == "pass" and m["statistics"]["n_canary"] == 121
    assert m["query"]["baseline"] == 'app_latency_ms{app="weird",version="a\\"b\\\\c}d\\ne"}'


def test_a_gone_server_fails_closed_with_exit_4(prometheus_factory, tmp_path):
    server = prometheus_factory()
    url = server.url
    server.stop()
    out = tmp_path / "result.json"
    r = canary("analyze", write(tmp_path, shop()), "--prometheus-url", url, *WINDOW, "--json", str(out))
    assert r.returncode == 4
    assert f"cannot reach Prometheus at {url}: connection refused" in r.stdout
    d = json.loads(out.read_text())
    assert d["verdict"] == "error" and d["reason"] == "critical metric error_rate could not be judged"
    assert {m["classification"] for m in d["metrics"]} == {"error"}


def test_when_no_metric_can_be_judged_the_reason_says_so(prometheus_factory, tmp_path):
    server = prometheus_factory()
    url = server.url
    server.stop()
    cfg = shop(metrics=[dict(m, critical=False) for m in shop()["metrics"]])
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", url, *WINDOW, "--json", "-")
    assert r.returncode == 4
    assert json.loads(r.stdout)["reason"] == "no metric could be judged: latency_ms, error_rate"


def test_a_hung_server_is_reported_within_the_timeout(prometheus_factory, tmp_path):
    server = prometheus_factory()
    server.pause()
    try:
        r = canary("analyze", write(tmp_path, shop()), "--prometheus-url", server.url, *WINDOW, "--timeout", "1s",
                   timeout=60)
    finally:
        server.resume()
    assert r.returncode == 4 and "did not answer within 1s" in r.stdout


def test_bad_promql_is_a_metric_error_with_the_server_message(prometheus, tmp_path):
    cfg = shop(metrics=[{"name": "broken", "query": "rate(app_latency_ms{${scope}}[5m]"}])
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW)
    assert r.returncode == 4
    assert "Prometheus answered HTTP 400: bad_data:" in r.stdout and "parse error" in r.stdout


def test_an_empty_result_is_nodata(prometheus, tmp_path):
    cfg = shop(metrics=[{"name": "ghost", "query": "no_such_metric{${scope}}"}])
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW)
    assert r.returncode == 4 and "NODATA" in r.stdout and "the query returned no series" in r.stdout


def test_several_series_without_aggregate_is_an_error_naming_them(prometheus, tmp_path):
    cfg = shop(scopes={"baseline": {"app": "multi", "version": "v1"}, "canary": {"app": "multi", "version": "v2"}},
               metrics=[{"name": "latency_ms", "query": "app_latency_ms{${scope}}"}])
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW)
    assert r.returncode == 4 and 'pod="a"' in r.stdout and "aggregate" in r.stdout
    cfg["metrics"][0]["aggregate"] = "avg"
    r = canary("analyze", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW)
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("cfg, args, message", [
    (shop(variables={}), [], "undefined placeholder ${app}"),
    (shop(), ["--var", "app"], "--var 'app': expected NAME=VALUE"),
    (shop(), ["--var", "scope=x"], "${scope} is set by the scopes: section"),
    (shop(scopes={"baseline": {"version": "v1"}}), [], "scopes.canary"),
    (shop(prometheus={"step": "fast"}), [], "prometheus.step"),
    (shop(), ["--start", "yesterday"], "expected ISO 8601"),
    (shop(), ["--start", "2024-01-01T01:00:00Z", "--end", "2024-01-01T00:00:00Z"], "must be after --start"),
    (shop(), ["--step", "0s"], "--step must be longer than zero"),
    (shop(), ["--data", "x.csv"], "either --data or --prometheus-url"),
])
def test_usage_and_config_errors_exit_2_with_one_line(prometheus, tmp_path, cfg, args, message):
    base = ["--prometheus-url", prometheus.url] + (WINDOW if "--start" not in args else [])
    r = canary("analyze", write(tmp_path, cfg), *base, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_no_source_at_all_is_a_usage_error(tmp_path):
    r = canary("analyze", write(tmp_path, shop()), *WINDOW)
    assert r.returncode == 2 and "--prometheus-url" in r.stderr


def test_relative_times_are_accepted(prometheus, tmp_path):
    r = canary("analyze", write(tmp_path, shop()), "--prometheus-url", prometheus.url, "--start", "now-10m",
               "--json", "-")
    # the backfilled data is from 2024, so the last ten minutes have none: nodata, never a pass
    assert r.returncode == 4 and json.loads(r.stdout)["verdict"] == "nodata"


def test_secrets_are_never_printed_or_written(prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("tok-SECRET-123")
    cfg = shop(prometheus={"step": "30s", "headers": {"X-Api-Key": "key-SECRET-456"},
                           "bearer_token_file": str(token)})
    path = write(tmp_path, cfg)
    out, rec = tmp_path / "result.json", tmp_path / "rec.csv"
    runs = [canary("analyze", path, "--prometheus-url", prometheus.url, *WINDOW, "--json", str(out)),
            canary("record", path, "--prometheus-url", prometheus.url, *WINDOW, "--out", str(rec)),
            canary("validate", path)]
    assert [r.returncode for r in runs] == [0, 0, 0]
    text = "".join(r.stdout + r.stderr for r in runs) + out.read_text() + rec.read_text()
    assert "SECRET" not in text


def test_record_then_replay_offline_gives_the_same_verdict(prometheus, tmp_path):
    path = write(tmp_path, shop())
    rec = tmp_path / "reg.csv"
    r = canary("record", path, "--prometheus-url", prometheus.url, *WINDOW, "--var", "app=reg", "--out", str(rec))
    assert r.returncode == 0, r.stderr
    assert "recorded 2 metric(s)" in r.stdout and "latency_ms: baseline 121, canary 121" in r.stdout
    meta = json.loads(rec.read_text().splitlines()[0].removeprefix("# canary: "))
    assert meta["window"] == {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z"}
    assert meta["queries"]["latency_ms"]["canary"] == 'app_latency_ms{version="v2",app="reg"}'
    assert meta["source"] == {"type": "prometheus", "url": prometheus.url, "step_s": 30.0}
    assert meta["missing"]["error_rate"] == {"baseline": 1, "canary": 1}  # rate() has no point at the start
    live = canary("analyze", path, "--prometheus-url", prometheus.url, *WINDOW, "--var", "app=reg", "--json", "-")
    replay = canary("analyze", path, "--data", str(rec), "--json", "-")
    a, b = json.loads(live.stdout), json.loads(replay.stdout)
    assert live.returncode == replay.returncode == 1
    assert (a["verdict"], a["score"], a["window"]) == (b["verdict"], b["score"], b["window"])
    for x, y in zip(a["metrics"], b["metrics"]):
        assert (x["classification"], x["statistics"], x["query"]) == (y["classification"], y["statistics"], y["query"])
        assert x["data"]["canary"]["values"] == y["data"]["canary"]["values"]


def test_record_to_parquet_replays_too(prometheus, tmp_path):
    path = write(tmp_path, shop())
    rec = tmp_path / "aa.parquet"
    assert canary("record", path, "--prometheus-url", prometheus.url, *WINDOW, "--out", str(rec)).returncode == 0
    r = canary("analyze", path, "--data", str(rec), "--json", "-")
    assert r.returncode == 0 and json.loads(r.stdout)["window"]["end"] == "2024-01-01T01:00:00Z"


def test_record_writes_nothing_when_a_metric_fails(prometheus, tmp_path):
    cfg = shop(metrics=shop()["metrics"] + [{"name": "broken", "query": "rate(x{${scope}}[5m]"}])
    rec = tmp_path / "rec.csv"
    r = canary("record", write(tmp_path, cfg), "--prometheus-url", prometheus.url, *WINDOW, "--out", str(rec))
    assert r.returncode == 4 and "nothing recorded: metric broken" in r.stderr
    assert not rec.exists() and list(tmp_path.glob(".rec.csv*")) == []


def test_commands_have_help():
    for command in ("analyze", "record"):
        r = canary(command, "--help")
        assert r.returncode == 0 and "--prometheus-url" in r.stdout and "--start" in r.stdout


@pytest.mark.parametrize("name", ["rec.csv", "rec.parquet"])
def test_a_recording_is_written_whole_with_the_same_permissions_as_csv_or_parquet(tmp_path, name):
    ts = np.arange(3.0) + 1_700_000_000
    pair = SamplePair("latency", Series(ts, np.array([1.0, 2.0, np.nan])), Series(ts, np.array([3.0, 4.0, 5.0])))
    umask = os.umask(0o022)
    try:
        window = Window(ts[0], ts[-1])
        write_recording(tmp_path / name, {"latency": pair}, {"window": window.to_dict()})
    finally:
        os.umask(umask)
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o644  # a CI artifact others can read, not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    frame, meta = read_frame(tmp_path / name)
    assert meta["window"] == window.to_dict()
    assert frame["value"].tolist()[3:] == [3.0, 4.0, 5.0] and frame["value"].isna().sum() == 1
