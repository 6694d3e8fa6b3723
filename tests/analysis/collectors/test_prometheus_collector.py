"""The Prometheus collector against a real, backfilled Prometheus (``servers.datasets``).

Fault injection (``servers.faults.FaultProxy``) is used only for what a real server cannot do on demand: a 503
that heals, a malformed body. A hung server is the real one, stopped with SIGSTOP.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from analysis import Window, parse_config
from analysis.collectors.prometheus import PrometheusCollector, display_url
from analysis.errors import CollectorError, ConfigError
from analysis.pipeline import analyze
from servers import datasets
from servers.faults import FaultProxy
from servers.prometheus import free_port

T0 = datasets.T0
HOUR = Window(T0, T0 + 3600)


def config(metrics, scopes=None, variables=None, **prometheus):
    scopes = scopes or {"baseline": {"app": "aa", "version": "v1"}, "canary": {"app": "aa", "version": "v2"}}
    return parse_config({"defaults": {"judge": "kayenta"}, "scopes": scopes, "variables": variables or {},
                         "prometheus": {"step": "30s", "timeout": "5s", **prometheus}, "metrics": metrics},
                        "test.yaml")


def collector(cfg, url, **overrides):
    return PrometheusCollector(dataclasses.replace(cfg.prometheus, url=url, **overrides), cfg.scopes,
                               cfg.variables, cfg.source)


def collect(url, metrics, window=HOUR, scopes=None, **overrides):
    cfg = config(metrics, scopes)
    with collector(cfg, url, **overrides) as c:
        return c.collect(cfg.metrics, window)


LATENCY = [{"name": "latency", "query": "app_latency_ms{${scope}}"}]


def test_one_series_per_scope_on_the_step_grid(prometheus):
    pair = collect(prometheus.url, LATENCY)["latency"]
    assert pair.error is None and pair.notes == ()
    grid = T0 + 30 * np.arange(121)
    for scope, version in (("baseline", "v1"), ("canary", "v2")):
        s = getattr(pair, scope)
        np.testing.assert_array_equal(s.timestamps, grid)
        assert s.missing == 0 and s.n_nan == 0
        assert s.query == f'app_latency_ms{{app="aa",version="{version}"}}'
        assert s.labels["version"] == version
    assert 95 < np.mean(pair.baseline.values) < 105


def test_a_step_that_does_not_divide_the_spacing_still_lands_on_the_grid(prometheus):
    pair = collect(prometheus.url, LATENCY, Window(T0 + 1, T0 + 601), step=25.0)["latency"]
    np.testing.assert_array_equal(pair.canary.timestamps, T0 + 1 + 25 * np.arange(25))


def test_gaps_are_counted_never_filled(prometheus):
    scopes = {"baseline": {"version": "v1"}, "canary": {"version": "v2"}}
    pair = collect(prometheus.url, [{"name": "gappy", "query": "gappy{${scope}}"}], scopes=scopes)["gappy"]
    # no sample from 20 to 40 min; with the 5 min lookback the grid points 25:00 .. 39:30 have nothing
    for s in (pair.baseline, pair.canary):
        assert len(s) == 91 and s.missing == 30 and s.n_nan == 0
        assert not ((s.timestamps >= T0 + 1500) & (s.timestamps < T0 + 2400)).any()
    assert "baseline is missing 30 points (gaps)" in pair.warnings()


def test_nan_values_are_kept_and_counted(prometheus):
    scopes = {"baseline": {"version": "v1"}, "canary": {"version": "v2"}}
    pair = collect(prometheus.url, [{"name": "nanny", "query": "nanny{${scope}}"}], step=10.0,
                   scopes=scopes)["nanny"]
    assert len(pair.baseline) == 361 and pair.baseline.missing == 0
    assert pair.baseline.n_nan == 36  # every 10th sample, from the 6th
    assert np.isnan(pair.baseline.values[5]) and not np.isnan(pair.baseline.values[4])


def test_label_values_built_to_break_the_query_select_exactly_their_series(prometheus):
    scopes = {s: {"app": "weird", "version": v} for s, v in datasets.NASTY.items()}
    pair = collect(prometheus.url, LATENCY, scopes=scopes)["latency"]
    assert pair.error is None
    for scope in ("baseline", "canary"):
        s = getattr(pair, scope)
        assert s.labels["version"] == datasets.NASTY[scope] and len(s) == 121
        assert np.mean(s.values) < 200  # the decoys are around 500


def test_several_series_are_an_error_naming_their_label_sets(prometheus):
    scopes = {"baseline": {"app": "multi", "version": "v1"}, "canary": {"app": "multi", "version": "v2"}}
    pair = collect(prometheus.url, LATENCY, scopes=scopes)["latency"]
    assert pair.error.startswith("baseline: the query returned 2 series where one was expected")
    assert 'pod="a"' in pair.error and 'pod="b"' in pair.error and "aggregate" in pair.error


@pytest.mark.parametrize("how, combine", [("sum", np.sum), ("avg", np.mean), ("max", np.max), ("min", np.min)])
def test_aggregate_combines_several_series_point_by_point(prometheus, how, combine):
    scopes = {"baseline": {"app": "multi", "version": "v1"}, "canary": {"app": "multi", "version": "v2"}}
    pairs = collect(prometheus.url, [
        {"name": "all", "query": "app_latency_ms{${scope}}", "aggregate": how},
        {"name": "a", "query": 'app_latency_ms{${scope},pod="a"}'},
        {"name": "b", "query": 'app_latency_ms{${scope},pod="b"}'}], scopes=scopes)
    expected = combine(np.vstack([pairs["a"].canary.values, pairs["b"].canary.values]), axis=0)
    np.testing.assert_allclose(pairs["all"].canary.values, expected)
    assert pairs["all"].canary.labels == {"__name__": "app_latency_ms", "app": "multi", "version": "v2"}
    assert f"canary: 2 series combined with {how}" in pairs["all"].notes


def test_an_empty_result_is_nodata_with_a_note(prometheus):
    cfg = config([{"name": "ghost", "query": "no_such_metric{${scope}}"}] + LATENCY)
    with collector(cfg, prometheus.url) as c:
        result = analyze(cfg, c, HOUR)
    ghost = result.metric("ghost")
    assert ghost.classification.value == "nodata"
    assert "baseline: the query returned no series" in ghost.warnings
    assert ghost.query["canary"] == 'no_such_metric{app="aa",version="v2"}'


@pytest.mark.parametrize("query, status, message", [
    ("app_latency_ms{${scope}", 400, "parse error"),
    ('app_latency_ms{${scope}} + on(app) app_latency_ms{app="multi"}', 422, "many-to-many matching not allowed"),
])
def test_a_rejected_query_is_an_error_carrying_the_server_message(prometheus, query, status, message):
    pair = collect(prometheus.url, [{"name": "bad", "query": query}])["bad"]
    assert f"Prometheus answered HTTP {status}" in pair.error and message in pair.error


def test_a_dead_server_is_an_error_for_every_metric(prometheus_factory):
    server = prometheus_factory()
    url = server.url
    server.stop()
    metrics = [{"name": f"m{i}", "query": "app_latency_ms{${scope}}"} for i in range(20)]
    pairs = collect(url, metrics, retries=1)
    assert all(p.error == f"baseline and canary: cannot reach Prometheus at {url}: connection refused"
               for p in pairs.values())


def test_a_hung_server_is_reported_as_a_timeout(prometheus_factory):
    server = prometheus_factory()
    server.pause()
    try:
        metrics = [{"name": f"m{i}", "query": "app_latency_ms{${scope}}"} for i in range(12)]
        pairs = collect(server.url, metrics, timeout=1.0, concurrency=4)
    finally:
        server.resume()
    assert all(f"Prometheus at {server.url} did not answer within 1s" in p.error for p in pairs.values())


_UNAVAILABLE = (503, b'{"status":"error","errorType":"unavailable","error":"too many queries"}')


def test_a_5xx_is_retried_and_can_recover(prometheus):
    with FaultProxy(prometheus.url, [_UNAVAILABLE]) as proxy:
        pair = collect(proxy.url, LATENCY, retries=2, concurrency=1)["latency"]
    assert pair.error is None and len(pair.baseline) == 121
    assert len(proxy.requests) == 3  # one 503, then baseline and canary


def test_retries_are_bounded_and_keep_the_server_message(prometheus):
    with FaultProxy(prometheus.url, [_UNAVAILABLE] * 3) as proxy:
        pair = collect(proxy.url, LATENCY, retries=2, concurrency=1)["latency"]
    assert pair.error == "baseline: Prometheus answered HTTP 503: unavailable: too many queries"
    assert len(proxy.requests) == 4  # baseline: 1 + 2 retries; canary: 1


def test_a_bad_request_is_not_retried(prometheus):
    bad = (400, b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\""}')
    with FaultProxy(prometheus.url, [bad]) as proxy:
        pair = collect(proxy.url, LATENCY, retries=3, concurrency=1)["latency"]
    assert pair.error == 'baseline: Prometheus answered HTTP 400: bad_data: invalid parameter "query"'
    assert len(proxy.requests) == 2


@pytest.mark.parametrize("body, message", [
    (b"<html>gateway</html>", "malformed response from Prometheus at"),
    (b'{"status":"success"}', "malformed response from Prometheus at"),
    (b'{"status":"success","data":{"result":{"a":1}}}', "expected a list of series"),
    (b'{"status":"success","data":{"result":[{"metric":{},"values":"x"}]}}', "expected a series with"),
    (b'{"status":"success","data":{"result":[{"metric":{},"values":[[1704067200,"abc"]]}]}}', "bad sample"),
    (b'{"status":"success","data":{"result":[{"metric":{},"values":[[1704067201,"1"]]}]}}', "not on the 30s step"),
])
def test_a_malformed_answer_is_an_error(body, message):
    with FaultProxy(None, [(200, body)] * 2) as proxy:
        pair = collect(proxy.url, LATENCY, concurrency=1)["latency"]
    assert message in pair.error


def test_headers_and_bearer_token_are_sent_but_never_written(prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    cfg = config(LATENCY, headers={"X-Scope-OrgID": "tenant-secret"}, bearer_token_file=str(token))
    with FaultProxy(prometheus.url) as proxy:
        with collector(cfg, proxy.url) as c:
            result = analyze(cfg, c, HOUR)
    assert {r["Authorization"] for r in proxy.requests} == {"Bearer s3cr3t-token"}
    assert {r["X-Scope-OrgID"] for r in proxy.requests} == {"tenant-secret"}
    text = result.to_json(include_data=True) + repr(result) + repr(cfg)
    assert "s3cr3t" not in text and "tenant-secret" not in text and str(token) not in repr(cfg)


def test_credentials_in_the_url_never_reach_messages():
    url = f"http://admin:hunter2@127.0.0.1:{free_port()}/prom"
    pair = collect(url, LATENCY, retries=0)["latency"]
    assert "hunter2" not in pair.error and "admin" not in pair.error
    assert display_url(url) in pair.error


def test_an_unreadable_token_file_is_a_config_error(tmp_path):
    cfg = config(LATENCY, bearer_token_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="prometheus.bearer_token_file: cannot read"):
        collector(cfg, "http://127.0.0.1:9")


def test_one_collector_serves_many_windows(prometheus):
    cfg = config(LATENCY)
    with collector(cfg, prometheus.url) as c:
        sizes = [len(c.collect(cfg.metrics, Window(T0, T0 + m * 60))["latency"].canary) for m in (10, 20, 60)]
    assert sizes == [21, 41, 121]


def test_check(prometheus):
    cfg = config(LATENCY)
    with collector(cfg, prometheus.url) as c:
        c.check()
    with collector(cfg, f"http://127.0.0.1:{free_port()}", retries=0) as c:
        with pytest.raises(CollectorError, match="connection refused"):
            c.check()


@pytest.mark.parametrize("metric, message", [
    ({"name": "m", "query": "app_latency_ms"}, "has no ${scope}"),
    ({"name": "m"}, "a query is required"),
    ({"name": "m", "query": "x{${scope}} > ${limit}"}, "undefined placeholder ${limit}"),
])
def test_query_problems_are_config_errors_before_any_fetch(metric, message):
    cfg = config([metric])
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        collector(cfg, "http://127.0.0.1:9").collect(cfg.metrics, HOUR)


@pytest.mark.parametrize("url", [None, "", "localhost:9090", "ftp://x"])
def test_the_url_is_checked(url):
    cfg = config(LATENCY)
    with pytest.raises(ConfigError, match="prometheus.url"):
        collector(cfg, url)


def test_pairs_serialise_to_plain_json(prometheus):
    pair = collect(prometheus.url, LATENCY)["latency"]
    d = json.loads(json.dumps(pair.canary.to_dict()))
    assert d["labels"]["version"] == "v2" and len(d["values"]) == 121


def test_batched_judging_equals_judging_each_metric(prometheus):
    """The pipeline judges a judge's metrics in one ``judge_many`` call when it can; the result must not change."""
    from judges import get_judge

    scopes = {"baseline": {"version": "v1"}, "canary": {"version": "v2"}}
    metrics = [{"name": f"{app}_{judge}", "query": f'app_latency_ms{{${{scope}},app="{app}"}}', "judge": judge,
                "direction": "increase"}
               for app in ("aa", "reg", "late") for judge in ("mann-whitney", "kayenta")]
    metrics.append({"name": "nanny", "query": "nanny{${scope}}", "judge": "mann-whitney"})
    cfg = config(metrics, scopes)
    with collector(cfg, prometheus.url) as c:
        result = analyze(cfg, c, HOUR)
    for m in cfg.metrics:
        pair = result.pairs[m.name]
        got = result.metric(m.name).judgement
        # a metric flagged at its own level is judged again at Holm's (analysis.multiplicity)
        level = got.statistics.extra.get("ci_confidence", m.params.confidence)
        params = m.params if got.statistics.extra.get("ci_method") or level <= m.params.confidence else \
            dataclasses.replace(m.params, confidence=level)
        one = get_judge(m.judge)(pair.baseline.values, pair.canary.values, params)
        assert (got.classification, got.reason) == (one.classification, one.reason)
        assert got.statistics.to_dict() == one.statistics.to_dict()
    assert result.metric("reg_mann-whitney").classification.value == "high"


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_a_missing_prometheus_skips_locally_and_fails_in_ci(monkeypatch, ci, outcome):
    import conftest

    monkeypatch.setattr(conftest, "binaries", lambda: (None, "/usr/bin/promtool"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="prometheus not installed"):
        conftest.require_prometheus()


def test_the_token_file_is_read_again_for_each_window(prometheus, tmp_path):
    token = tmp_path / "token"
    token.write_text("first")
    cfg = config(LATENCY, bearer_token_file=str(token))
    with FaultProxy(prometheus.url) as proxy:
        with collector(cfg, proxy.url) as c:
            c.collect(cfg.metrics, HOUR)
            token.write_text("second")  # rotated, as mounted service-account tokens are
            c.collect(cfg.metrics, HOUR)
    assert [r["Authorization"] for r in proxy.requests] == ["Bearer first"] * 2 + ["Bearer second"] * 2
