"""Live route: a ``prometheus-client`` exporter scraped every second by a real Prometheus, then judged.

Prometheus 2.42 pushes new targets on a 5 s throttle, so the first sample arrives about 6 s after start
(``shared/docs/real-stack.md`` section 3); the test waits for enough samples with a generous deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests
import yaml

from servers import stop_process
from servers.prometheus import free_port

EXPORTER = Path(__file__).resolve().parents[1] / "servers" / "exporter.py"
CONFIG = {
    "name": "live",
    "defaults": {"judge": "kayenta"},
    "scopes": {"baseline": {"job": "app", "version": "v1"}, "canary": {"job": "app", "version": "v2"}},
    "prometheus": {"step": "1s", "timeout": "5s"},
    "metrics": [{"name": "latency_ms", "query": "live_latency_ms{${scope}}", "direction": "increase"}],
}


def _wait(predicate, deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _samples(prom_url: str) -> int:
    r = requests.get(f"{prom_url}/api/v1/query", params={"query": 'count_over_time(live_latency_ms{version="v2"}[1m])'},
                     timeout=5).json()
    result = r["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


@pytest.fixture
def exporter():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(EXPORTER), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: proc.poll() is not None or _serving(f"http://127.0.0.1:{port}/metrics"), 15, "the exporter")
        assert proc.poll() is None, proc.stderr.read().decode()
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_live_scrape_is_collected_judged_and_run_in_realtime(prometheus_factory, exporter, tmp_path):
    server = prometheus_factory(targets=[exporter])
    # a 1 s range query can return one point fewer than the raw samples (grid alignment): wait for two extra
    _wait(lambda: _samples(server.url) >= 10, 60, "10 scraped samples")
    cfg = tmp_path / "live.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))

    r = subprocess.run(["canary", "analyze", str(cfg), "--prometheus-url", server.url, "--start", "now-30s",
                        "--end", "now", "--json", "-"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads(r.stdout)["metrics"][0]
    data = m["data"]
    assert len(data["canary"]["values"]) >= 8 and data["canary"]["values"] == data["baseline"]["values"]
    # before the first scrape the 1 s grid has nothing: those points are counted as missing, not filled
    assert data["canary"]["missing"] > 0
    assert len(data["canary"]["values"]) + data["canary"]["missing"] == 31
    assert m["query"]["canary"] == 'live_latency_ms{job="app",version="v2"}'

    r = subprocess.run(["canary", "analyze", str(cfg), "--prometheus-url", server.url, "--mode", "realtime",
                        "--lifetime", "4s", "--interval", "2s", "--json", "-"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.count("waiting until") >= 1  # the second wait is skipped when judging the first took 2 s (a loaded machine)
    assert [line.split()[1] for line in r.stderr.splitlines() if line.startswith("interval ") and "/2  " in line] \
        == ["1/2", "2/2"]
    run = json.loads(r.stdout)
    assert run["mode"] == "realtime" and len(run["intervals"]) == 2 and run["verdict"] == "pass"
