"""``canary serve`` end to end: a real subprocess under uvicorn on 127.0.0.1, a real Prometheus (backfilled healthy
``app=aa`` and degraded ``app=reg`` pairs, ``servers.datasets``), and the HTTP calls of Argo Rollouts' kayenta and
web providers and of Flagger, replayed as their sources make them (``clients.py``)."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
import yaml

from clients import KayentaMetric, argo_kayenta, argo_web, flagger_webhook, go_request
from servers.canary_serve import CanaryServe

START, END = "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"
TOKEN = "s3cret-t0ken"
LATENCY = "app_latency_ms{${scope}}"
ERRORS = ('sum(rate(http_requests_total{${scope},code="500"}[1m])) / '
          'sum(rate(http_requests_total{${scope}}[1m]))')


def shop() -> dict:
    return {"name": "shop", "defaults": {"judge": "kayenta"}, "prometheus": {"step": "30s", "timeout": "5s"},
            "metrics": [{"name": "latency_ms", "query": LATENCY, "direction": "increase"},
                        {"name": "error_ratio", "query": ERRORS, "direction": "increase", "critical": True}]}


def kayenta_json() -> dict:
    """Kayenta's own form, served directly: the scope value is the ``version`` label, ``app`` an extended param."""
    return {"name": "kay", "description": "served as Kayenta JSON", "applications": ["shopapp"],
            "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
            "templates": {"by-version": "app='${app}', version='${scope}'"},
            "metrics": [{"name": "latency", "query": {"type": "prometheus", "metricName": "app_latency_ms",
                                                      "customFilterTemplate": "by-version"},
                         "groups": ["latency"], "scopeName": "default",
                         "analysisConfigurations": {"canary": {"direction": "increase", "critical": True}}}],
            "classifier": {"groupWeights": {"latency": 100}, "scoreThresholds": {"pass": 95, "marginal": 75}}}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("configs")
    (d / "shop.yaml").write_text(yaml.safe_dump(shop()))
    broken = shop()
    broken["metrics"][0]["query"] = "app_latency_ms{${scope}"  # Prometheus answers 400: no verdict
    broken["name"] = "broken-query"
    (d / "broken-query.yaml").write_text(yaml.safe_dump(broken))
    (d / "kay.json").write_text(json.dumps(kayenta_json()))
    half = {"name": "half", "defaults": {"judge": "kayenta"}, "prometheus": {"step": "30s", "timeout": "5s"},
            "metrics": [{"name": "aa", "query": 'app_latency_ms{${scope},app="aa"}', "direction": "increase"},
                        {"name": "reg", "query": 'app_latency_ms{${scope},app="reg"}', "direction": "increase"}]}
    (d / "half.yaml").write_text(yaml.safe_dump(half))
    (d / "invalid.yaml").write_text("metrics: [}\n")
    return d


@pytest.fixture(scope="module")
def server(prometheus, config_dir, tmp_path_factory):
    # info level: the access log is part of what must never show the token
    with CanaryServe(tmp_path_factory.mktemp("serve"), config_dir, TOKEN, prometheus.url,
                     extra_args=["--log-level", "info"]) as srv:
        yield srv


def scopes(app: str, baseline: str = "version=v1", canary: str = "version=v2") -> tuple[dict, ...]:
    detail = {"region": "", "step": 30, "start": START, "end": END}
    return ({"name": "default", "controlScope": {"scope": f"app={app} and {baseline}", **detail},
             "experimentScope": {"scope": f"app={app} and {canary}", **detail}},)


def kayenta_metric(server: CanaryServe, app: str, config: str = "shop", **kw) -> KayentaMetric:
    return KayentaMetric(address=server.address(), application="shopapp", canaryConfigName=config,
                         thresholds=(90, 75), scopes=kw.pop("scopes", None) or scopes(app), **kw)


def status(server: CanaryServe, execution_id: str) -> dict:
    answer = go_request("GET", f"{server.address()}/canary/{execution_id}")
    assert answer.status == 200, answer.body
    return answer.json()


# --- Argo Rollouts' kayenta provider ------------------------------------------------------------------------------


def test_argo_kayenta_healthy_canary_is_successful(server):
    m = argo_kayenta(kayenta_metric(server, "aa"), resume_delay=0.2)
    assert m.phase == "Successful", m
    doc = status(server, m.execution_id)
    assert doc["complete"] is True and doc["status"] == "succeeded" and doc["buildTimeIso"]
    score = doc["result"]["judgeResult"]["score"]
    assert score["classification"] == "Pass" and score["score"] >= 90 and m.value == int(score["score"])
    names = {r["name"]: r["classification"] for r in doc["result"]["judgeResult"]["results"]}
    assert names == {"latency_ms": "Pass", "error_ratio": "Pass"}


