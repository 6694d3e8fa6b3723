"""Rollouts against real components: HAProxy in front of two real HTTP backends, and a real Prometheus scraping
the backends' own metrics every second. The canary (green) is made bad on demand (errors or latency); the tests
read the weights back from HAProxy and count the traffic each server gets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import require_haproxy, require_prometheus
from servers import stop_process
from servers.journal import records
from servers.backends import Backend, Load
from servers.haproxy import HAProxyServer
from servers.prometheus import PrometheusServer

from analysis.rollout.status import status as rollout_status

pytestmark = pytest.mark.slow

INTERVAL = 5  # seconds per analysed step
# 11 points per scope and step: a rank test on 6 points cannot tell a canary from its baseline once one of its
# points still predates the fault (the Wilcoxon interval then reaches 0)
STEP = "0.5s"


def _query(prom: PrometheusServer, q: str) -> list:
    url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


@pytest.fixture(scope="module")
def stack():
    """Backends blue and green (service shop), stable and next (service cart), and a Prometheus that has scraped
    all of them a few times (about 7 s, once)."""
    require_prometheus()
    require_haproxy()
    names = ("blue", "green", "stable", "next")
    with tempfile.TemporaryDirectory(prefix="canary-rollout-") as d:
        backends = {name: Backend(name).start() for name in names}
        try:
            with PrometheusServer(Path(d), None, [b.target for b in backends.values()],
                                  scrape_interval="1s") as prom:
                deadline = time.monotonic() + 30
                q = 'count_over_time(http_requests_total{code="200"}[30s]) >= 3'
                while len(_query(prom, q)) < len(names):
                    assert time.monotonic() < deadline, f"Prometheus never scraped the backends:\n{prom.log_tail()}"
                    time.sleep(0.5)
                yield backends["blue"], backends["green"], prom, backends
        finally:
            for b in backends.values():
                b.stop()


def make_haproxy(workdir: Path, baseline: Backend, canary: Backend) -> HAProxyServer:
    baseline.heal()
    canary.heal()
    return HAProxyServer(workdir, {baseline.name: baseline.port, canary.name: canary.port},
                         {baseline.name: 100, canary.name: 0})


@pytest.fixture
def haproxy(stack, tmp_path):
    blue, green, *_ = stack
    with make_haproxy(tmp_path / "haproxy", blue, green) as ha:
        yield ha


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_LOCK_DIR", str(tmp_path / "locks"))


def write_config(tmp_path: Path, haproxy: HAProxyServer, service: str = "shop", versions=("blue", "green"),
                 **rollout) -> Path:
    """The service's metrics (error ratio, critical; p90 latency) and a rollout section through ``haproxy``."""
    rate = "[3s]"
    cfg = {
        "name": service,
        "prometheus": {"step": STEP, "timeout": "5s"},
        "scopes": {"baseline": {"version": versions[0]}, "canary": {"version": versions[1]}},
        "metrics": [
            {"name": "error_ratio", "judge": "kayenta", "direction": "increase", "critical": True,
             "group": "errors", "effect_size": {"allowed_increase": 1.5},
             "query": f'sum(rate(http_requests_total{{${{scope}},code="500"}}{rate})) '
                      f'/ sum(rate(http_requests_total{{${{scope}}}}{rate}))'},
            {"name": "latency_p90", "judge": "kayenta", "direction": "increase", "group": "latency",
             "effect_size": {"allowed_increase": 2.0},
             "query": f"histogram_quantile(0.9, sum by (le) "
                      f"(rate(http_request_duration_seconds_bucket{{${{scope}}}}{rate})))"},
        ],
        "rollout": {"strategy": "canary", "steps": [20, 50, 100], "interval": f"{INTERVAL}s", "warmup": "1s",
                    "router": {"type": "haproxy", "admin": haproxy.admin, "backend": "app",
                               "baseline": versions[0], "canary": versions[1]}, **rollout},
    }
    path = tmp_path / f"{service}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def canary():
    """Starts ``canary ARGS...`` in the background; whatever is still running at teardown (a test that failed
    mid-rollout) is stopped by its PID, before the HAProxy it drives goes away."""
    procs: list[subprocess.Popen] = []

    def start(*args: str, env_dir: Path) -> subprocess.Popen:
        env = {**os.environ, "CANARY_LOCK_DIR": str(env_dir / "locks")}
        proc = subprocess.Popen([sys.executable, "-m", "analysis.cli", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_process(proc)
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()


def wait_for(state: Path, predicate, proc: subprocess.Popen, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recs = records(state)
        if predicate(recs):
            return recs
        if proc.poll() is not None:
            raise AssertionError(f"rollout exited {proc.returncode} early: {proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out; journal: {[r['event'] for r in records(state)]}")


def started(stage: str):
    return lambda recs: any(r["event"] == "weights_applied" and r["stage"] == stage for r in recs)


def test_canary_that_turns_bad_midway_is_rolled_back(stack, haproxy, tmp_path, canary):
    blue, green, prom, _ = stack
    config, state = write_config(tmp_path, haproxy), tmp_path / "state.jsonl"
    with Load(haproxy.url) as load:
        proc = canary("rollout", str(config), "--prometheus-url", prom.url, "--state", str(state),
                      env_dir=tmp_path)
        # the canary breaks as soon as step-1 has passed, so step-2 (half the traffic) sees it from its start
        wait_for(state, lambda recs: any(r["event"] == "verdict" for r in recs), proc)
        green.error_rate = 0.5
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, out + err
        assert haproxy.weight("green") == 0 and haproxy.weight("blue") == 100
        before = haproxy.served()
        load.mark()
        time.sleep(1.0)
    assert load.counts["green"] == 0 and load.counts["blue"] > 10
    assert haproxy.served()["green"] == before["green"]
    lines = [json.loads(line) for line in out.splitlines()]  # not a TTY: JSON lines
    verdicts = {r["stage"]: r["verdict"] for r in lines if r["event"] == "verdict"}
    assert verdicts == {"step-1": "pass", "step-2": "fail"}
    assert lines[-1]["event"] == "result" and lines[-1]["outcome"] == "rolled_back"
    decision = [r for r in records(state) if r["event"] == "decision"][-1]
    assert decision["action"] == "rollback" and "error_ratio" in decision["reason"]


def test_two_services_roll_out_at_once_a_healthy_one_is_promoted_a_slow_one_rolled_back(stack, haproxy,
                                                                                          tmp_path, canary):
    blue, green, prom, backends = stack
    slow = backends["next"]
    with make_haproxy(tmp_path / "cart-haproxy", backends["stable"], slow) as cart_ha:
        slow.latency = 0.1
        shop, cart = write_config(tmp_path, haproxy), write_config(tmp_path, cart_ha, "cart", ("stable", "next"))
        with Load(haproxy.url) as shop_load, Load(cart_ha.url):
            procs = {name: canary("rollout", str(cfg), "--prometheus-url", prom.url, "--state",
                                  str(tmp_path / f"{name}.jsonl"), "--json", str(tmp_path / f"{name}.json"),
                                  env_dir=tmp_path) for name, cfg in (("shop", shop), ("cart", cart))}
            outs = {name: p.communicate(timeout=60) for name, p in procs.items()}
            assert procs["shop"].returncode == 0, outs["shop"]
            assert (haproxy.weight("blue"), haproxy.weight("green")) == (0, 100)
            shop_load.mark()
            time.sleep(1.0)
        assert shop_load.counts["blue"] == 0 and shop_load.counts["green"] > 10
        assert procs["cart"].returncode == 1, outs["cart"]
        assert (cart_ha.weight("stable"), cart_ha.weight("next")) == (100, 0)
    applied = [r["weights"]["canary"] for r in records(tmp_path / "shop.jsonl") if r["event"] == "weights_applied"]
    assert applied == [20, 50, 100]
    result = json.loads((tmp_path / "cart.json").read_text())
    assert [s["stage"] for s in result["stages"]] == ["step-1"]
    latency = next(m for m in result["stages"][0]["analysis"]["metrics"] if m["name"] == "latency_p90")
    assert latency["classification"] == "high"


def test_kill_9_mid_step_resumes_from_the_last_completed_step(stack, haproxy, tmp_path, canary):
    blue, green, prom, _ = stack
    config, state = write_config(tmp_path, haproxy), tmp_path / "state.jsonl"
    with Load(haproxy.url):
        proc = canary("rollout", str(config), "--prometheus-url", prom.url, "--state", str(state),
                      env_dir=tmp_path)
        wait_for(state, started("step-2"), proc)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        status = rollout_status(state)
        assert status["status"] == "interrupted" and status["completed"] == ["step-1"]
        # the router drifted while nobody watched: resume must notice and restore step-1's weights first
        haproxy.command("set weight app/blue 70")
        haproxy.command("set weight app/green 30")
        proc = canary("rollout", str(config), "--prometheus-url", prom.url, "--state", str(state), "--resume",
                      env_dir=tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert (haproxy.weight("blue"), haproxy.weight("green")) == (0, 100)
    recs = records(state)
    reconcile = next(r for r in recs if r["event"] == "reconcile")
    assert reconcile["actual"] == {"baseline": 70, "canary": 30}
    assert reconcile["journal"] == {"baseline": 50, "canary": 50} and reconcile["matches"] is False
    assert reconcile["set_to"] == {"baseline": 80, "canary": 20}
    assert [r["stage"] for r in recs if r["event"] == "verdict"] == ["step-1", "step-2"]
    after = recs[recs.index(reconcile):]
    assert [r["weights"]["canary"] for r in after if r["event"] == "weights_applied"] == [20, 50, 100]


def test_blue_green_switches_then_rolls_back_when_green_breaks_after_the_switch(stack, haproxy, tmp_path, canary):
    blue, green, prom, _ = stack
    config = write_config(tmp_path, haproxy, strategy="blue-green", steps=None, scale_down_delay="30s")
    raw = yaml.safe_load(config.read_text())
    del raw["rollout"]["steps"]
    config.write_text(yaml.safe_dump(raw))
    state = tmp_path / "state.jsonl"
    # green's pre-promotion traffic comes straight to it (a preview route), not through HAProxy
    with Load(haproxy.url), Load(f"http://{green.target}/preview", rate=10):
        proc = canary("rollout", str(config), "--prometheus-url", prom.url, "--state", str(state),
                      env_dir=tmp_path)
        wait_for(state, lambda recs: any(r["event"] == "window" for r in recs), proc)
        assert (haproxy.weight("blue"), haproxy.weight("green")) == (100, 0)  # green verified before the switch
        wait_for(state, started("switch"), proc)
        assert (haproxy.weight("blue"), haproxy.weight("green")) == (0, 100)  # all at once
        green.error_rate = 0.5
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert (haproxy.weight("blue"), haproxy.weight("green")) == (100, 0)
    verdicts = [(r["stage"], r["verdict"]) for r in records(state) if r["event"] == "verdict"]
    assert verdicts == [("verify", "pass"), ("switch", "fail")]
    window = [r for r in records(state) if r["event"] == "window" and r["stage"] == "switch"][0]
    assert window["baseline"]["end"] <= window["canary"]["start"]  # blue before the switch, green after it


def test_blue_green_promotes_and_keeps_blue_until_the_scale_down_delay(stack, haproxy, tmp_path, canary):
    blue, green, prom, _ = stack
    marker = tmp_path / "scaled-down"
    raw = yaml.safe_load(write_config(tmp_path, haproxy).read_text())
    raw["rollout"] = {**raw["rollout"], "strategy": "blue-green", "scale_down_delay": f"{INTERVAL + 2}s",
                      "pre_promotion": False,
                      "hooks": {"scale_down": [sys.executable, "-c",
                                               f"open({str(marker)!r}, 'w').write('{{canary}}')"]}}
    del raw["rollout"]["steps"]
    raw["rollout"]["hooks"]["scale_down"] = {"run": raw["rollout"]["hooks"]["scale_down"], "timeout": "10s"}
    config = tmp_path / "bg.yaml"
    config.write_text(yaml.safe_dump(raw))
    state = tmp_path / "state.jsonl"
    with Load(haproxy.url):
        proc = canary("rollout", str(config), "--prometheus-url", prom.url, "--state", str(state),
                      env_dir=tmp_path)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert (haproxy.weight("blue"), haproxy.weight("green")) == (0, 100)
    recs = records(state)
    assert [r["weights"]["canary"] for r in recs if r["event"] == "weights_applied"] == [100]
    switched = next(r["t"] for r in recs if r["event"] == "weights_applied" and r["stage"] == "switch")
    hook = next(r for r in recs if r["event"] == "hook_start" and r["point"] == "scale_down")
    assert hook["t"] >= switched + INTERVAL + 2
    assert marker.read_text() == "100"
