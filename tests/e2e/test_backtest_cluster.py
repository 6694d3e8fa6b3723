"""``canary backtest`` against a real Prometheus holding two days of two stable groups, run locally and on a real
Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes): same numbers everywhere."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from servers import datasets, free_port

pytest.importorskip("distributed")

from analysis import load_config  # noqa: E402
from analysis.runs.backtest import backtest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "backtest" / "canary.yaml"
T0 = 1_767_225_600
RANGE = dict(start=T0, end=T0 + 48 * 3600, every=2 * 3600, window=3600)
SCOPE = {"a": "baseline", "b": "canary"}


def _config(url: str):
    cfg = load_config(CONFIG)
    return cfg.with_overrides(prometheus=cfg.prometheus.__class__(url=url, step=60.0, timeout=10.0))


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


@pytest.fixture(scope="module")
def local(history_prometheus):
    return backtest(_config(history_prometheus.url), **RANGE).to_dict()


def test_two_days_from_prometheus_equal_the_same_history_from_a_file(local, tmp_path):
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "scope", "timestamp", "value"])
        for s in datasets.history(48.0):
            name = s.name.removeprefix("bt_")
            w.writerows((name, SCOPE[s.labels["group"]], int(t), repr(float(v))) for t, v in zip(s.timestamps,
                                                                                              s.values))
    from_file = backtest(load_config(CONFIG), str(path), **RANGE).to_dict()
    assert local["windows"] == 24 and local["no_verdict"] == 0
    assert _without(local, "scheduler", "source") == _without(from_file, "scheduler", "source")


def test_the_distributed_run_gives_the_same_json_and_both_workers_ran_windows(local, history_prometheus,
                                                                              dask_cluster):
    from distributed import Client

    with Client(dask_cluster.address, timeout="10s", set_as_default=False) as client:
        client.get_task_stream()  # installs the scheduler's task-stream plugin, which records who ran what
        remote = backtest(_config(history_prometheus.url), scheduler=dask_cluster.address, **RANGE).to_dict()
        stream = client.get_task_stream()
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert remote["scheduler"] == dask_cluster.address
    assert _without(remote, "scheduler") == _without(local, "scheduler")
    ran_on = {t["worker"] for t in stream if str(t["key"]).startswith("canary-backtest-")}
    assert len(ran_on) == 2, ran_on
    assert len(executed) == 2 and all(n > 0 for n in executed.values())


def test_the_cli_on_the_cluster(history_prometheus, dask_cluster, tmp_path):
    out = tmp_path / "bt.json"
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "backtest", str(CONFIG), "--prometheus-url",
                           history_prometheus.url, "--start", "2026-01-01T00:00:00Z", "--end",
                           "2026-01-01T12:00:00Z", "--every", "3h", "--window", "1h", "--scheduler",
                           dask_cluster.address, "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    d = json.loads(out.read_text())
    assert d["windows"] == 4 and d["scheduler"] == dask_cluster.address and d["source"] == history_prometheus.url


def test_a_dead_prometheus_is_no_verdict_in_every_window_never_no_alarm(tmp_path):
    out = tmp_path / "bt.json"
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "backtest", str(CONFIG), "--prometheus-url",
                           f"http://127.0.0.1:{free_port()}", "--timeout", "2s", "--start", "2026-01-01T00:00:00Z",
                           "--end", "2026-01-01T04:00:00Z", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stderr
    d = json.loads(out.read_text())
    assert d["windows"] == 4 and d["no_verdict"] == 4 and d["judged"] == 0
    assert d["false_alarm_rate"] is None and d["detection_rate"] is None
    assert all(w["verdict"] == "error" and "cannot reach Prometheus" in w["reason"] for w in d["window_results"])
    assert "4 of 4 windows reached no verdict" in done.stdout