def test_argo_kayenta_degraded_canary_fails_with_a_reason(server):
    m = argo_kayenta(kayenta_metric(server, "reg"), resume_delay=0.2)
    assert m.phase == "Failed" and m.value == 0, m
    score = status(server, m.execution_id)["result"]["judgeResult"]["score"]
    assert score["classification"] == "Fail" and "error_ratio" in score["classificationReason"]


@pytest.mark.parametrize("thresholds, phase, classification", [
    ((40, 20), "Successful", "Pass"), ((90, 45), "Inconclusive", "Marginal"), ((90, 75), "Failed", "Fail")])
def test_the_request_thresholds_classify(server, thresholds, phase, classification):
    # config "half": one metric passes, one is high, so the score is 50 whatever the thresholds
    detail = {"region": "", "step": 30, "start": START, "end": END}
    sc = ({"name": "default", "controlScope": {"scope": "version=v1", **detail},
           "experimentScope": {"scope": "version=v2", **detail}},)
    m = argo_kayenta(KayentaMetric(server.address(), "shopapp", "half", thresholds, sc), resume_delay=0.2)
    assert m.phase == phase and m.value == 50, m
    assert status(server, m.execution_id)["result"]["judgeResult"]["score"]["classification"] == classification


def test_a_run_without_verdict_is_terminal_and_carries_no_score(server):
    m = argo_kayenta(kayenta_metric(server, "aa", config="broken-query"), resume_delay=0.2)
    assert m.phase == "Error" and m.message == "Missing Score", m
    doc = status(server, m.execution_id)
    assert doc["complete"] is True and doc["status"] == "terminal" and "result" not in doc
    assert "latency_ms" in doc["exception"]["message"] and doc["exception"]["message"].startswith("error")


