"""Issue 13, defects 11-13: rollouts killed at every journal boundary, stopped by real signals, and run with a
stalled output, through real HAProxy and a real Prometheus.

The Prometheus holds backfilled series from ten minutes ago to twenty minutes ahead (0.1 s apart), so a rollout
judging "the next second" finds data at once: ``app="good"`` has a healthy canary, ``app="bad"`` a canary at twice
the baseline's latency. ``CANARY_TEST_KILL_AFTER_RECORD=K`` makes the rollout process SIGKILL itself right after
its K-th journal record is on disk. After each crash, ``--resume`` must end where the journal says, and the router
must never carry more canary traffic than the journal announced or than the last passed step allows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import require_haproxy, require_prometheus
from servers import stop_process
from servers.haproxy import HAProxyServer
from servers.prometheus import PrometheusServer, Sample, free_port, openmetrics

from analysis.config._reader import Reader
from analysis.rollout.journal import read_records
from analysis.rollout.routers import router_from_config
from analysis.rollout.status import status as rollout_status

# records a run writes (start .. end): healthy steps [50] promotes in 14, failing rolls back in 10
HEALTHY_RECORDS = 14
FAILING_RECORDS = 10


@pytest.fixture(scope="module")
def prom():
    require_prometheus()
    now = time.time()
    ts = np.round(np.arange(now - 600, now + 1200, 0.1), 1)
    rng = np.random.default_rng(7)
    samples = []
    for app, canary_mean in (("good", 100.0), ("bad", 200.0)):
        samples.append(Sample("app_latency_ms", {"app": app, "version": "v1"}, ts, 100 + rng.normal(0, 5, ts.size)))
        samples.append(Sample("app_latency_ms", {"app": app, "version": "v2"}, ts,
                              canary_mean + rng.normal(0, 5, ts.size)))
    with tempfile.TemporaryDirectory(prefix="canary-crash-") as d:
        with PrometheusServer(Path(d), openmetrics(samples)) as server:
            yield server


@pytest.fixture
def haproxy(tmp_path):
    require_haproxy()
    (tmp_path / "ha").mkdir()
    with HAProxyServer(tmp_path / "ha", {"blue": free_port(), "green": free_port()}, {"blue": 100, "green": 0}) as ha:
        yield ha


def write_config(tmp_path: Path, prom: PrometheusServer, haproxy: HAProxyServer, app: str, steps=(50,),
                 **rollout) -> Path:
    cfg = {"name": f"svc-{app}",
           "prometheus": {"url": prom.url, "step": "0.1s", "timeout": "5s"},
           "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
           "metrics": [{"name": "latency", "judge": "kayenta", "direction": "increase", "critical": True,
                        "query": f'app_latency_ms{{${{scope}},app="{app}"}}',
                        "effect_size": {"allowed_increase": 1.3}}],
           "rollout": {"steps": list(steps), "interval": "1s", "analysis_delay": "0.2s",
                       "router": {"type": "haproxy", "admin": haproxy.admin, "backend": "app", "baseline": "blue",
                                  "canary": "green"}, **rollout}}
    path = tmp_path / f"{app}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def rollout(tmp_path: Path, cfg: Path, *args: str, kill_after: int | None = None, **popen):
    env = {**os.environ, "CANARY_LOCK_DIR": str(tmp_path / "locks")}
    env.pop("CANARY_TEST_KILL_AFTER_RECORD", None)
    if kill_after is not None:
        env["CANARY_TEST_KILL_AFTER_RECORD"] = str(kill_after)
    argv = [sys.executable, "-m", "analysis.cli", "rollout", str(cfg), "--state", str(tmp_path / "s.jsonl"), *args]
    if popen:
        return subprocess.Popen(argv, env=env, **popen)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def router_weights(haproxy: HAProxyServer) -> tuple[int, int]:
    router = router_from_config(Reader({"type": "haproxy", "admin": haproxy.admin, "backend": "app",
                                        "baseline": "blue", "canary": "green"}, "r", "test"))
    w = router.get_weights()
    return w.baseline, w.canary


def check_crash_then_resume(tmp_path, prom, haproxy, app: str, k: int, outcome: str, final: tuple[int, int]):
    cfg = write_config(tmp_path, prom, haproxy, app)
    crashed = rollout(tmp_path, cfg, kill_after=k)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    records = read_records(tmp_path / "s.jsonl")
    assert len(records) == k
    announced = [r["weights"]["canary"] for r in records if r["event"] == "weights"]
    canary_now = router_weights(haproxy)[1]
    # the router never holds a split the journal did not announce first
    assert canary_now <= max(announced, default=0)
    fail_journaled = any(r["event"] == "verdict" and r["verdict"] == "fail" for r in records)

    resumed = rollout(tmp_path, cfg, "--resume")
    expected_rc = {"promoted": 0, "rolled_back": 1}[outcome]
    assert resumed.returncode == expected_rc, resumed.stdout + resumed.stderr
    after = read_records(tmp_path / "s.jsonl")
    assert router_weights(haproxy) == final
    end = [r for r in after if r["event"] == "end"][-1]
    assert end["outcome"] == outcome and (end["weights"]["baseline"], end["weights"]["canary"]) == final
    if fail_journaled:  # defect 12: a journaled fail is final; the step is not run again at 50/50
        again = [r for r in after[k:] if r["event"] == "weights" and r["weights"]["canary"] > 0]
        assert again == [], again
    s = rollout_status(tmp_path / "s.jsonl")
    assert (s["weights"]["baseline"], s["weights"]["canary"]) == final and s["status"] == outcome


def test_the_record_counts_the_crash_tests_walk_through(tmp_path, prom, haproxy):
    for app, n, rc in (("good", HEALTHY_RECORDS, 0), ("bad", FAILING_RECORDS, 1)):
        (tmp_path / "s.jsonl").unlink(missing_ok=True)
        r = rollout(tmp_path, write_config(tmp_path, prom, haproxy, app))
        assert r.returncode == rc, r.stdout + r.stderr
        assert len(read_records(tmp_path / "s.jsonl")) == n, [x["event"] for x in read_records(tmp_path / "s.jsonl")]


@pytest.mark.parametrize("k", range(1, HEALTHY_RECORDS))
def test_kill_9_at_every_boundary_of_a_healthy_rollout(tmp_path, prom, haproxy, k):
    check_crash_then_resume(tmp_path, prom, haproxy, "good", k, "promoted", (0, 100))


@pytest.mark.parametrize("k", range(1, FAILING_RECORDS))
def test_kill_9_at_every_boundary_of_a_failing_rollout(tmp_path, prom, haproxy, k):
    check_crash_then_resume(tmp_path, prom, haproxy, "bad", k, "rolled_back", (100, 0))


def wait_for(path: Path, event: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and any(r["event"] == event for r in read_records(path))):
        assert proc.poll() is None and time.monotonic() < deadline, f"no {event} record"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("on_interrupt, outcome, rc, weights", [
    ("rollback", "rolled_back", 1, (100, 0)),
    ("hold", "halted", 4, (80, 20)),  # the last passed step
])
def test_a_signal_during_analysis_takes_the_safe_action(tmp_path, prom, haproxy, sig, on_interrupt, outcome, rc,
                                                        weights):
    """Defect 13: Ctrl-C or SIGTERM left traffic split with only 'aborted'."""
    cfg = write_config(tmp_path, prom, haproxy, "good", steps=(20, 50), on_interrupt=on_interrupt)
    proc = rollout(tmp_path, cfg, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        state = tmp_path / "s.jsonl"
        deadline = time.monotonic() + 60
        while not (state.exists() and sum(r["event"] == "window" for r in read_records(state)) == 2):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)  # step-1 passed; step-2 is being analysed at 50/50
        assert router_weights(haproxy) == (50, 50)
        proc.send_signal(sig)
        proc.communicate(timeout=20)
    finally:
        stop_process(proc)
    assert proc.returncode == rc
    records = read_records(tmp_path / "s.jsonl")
    sig_rec = [r for r in records if r["event"] == "signal"]
    assert sig_rec and sig_rec[0]["signal"] == signal.Signals(sig).name and sig_rec[0]["action"] == on_interrupt
    assert records[-1]["event"] == "end" and records[-1]["outcome"] == outcome
    assert router_weights(haproxy) == weights


def test_a_stalled_output_never_delays_the_rollback(tmp_path, prom, haproxy):
    """Defect 11: with stdout a full pipe, traffic stayed at 50/50 for 22 s after the fail verdict."""
    cfg = write_config(tmp_path, prom, haproxy, "bad")
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"x" * 65536)  # fill the pipe: nobody will read it during the rollout
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    t0 = time.monotonic()
    proc = rollout(tmp_path, cfg, stdout=write_end, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        state = tmp_path / "s.jsonl"
        deadline = time.monotonic() + 30
        while not (state.exists() and any(r["event"] == "end" for r in read_records(state))):
            assert time.monotonic() < deadline, [r["event"] for r in read_records(state)]
            time.sleep(0.05)
        assert router_weights(haproxy) == (100, 0)
        assert time.monotonic() - t0 < 15
        proc.wait(timeout=15)  # and the process ends (its output is abandoned, the journal has it all)
    finally:
        stop_process(proc)
        os.close(read_end)
    assert proc.returncode == 1
