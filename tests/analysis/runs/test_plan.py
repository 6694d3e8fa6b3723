"""``canary plan``: minimum detectable effects and durations, checked against the judges they plan for."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from analysis import parse_config
from analysis.cli import main
from analysis.collectors.file import FileCollector
from analysis.runs.plan import plan
from judges import Classification, Direction, JudgeParams, get_judge

T0 = 1767225600


def ar1(rng, phi, n):
    x = np.empty(n)
    x[0] = rng.standard_normal()
    for i in range(1, n):
        x[i] = phi * x[i - 1] + math.sqrt(1 - phi ** 2) * rng.standard_normal()
    return x


def latency(rng, n, phi, noise=0.05):
    return 100 * np.exp(noise * ar1(rng, phi, n))


def record(path, rng, steps=240, phi=0.0, error_rate=0.002, requests=2000):
    lines = ["metric,scope,timestamp,value"]
    req = rng.poisson(requests, steps)
    err = rng.binomial(req, error_rate)
    lat = latency(rng, steps, phi)
    for i in range(steps):
        ts = T0 + 60 * i
        lines += [f"latency_ms,baseline,{ts},{lat[i]:.4f}", f"requests,baseline,{ts},{req[i]}",
                  f"errors,baseline,{ts},{err[i]}", f"memory_mb,baseline,{ts},512"]
    path.write_text("\n".join(lines) + "\n")
    return FileCollector(path)


CONFIG = {"name": "plan", "metrics": [
    {"name": "latency_ms", "direction": "increase"},
    {"name": "errors", "judge": "rate", "denominator": "requests", "direction": "increase"},
    {"name": "requests", "muted": True},
    {"name": "memory_mb", "judge": "threshold", "upper": 1024}]}


def _row(p, name):
    return next(m for m in p.metrics if m.name == name)


def _power(judge_name, make, runs=300, tolerance=0.25):
    judge = get_judge(judge_name)
    hits = 0
    for _ in range(runs):
        b, c, opts = make()
        j = judge(b, c, JudgeParams(direction=Direction.INCREASE, tolerance=tolerance, options=opts))
        # the release has 2 gating metrics with a level: Holm's first step (1 - 0.05 / 2) is looser than the
        # metric's own 98 %, so the interval at 98 % decides (analysis.multiplicity)
        hits += j.classification is Classification.HIGH
    return hits / runs


def _paired(b, c):
    """The options the pipeline gives the paired judge for two series on the same timestamps."""
    return {"paired_baseline": b, "paired_canary": c}


def test_the_paired_mde_from_the_baseline_alone_is_detected_with_the_planned_power(tmp_path):
    rng = np.random.default_rng(1)
    p = plan(parse_config(CONFIG), record(tmp_path / "r.csv", rng, phi=0.5), duration=120 * 60)
    row = _row(p, "latency_ms")
    assert row.judge == "paired" and row.kind == "paired" and "baseline only" in row.note
    assert row.points == 120 and 0.3 < row.autocorrelation < 0.7 and row.vif > 2
    mde = row.mde

    def make():
        b, c = latency(rng, 120, 0.5), latency(rng, 120, 0.5) * (1 + mde)
        return b, c, _paired(b, c)

    # the metric's own tolerance from the config: 0 for paired
    assert parse_config(CONFIG).metrics[0].params.tolerance == 0.0
    assert 0.82 <= _power("paired", make, tolerance=0.0) <= 0.97


def test_the_paired_plan_reads_recorded_pairs_and_sees_through_shared_load(tmp_path):
    # an A/A recording of both scopes: a load both share (AR 0.95, 10 %) and each scope's own AR(0.5) noise (3 %)
    def pairs(rng, n):
        load = 0.10 * ar1(rng, 0.95, n)
        return (100 * np.exp(load + 0.03 * ar1(rng, 0.5, n)), 100 * np.exp(load + 0.03 * ar1(rng, 0.5, n)))

    rng = np.random.default_rng(11)
    b, c = pairs(rng, 1440)  # a day: the plan is as good as its estimates of the noise and its autocorrelation
    lines = ["metric,scope,timestamp,value"]
    lines += [f"latency_ms,{scope},{T0 + 60 * i},{v[i]:.5f}" for scope, v in (("baseline", b), ("canary", c))
              for i in range(1440)]
    (tmp_path / "aa.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.csv").write_text("\n".join(x for x in lines if ",canary," not in x) + "\n")
    cfg = parse_config({"name": "p", "metrics": [{"name": "latency_ms", "direction": "increase"}]})
    row = _row(plan(cfg, FileCollector(tmp_path / "aa.csv"), duration=30 * 60), "latency_ms")
    alone = _row(plan(cfg, FileCollector(tmp_path / "b.csv"), duration=30 * 60), "latency_ms")
    assert "1440 recorded timestamp pairs" in row.note and "baseline only" in alone.note
    # the differences cancel the load: their noise is sqrt(2) x 3 %, the baseline's alone about 10 %
    assert 0.035 < row.noise < 0.05 and alone.noise > 2 * row.noise and alone.mde > 2 * row.mde
    mde = row.mde

    def make():
        b, c = pairs(rng, 30)
        c = c * (1 + mde)
        return b, c, _paired(b, c)

    # one gating metric: the judge's own 98 % decides
    assert 0.82 <= _power("paired", make, tolerance=0.0) <= 0.97
    back = _row(plan(cfg, FileCollector(tmp_path / "aa.csv"), effect=mde), "latency_ms")
    assert back.needed == pytest.approx(30 * 60, rel=0.1)  # a 5 % grid of lengths


def test_the_shift_mde_of_an_unpaired_judge_is_detected_with_the_planned_power(tmp_path):
    rng = np.random.default_rng(1)
    cfg = parse_config({**CONFIG, "metrics": [{**CONFIG["metrics"][0], "judge": "mann-whitney"},
                                              *CONFIG["metrics"][1:]]})
    row = _row(plan(cfg, record(tmp_path / "r.csv", rng, phi=0.5), duration=120 * 60), "latency_ms")
    assert row.kind == "shift" and row.points == 120 and 0.3 < row.autocorrelation < 0.7 and row.vif > 2
    mde = row.mde

    def make():
        return latency(rng, 120, 0.5), latency(rng, 120, 0.5) * (1 + mde), {}

    assert 0.8 <= _power("mann-whitney", make, tolerance=cfg.metrics[0].params.tolerance) <= 0.98


def test_the_rate_mde_is_detected_with_the_planned_power(tmp_path):
    rng = np.random.default_rng(2)
    p = plan(parse_config(CONFIG), record(tmp_path / "r.csv", rng), duration=30 * 60)
    row = _row(p, "errors")
    assert row.events == pytest.approx(120, rel=0.15)  # 2000 requests a minute at 0.2 %, 30 minutes
    ratio = 1 + row.mde

    def make():
        nb, nc = rng.poisson(2000, 30).astype(float), rng.poisson(2000, 30).astype(float)
        b = rng.binomial(nb.astype(int), 0.002).astype(float)
        c = rng.binomial(nc.astype(int), 0.002 * ratio).astype(float)
        return b, c, {"baseline_denominator": nb, "canary_denominator": nc}

    assert 0.84 <= _power("rate", make) <= 0.96


def test_duration_needed_inverts_the_mde(tmp_path):
    c = record(tmp_path / "r.csv", np.random.default_rng(3), phi=0.3)
    cfg = parse_config(CONFIG)
    hour = plan(cfg, c, duration=3600)
    back = plan(cfg, c, effect=_row(hour, "latency_ms").mde)
    assert _row(back, "latency_ms").needed == pytest.approx(3600, rel=0.05)
    back = plan(cfg, c, effect=_row(hour, "errors").mde)
    assert _row(back, "errors").needed == pytest.approx(3600, rel=0.05)


def test_correlation_and_a_small_canary_cost_sensitivity(tmp_path):
    cfg = parse_config(CONFIG)
    iid = plan(cfg, record(tmp_path / "a.csv", np.random.default_rng(4)), duration=3600)
    ar = plan(cfg, record(tmp_path / "b.csv", np.random.default_rng(4), phi=0.8), duration=3600)
    assert _row(ar, "latency_ms").mde > 1.5 * _row(iid, "latency_ms").mde
    small = plan(cfg, FileCollector(tmp_path / "a.csv"), duration=3600, split=0.1)
    assert _row(small, "latency_ms").mde > _row(iid, "latency_ms").mde
    assert _row(small, "errors").mde > _row(iid, "errors").mde


def test_out_of_reach_and_non_comparisons_say_so(tmp_path):
    cfg = parse_config({**CONFIG, "metrics": [{**CONFIG["metrics"][0], "judge": "mann-whitney"},
                                              *CONFIG["metrics"][1:]]})
    p = plan(cfg, record(tmp_path / "r.csv", np.random.default_rng(5), phi=0.9), duration=10 * 60)
    lat = _row(p, "latency_ms")
    assert math.isfinite(lat.mde) and "lower bound" in lat.note
    assert "lower bound" not in _row(plan(cfg, FileCollector(tmp_path / "r.csv"), duration=4 * 3600),
                                     "latency_ms").note
    assert "absolute rule" in _row(p, "memory_mb").note
    assert p.family == 2  # latency and errors; the muted counter and the threshold rule have no p-value


def test_a_clean_baseline_tells_how_many_canary_errors_are_flagged(tmp_path):
    p = plan(parse_config(CONFIG), record(tmp_path / "r.csv", np.random.default_rng(6), error_rate=0.0),
             duration=3600)
    row = _row(p, "errors")
    k = math.ceil(math.log(0.0125) / math.log(0.5))  # one-sided level min(0.01, 0.05 / 2 / 2)
    assert f"{k} canary events against none are flagged" in row.note
    judge = get_judge("rate")
    flagged = judge(np.zeros(30), np.r_[np.ones(k), np.zeros(30 - k)], JudgeParams(direction=Direction.INCREASE))
    assert flagged.classification is Classification.HIGH


def test_cli(tmp_path, capsys):
    record(tmp_path / "r.csv", np.random.default_rng(7))
    config = tmp_path / "canary.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    with pytest.raises(SystemExit) as e:
        main(["plan", str(config), "--data", str(tmp_path / "r.csv"), "--duration", "1h", "--effect", "0.1",
              "--json", str(tmp_path / "plan.json")])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "Holm over 2 gating metric(s)" in out and "latency_ms" in out and "needed" in out
    d = json.loads((tmp_path / "plan.json").read_text())
    assert d["duration_s"] == 3600 and {m["name"] for m in d["metrics"]} == {"latency_ms", "errors", "memory_mb"}
    for args, message in ((["--split", "1.5", "--duration", "1h"], "--split"), ([], "--duration DURATION"),
                          (["--effect", "-1"], "--effect"), (["--effect", "inf"], "--effect"),
                          (["--duration", "9" * 400 + "s"], "--duration")):
        with pytest.raises(SystemExit) as e:
            main(["plan", str(config), "--data", str(tmp_path / "r.csv"), *args])
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_rate_metric_with_an_all_zero_denominator_plans_without_a_rate(tmp_path):
    lines = ["metric,scope,timestamp,value"]
    lines += [f"errors,baseline,{60 * i},{i % 3}" for i in range(120)]
    lines += [f"requests,baseline,{60 * i},0" for i in range(120)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    cfg = parse_config({"metrics": [{"name": "errors", "judge": "rate", "denominator": "requests"},
                                    {"name": "requests", "muted": True}]})
    row = _row(plan(cfg, FileCollector(tmp_path / "r.csv"), duration=3600), "errors")
    assert math.isnan(row.baseline_rate) and row.mde > 0


# --- from a real Prometheus (tests/servers): the same numbers as from the recorded file, and the judges agree ------

PROM = {"name": "plan-live", "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
        "prometheus": {"step": "60s"},
        "metrics": [
            {"name": "latency_ms", "query": 'app_latency_ms{${scope},app="aa"}', "direction": "increase"},
            {"name": "errors", "judge": "rate", "denominator": "requests", "direction": "increase",
             "query": 'sum(increase(http_requests_total{${scope},app="aa",code="500"}[1m]))'},
            {"name": "requests", "muted": True, "query": 'sum(increase(http_requests_total{${scope},app="aa"}[1m]))'}]}


def test_plan_from_prometheus_matches_the_recording_and_the_judges(prometheus, tmp_path, capsys):
    cfg_path = tmp_path / "live.yaml"
    cfg_path.write_text(yaml.safe_dump(PROM))
    window = ["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T01:00:00Z"]
    with pytest.raises(SystemExit) as e:
        main(["plan", str(cfg_path), "--prometheus-url", prometheus.url, *window, "--duration", "30m",
              "--json", str(tmp_path / "live.json")])
    assert e.value.code == 0, capsys.readouterr()
    live = json.loads((tmp_path / "live.json").read_text())
    with pytest.raises(SystemExit) as e:
        main(["record", str(cfg_path), "--prometheus-url", prometheus.url, *window, "--out", str(tmp_path / "r.csv")])
    assert e.value.code == 0
    with pytest.raises(SystemExit) as e:
        main(["plan", str(cfg_path), "--data", str(tmp_path / "r.csv"), "--duration", "30m", "--json",
              str(tmp_path / "file.json")])
    assert e.value.code == 0
    assert live == json.loads((tmp_path / "file.json").read_text())
    rows = {m["name"]: m for m in live["metrics"]}
    lat, err = rows["latency_ms"], rows["errors"]
    assert lat["points"] == 30 and 0 < lat["mde"] < 0.2 and err["events"] > 0
    # both versions are in Prometheus over the window (an A/A pair): the plan reads their timestamp pairs
    assert "61 recorded timestamp pairs" in lat["note"] and lat["judge"] == "paired"  # both ends of the hour
    # the default judge, on data like the fixture's (both versions N(100, 5)) on shared timestamps with the planned
    # shift, catches it about as often as planned (90 %)
    rng = np.random.default_rng(8)

    def make():
        b, c = rng.normal(100, 5, 30), rng.normal(100, 5, 30) * (1 + lat["mde"])
        return b, c, _paired(b, c)

    # (up to 0.99: the autocorrelation estimated from the hour's 61 pairs, 0.14 here, errs high as often as low)
    assert 0.8 <= _power("paired", make, runs=200, tolerance=0.0) <= 0.99