def test_kayenta_json_config_is_served_directly_with_bare_scope_values(server):
    listed = go_request("GET", f"{server.address()}/canaryConfig?application=shopapp&configurationAccountName=x")
    assert listed.status == 200
    entries = {e["id"]: e for e in listed.json()}
    assert entries["kay"]["name"] == "kay" and entries["kay"]["applications"] == ["shopapp"]
    assert isinstance(entries["shop"]["updatedTimestamp"], int) and "invalid" not in entries
    other = go_request("GET", f"{server.address()}/canaryConfig?application=otherapp").json()
    assert {e["id"] for e in other} == {"shop", "broken-query", "half"}  # kay is for shopapp only
    detail = {"step": 30, "start": START, "end": END}
    sc = ({"name": "default", "controlScope": {"scope": "v1", **detail}, "experimentScope": {"scope": "v2", **detail}},)
    # Argo cannot send extendedScopeParams, which this config's template needs: a 400, so an Error measurement
    m = argo_kayenta(kayenta_metric(server, "aa", config="kay", scopes=sc), resume_delay=0.2)
    assert m.phase == "Error" and "${app}" in m.message, m
    for app, passes in (("aa", True), ("reg", False)):
        # an Orca-style client sends them: the bare scope values select the version label
        extended = {"extendedScopeParams": {"app": app}}
        body = {"scopes": {"default": {"controlScope": {"scope": "v1", **detail, **extended},
                                       "experimentScope": {"scope": "v2", **detail, **extended}}},
                "thresholds": {"pass": 95, "marginal": 75}}
        started = go_request("POST", f"{server.address()}/canary/kay", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
        assert started.status == 200, started.body
        doc = _wait_complete(server, started.json()["canaryExecutionId"])
        score = doc["result"]["judgeResult"]["score"]
        assert (score["classification"] == "Pass") is passes and (score["score"] >= 95) is passes, doc
        result = doc["result"]["judgeResult"]["results"][0]
        assert result["name"] == "latency" and result["classification"] == ("Pass" if passes else "High")


def _wait_complete(server: CanaryServe, execution_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = status(server, execution_id)
        if doc["complete"]:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"execution {execution_id} did not complete")


# --- Argo Rollouts' web provider and Flagger ---------------------------------------------------------------------


def _web_url(server: CanaryServe, app: str, config: str = "shop") -> str:
    return (f"{server.url}/analysis/{config}?baseline=app%3D{app}%2Cversion%3Dv1&canary=app%3D{app}%2Cversion%3Dv2"
            f"&start={START}&end={END}&step=30s")


def test_web_provider_answers_200_with_the_verdict_for_pass_and_fail(server):
    phase, answer = argo_web(_web_url(server, "aa"), TOKEN)
    assert phase == "Successful" and answer.status == 200
    doc = answer.json()
    assert doc["verdict"] == "pass" and doc["exit_code"] == 0 and {m["name"] for m in doc["metrics"]} == \
        {"latency_ms", "error_ratio"} and all("data" not in m for m in doc["metrics"])
    phase, answer = argo_web(_web_url(server, "reg"), TOKEN)
    assert phase == "Failed" and answer.status == 200 and answer.json()["verdict"] == "fail"
    # the docs' template form: matchers unencoded in the query string, a relative start, a lookback
    raw = f"{server.url}/analysis/shop?baseline=app=reg,version=v1&canary=app=reg,version=v2&start={START}&end={END}"
    assert argo_web(raw, TOKEN)[0] == "Failed"
    body = {"baseline": "app=aa,version=v1", "canary": "app=aa,version=v2", "end": END, "lookback": "1h",
            "step": "30s", "var": {"unused": "x"}}
    code, doc = _post(server, "/analysis/shop", json.dumps(body).encode())
    assert code == 200 and doc["verdict"] == "pass"


def test_web_provider_without_verdict_shows_no_passing_score(server):
    phase, answer = argo_web(_web_url(server, "aa", "broken-query"), TOKEN)
    doc = answer.json()
    assert phase == "Failed" and doc["verdict"] == "error" and doc["score"] == 0.0
    assert doc["score_without_verdict"] >= 0  # what the scorer alone said, kept for the reader


def test_flagger_rollout_and_confirm_promotion_hooks(server):
    meta = {"baseline": "app=aa,version=v1", "canary": "app=aa,version=v2", "start": START, "end": END,
            "step": "30s"}
    for hook in ("pre-rollout", "rollout", "confirm-promotion"):
        go, answer = flagger_webhook(f"{server.address('flagger')}/flagger/shop", "podinfo", "test", meta)
        assert go and answer.status == 200, (hook, answer.body)
        assert answer.json()["verdict"] == "pass"
    bad = dict(meta, baseline="app=reg,version=v1", canary="app=reg,version=v2")
    go, answer = flagger_webhook(f"{server.address('flagger')}/flagger/shop", "podinfo", "test", bad)
    text = answer.body.decode()
    assert not go and answer.status == 412 and 400 <= answer.status < 500
    assert text.startswith("FAIL score 0/100: ") and "error_ratio" in text and text.count("\n") == 1


def test_flagger_lookback_window_and_variables(server):
    # lookback ends now: nothing was backfilled there, so no verdict, and Flagger halts (4xx, not 5xx)
    meta = {"baseline": "app=aa,version=v1", "canary": "app=aa,version=v2", "lookback": "5m"}
    go, answer = flagger_webhook(f"{server.address('flagger')}/flagger/shop", "podinfo", "test", meta)
    assert not go and answer.status == 412 and answer.body.decode().startswith("NODATA score 0/100")


# --- errors, auth, limits, metrics -------------------------------------------------------------------------------


def _post(server: CanaryServe, path: str, body: bytes, auth: bool = True) -> tuple[int, dict]:
    url = (server.address() if auth else server.url) + path
    answer = go_request("POST", url, body, {"Content-Type": "application/json"})
    return answer.status, json.loads(answer.body) if answer.body.startswith(b"{") else {"raw": answer.body}


def _request(start: str = START, end: str = END, scope: str = "app=aa and version=v1", **extra) -> bytes:
    detail = {"location": "", "step": 30, "start": start, "end": end}
    body = {"scopes": {"default": {"controlScope": {"scope": scope, **detail},
                                   "experimentScope": {"scope": "app=aa and version=v2", **detail}}},
            "thresholds": {"pass": 90, "marginal": 75}}
    body.update(extra)
    return json.dumps(body).encode()


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (_request(metadata=None).replace(b'"metadata": null', b'"metadata": NaN'), "NaN is not JSON"),
    (b"[" * 100_000, "not valid JSON"),
    (json.dumps({"scopes": json.loads(_request())["scopes"]}).encode(), "thresholds"),
    (_request(thresholds={"pass": 90}), "thresholds.marginal"),
    (_request(scopes={}), "scopes"),
    (_request(start="2024-01-01 00:00"), "RFC 3339"),
    (_request(start="1704067200"), "RFC 3339"),
    (_request(end="2023-12-31T00:00:00Z"), "must be after start"),
    (_request(scope="app=aa and"), "scope"),
    (_request(scope="just-a-value"), "label matchers"),
])
def test_malformed_requests_are_400_with_a_message(server, body, needle):
    code, doc = _post(server, "/canary/shop", body)
    assert code == 400 and needle in doc["message"], doc
    assert set(doc) == {"message"}


