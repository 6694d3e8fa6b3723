"""Issue 13: the Prometheus collector against lying, slow and hostile servers (``servers.faults``), and against
the real Prometheus where it can produce the fault itself (a rejected query, +Inf from x/0). Each test reproduces
one defect of the adversarial review; none of these may end in a pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from analysis import Window, parse_config
from analysis.collectors.prometheus import PrometheusCollector
from analysis.pipeline import analyze
from servers import datasets
from servers.faults import Fault, FaultProxy, gzip_bomb, prometheus_answer

T0 = datasets.T0
HOUR = Window(T0, T0 + 3600)
LATENCY = [{"name": "latency", "query": "app_latency_ms{${scope}}"}]
SCOPES = {"baseline": {"app": "aa", "version": "v1"}, "canary": {"app": "aa", "version": "v2"}}


def config(metrics=LATENCY, **prometheus):
    return parse_config({"defaults": {"judge": "kayenta"}, "scopes": SCOPES,
                         "prometheus": {"step": "30s", "timeout": "2s", "retries": 0, "concurrency": 1,
                                        **prometheus}, "metrics": metrics}, "test.yaml")


def run(url, metrics=LATENCY, **prometheus):
    cfg = config(metrics, url=url, **prometheus)
    with PrometheusCollector.from_config(cfg) as c:
        return analyze(cfg, c, HOUR)


def matrix(version: str, values=None, times=None) -> list:
    ts = np.arange(T0, T0 + 3601, 30) if times is None else times
    vs = np.full(len(ts), 100.0) + (0 if version == "v1" else 1) if values is None else values
    return [{"metric": {"app": "aa", "version": version}, "values": [[float(t), str(v)] for t, v in zip(ts, vs)]}]


def good(version: str, **kw) -> tuple[int, bytes]:
    return 200, prometheus_answer(matrix(version), **kw)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_status_error_with_http_200_is_a_collector_error_never_data():
    body = prometheus_answer(status="error", error="query processing would load too many samples",
                             error_type="execution")
    with FaultProxy(None, [(200, body), (200, body)]) as proxy:
        result = run(proxy.url)
    m = result.metric("latency")
    assert m.classification.value == "error"
    assert "status 'error' with HTTP 200: execution: query processing would load too many samples" in m.reason
    assert result.verdict.value == "error" and result.score == 0.0


def test_a_rejected_query_gives_no_passing_score(prometheus, tmp_path):
    """Defect 0: a non-critical query rejected with HTTP 422 made verdict error with score 100."""
    metrics = [{"name": "latency", "query": 'app_latency_ms{${scope},app="aa"}'},
               {"name": "joined", "query": 'app_latency_ms{${scope}} + on(app) app_latency_ms{app="multi"}'}]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"judge": "kayenta"}, "metrics": metrics,
                                    "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
                                    "prometheus": {"step": "30s"}}))
    r = cli("analyze", str(path), "--prometheus-url", prometheus.url, "--start", "2024-01-01T00:00:00Z",
            "--end", "2024-01-01T01:00:00Z", "--json", "-")
    assert r.returncode == 4, r.stderr
    d = json.loads(r.stdout)
    assert d["verdict"] == "error" and d["score"] == 0.0
    assert d["score_override"].startswith("no verdict (error)") and "joined" in d["score_override"]
    assert "HTTP 422" in d["metrics"][1]["reason"]
    assert "score 0/100" in r.stderr


def test_prometheus_warnings_reach_every_output(tmp_path):
    warning = "PromQL info: metric might not be a counter, name does not end in _total"
    script = [good("v1", warnings=[warning]), good("v2")]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"defaults": {"judge": "kayenta"}, "scopes": SCOPES, "metrics": LATENCY,
                                   "prometheus": {"step": "30s", "concurrency": 1, "retries": 0}}))
    out = {k: tmp_path / f"r.{k}" for k in ("json", "html", "md", "xml")}
    with FaultProxy(None, script) as proxy:
        r = cli("analyze", str(cfg), "--prometheus-url", proxy.url, "--start", "2024-01-01T00:00:00Z",
                "--end", "2024-01-01T01:00:00Z", "--json", str(out["json"]), "--report", str(out["html"]),
                "--summary-md", str(out["md"]), "--junit", str(out["xml"]))
    assert r.returncode in (0, 1, 3), r.stderr
    assert warning in r.stdout
    for kind, path in out.items():
        text = path.read_text()
        assert warning in text.replace("&#39;", "'").replace("\\", ""), kind
    assert any(warning in w for w in json.loads(out["json"].read_text())["warnings"])


def test_a_dripping_server_cannot_hold_the_timeout():
    """Defect 9: one byte per 0.2 s kept a 3 s per-read timeout busy for 18 s; the deadline is total."""
    body = prometheus_answer(matrix("v1"))
    with FaultProxy(None, [Fault(200, body, drip=0.2)] * 2) as proxy:
        t0 = time.monotonic()
        result = run(proxy.url, timeout="1s")
        took = time.monotonic() - t0
    assert took < 3.0
    assert "did not answer within 1s" in result.metric("latency").reason
    assert result.verdict.value == "error"


def test_slow_headers_and_the_run_deadline():
    slow = Fault(200, prometheus_answer(matrix("v1")), delay=3)
    metrics = [{"name": f"m{i}", "query": "app_latency_ms{${scope}}"} for i in range(4)]
    with FaultProxy(None, [slow] * 8) as proxy:
        t0 = time.monotonic()
        result = run(proxy.url, metrics, timeout="1s", total_timeout="1.5s", concurrency=1)
        took = time.monotonic() - t0
    assert took < 3.0  # 8 fetches of 1 s each would take 8 s without the run's total_timeout
    assert all(m.classification.value == "error" for m in result.metrics)
    assert "did not answer within" in result.metrics[0].reason


def test_a_truncated_answer_is_an_error():
    with FaultProxy(None, [Fault(200, prometheus_answer(matrix("v1")), truncate=True)] * 2) as proxy:
        result = run(proxy.url)
    assert "cut short" in result.metric("latency").reason


def test_a_gzip_bomb_is_bounded():
    """Defect 10: gzip sent despite Accept-Encoding: identity was decompressed in full (MemoryError)."""
    bomb = Fault(200, gzip_bomb(20 * 1024 * 1024), gzip=True)
    with FaultProxy(None, [bomb, bomb]) as proxy:
        result = run(proxy.url, max_response_bytes=1024 * 1024)
    assert proxy.requests[0]["Accept-Encoding"] == "identity"
    assert "decompresses to more than 1048576 bytes" in result.metric("latency").reason


def test_gzip_despite_identity_is_decoded_within_the_limit_and_a_large_body_refused():
    gz = [Fault(200, prometheus_answer(matrix("v1")), gzip=True), Fault(200, prometheus_answer(matrix("v2")),
                                                                         gzip=True)]
    with FaultProxy(None, gz) as proxy:
        result = run(proxy.url)
    assert result.metric("latency").classification.value != "error"
    big = (200, b" " * 5000 + prometheus_answer(matrix("v1")))
    with FaultProxy(None, [big, big]) as proxy:
        result = run(proxy.url, max_response_bytes=4096)
    assert "more than 4096 bytes" in result.metric("latency").reason


def test_retry_after_is_honoured_within_the_deadline_and_refused_beyond_it():
    busy = Fault(503, b'{"status":"error","errorType":"unavailable","error":"busy"}', headers={"Retry-After": "1"})
    with FaultProxy(None, [busy, good("v1"), good("v2")]) as proxy:
        t0 = time.monotonic()
        result = run(proxy.url, retries=2, timeout="5s")
        took = time.monotonic() - t0
    assert result.metric("latency").classification.value != "error" and took >= 1.0
    later = Fault(503, busy.body, headers={"Retry-After": "30"})
    with FaultProxy(None, [later, later]) as proxy:
        t0 = time.monotonic()
        result = run(proxy.url, retries=2, timeout="2s")
        took = time.monotonic() - t0
    assert took < 1.5 and "Retry-After 30s is beyond the deadline" in result.metric("latency").reason


def test_duplicate_timestamps_from_the_collector_are_an_error():
    ts = np.arange(T0, T0 + 3601, 30)
    dup = np.concatenate([ts[:10], ts[9:]])
    body = prometheus_answer(matrix("v1", np.full(len(dup), 100.0), dup))
    with FaultProxy(None, [(200, body), good("v2")]) as proxy:
        result = run(proxy.url)
    assert "has two samples at timestamp" in result.metric("latency").reason


def test_plus_inf_from_a_real_division_by_zero_never_passes(prometheus):
    """Defect 1: +Inf (real Prometheus' x/0) made the tolerance bound infinite and passed."""
    metrics = [{"name": "ratio", "query": 'app_latency_ms{${scope}} / 0', "critical": True},
               {"name": "latency", "query": "app_latency_ms{${scope}}"}]
    result = run(prometheus.url, metrics)
    ratio = result.metric("ratio")
    assert ratio.classification.value == "error" and "infinite" in ratio.reason
    assert result.verdict.value == "error" and result.score == 0.0
    failed = run(prometheus.url, [{**metrics[0], "nonfinite": "fail"}, metrics[1]])
    assert failed.metric("ratio").classification.value == "high"
    assert failed.verdict.value == "fail"


def test_redirects_keep_secrets_on_the_same_server_only(prometheus, tmp_path):
    """Defect 8: X-Api-Key followed a redirect to another host (127.0.0.1 -> localhost)."""
    token = tmp_path / "token"
    token.write_text("tok-s3cret\n")
    with FaultProxy(prometheus.url) as other:
        to_other = Fault(302, redirect=f"http://localhost:{other.port}{{path}}")
        with FaultProxy(prometheus.url, [to_other, to_other]) as proxy:
            result = run(proxy.url, headers={"X-Api-Key": "key-s3cret"}, bearer_token_file=str(token))
        assert result.metric("latency").classification.value != "error"
        assert proxy.requests[0]["X-Api-Key"] == "key-s3cret"
        assert proxy.requests[0]["Authorization"] == "Bearer tok-s3cret"
        assert len(other.requests) == 2
        assert all("X-Api-Key" not in r and "Authorization" not in r for r in other.requests)
    with FaultProxy(prometheus.url) as proxy:
        proxy.script = [Fault(307, redirect=f"{proxy.url}{{path}}")]
        result = run(proxy.url, headers={"X-Api-Key": "key-s3cret"})
    assert result.metric("latency").classification.value != "error"
    assert [r.get("X-Api-Key") for r in proxy.requests[:2]] == ["key-s3cret", "key-s3cret"]


def test_secrets_never_reach_any_output(tmp_path):
    """Defect 8: a header value with a newline printed the secret into stdout, JSON, HTML, Markdown and JUnit."""
    cfg = {"defaults": {"judge": "kayenta"}, "scopes": SCOPES, "metrics": LATENCY,
           "prometheus": {"step": "30s", "headers": {"X-Api-Key": "k3y-s3cret\n"}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli("analyze", str(path), "--prometheus-url", "http://127.0.0.1:9", "--start", "2024-01-01T00:00:00Z",
            "--end", "2024-01-01T01:00:00Z", "--json", str(tmp_path / "r.json"))
    assert r.returncode == 2 and "s3cret" not in r.stdout + r.stderr
    assert "prometheus.headers.X-Api-Key" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()
    # a server that echoes what it was sent: masked at the boundary
    echo = (400, b'{"status":"error","errorType":"bad_data","error":"bad key k3y-s3cret for user admin:pw-s3cret"}')
    with FaultProxy(None, [echo, echo]) as proxy:
        url = proxy.url.replace("http://", "http://admin:pw-s3cret@")
        result = run(url, headers={"X-Api-Key": "k3y-s3cret"})
    text = result.to_json(include_data=True) + repr(result)
    assert "s3cret" not in text and "bad key *** for user ***:***" in result.metric("latency").reason
    assert proxy.requests[0]["Authorization"].startswith("Basic ")  # URL credentials are sent as Basic auth