def test_unknown_config_or_execution_is_404(server):
    assert _post(server, "/canary/nope", _request())[0] == 404
    assert _post(server, "/flagger/nope", b"{}")[0] == 404
    for path in ("/canary/00000000-0000-0000-0000-000000000000", "/analysis/nope?start=now-1h",
                 "/canaryConfig/nope", "/no/such/path"):
        answer = go_request("GET", server.address() + path)
        assert answer.status == 404 and "message" in answer.json(), path


def test_missing_or_wrong_token_is_401_and_the_token_never_leaks(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic bm90OnRoZS10b2tlbg=="},
                    {"Authorization": "Basic !!"}, {"Authorization": f"Token {TOKEN}"}):
        for method, path in (("GET", "/canaryConfig"), ("POST", "/canary/shop"), ("GET", "/analysis/shop"),
                             ("POST", "/flagger/shop"), ("GET", "/openapi.json")):
            answer = go_request(method, server.url + path, b"{}" if method == "POST" else None, headers)
            assert answer.status == 401 and "message" in answer.json(), (headers, path)
    assert go_request("GET", f"http://x:{TOKEN}@127.0.0.1:{server.port}/canaryConfig").status == 200
    assert go_request("GET", server.url + "/canaryConfig", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert go_request("GET", server.url + "/healthz").status == 200
    assert TOKEN not in server.log_tail(10_000)


def test_no_422_anywhere_and_big_bodies_are_413(server):
    code, doc = _post(server, "/canary/shop", b'{"a": "' + b"x" * (1 << 20) + b'"}')
    assert code == 413 and "larger than" in doc["message"]
    code, doc = _post(server, "/analysis/shop", b'{"baseline": 5}')
    assert code == 400 and "baseline" in doc["message"]
    code, doc = _post(server, "/flagger/shop", b'{"name": "x", "metadata": {"lookback": 5}}')
    assert code == 400 and "metadata" in doc["message"]
    answer = go_request("PUT", server.address() + "/canary/shop", b"{}")
    assert answer.status == 405 and "message" in answer.json()


def test_openapi_lists_every_route(server):
    doc = go_request("GET", server.address() + "/openapi.json").json()
    for path in ("/canaryConfig", "/canary/{configId}", "/canary/{canaryExecutionId}", "/analysis/{configId}",
                 "/flagger/{configId}", "/healthz", "/metrics"):
        assert path in doc["paths"], path
    page = go_request("GET", server.address() + "/docs")
    assert page.status == 200 and b"/flagger/{configId}" in page.body


def test_metrics_show_verdicts_scores_durations_and_collector_errors(server):
    argo_web(_web_url(server, "aa"), TOKEN)
    argo_web(_web_url(server, "aa", "broken-query"), TOKEN)
    text = go_request("GET", server.url + "/metrics").body.decode()
    assert re.search(r'^canary_serve_verdicts_total\{config="shop",verdict="pass"\} [1-9]', text, re.M)
    assert re.search(r'^canary_serve_verdicts_total\{config="broken-query",verdict="error"\} [1-9]', text, re.M)
    assert re.search(r'^canary_serve_score\{config="broken-query"\} 0\.0$', text, re.M)
    assert re.search(r"^canary_serve_analysis_duration_seconds_count [1-9]", text, re.M)
    assert re.search(r"^canary_serve_collector_errors_total [1-9]", text, re.M)


def test_a_client_that_disconnects_mid_request_does_not_stop_the_server(server):
    # half a body, then gone; then a whole request whose answer nobody reads
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /canary/shop HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 5000\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n{\"scopes\":")
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        path = _web_url(server, "aa").split(str(server.port), 1)[1]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    time.sleep(0.5)
    assert server.proc.poll() is None
    phase, _ = argo_web(_web_url(server, "aa"), TOKEN)
    assert phase == "Successful"
