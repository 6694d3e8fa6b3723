"""A third-party plugin of each kind (judge, collector, router), pip-installed from tests/plugins/canary_toy
into a directory of its own, and used from a config by the real ``canary`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "canary_toy"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(PLUGIN)],
                   check=True, capture_output=True, timeout=300)
    return str(target)


def canary(plugin_path: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": plugin_path + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


def config(tmp_path: Path, factor: float, **extra) -> Path:
    cfg = {"name": "toy", "collector": {"name": "toy", "options": {"factor": factor}},
           "metrics": [{"name": "latency", "judge": "mean-ratio", "options": {"max_ratio": 1.5},
                        "direction": "increase"}], **extra}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("factor, code, verdict", [(1.0, 0, "pass"), (2.0, 1, "fail")])
def test_third_party_judge_and_collector_run_from_a_config(plugin_path, tmp_path, factor, code, verdict):
    cfg = config(tmp_path, factor)
    r = canary(plugin_path, "analyze", str(cfg), "--start", "1700000000", "--end", "1700000120", "--json", "-",
               cwd=tmp_path)
    assert r.returncode == code, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == verdict and out["metrics"][0]["judge"] == "mean-ratio"
    assert out["metrics"][0]["statistics"]["estimate"] == pytest.approx(factor, rel=1e-9)


def test_third_party_judge_options_are_checked(plugin_path, tmp_path):
    cfg = config(tmp_path, 1.0)
    doc = yaml.safe_load(cfg.read_text())
    doc["metrics"][0]["options"] = {"max_ratoi": 2}
    cfg.write_text(yaml.safe_dump(doc))
    r = canary(plugin_path, "validate", str(cfg), cwd=tmp_path)
    assert r.returncode == 2
    assert "metrics[latency].options.max_ratoi: unknown option of judge 'mean-ratio'; known options: max_ratio" in r.stderr


def test_third_party_router_rolls_out_with_the_third_party_collector(plugin_path, tmp_path):
    weights = tmp_path / "weights.json"
    cfg = config(tmp_path, 1.0, rollout={"steps": [50, 100], "interval": "1s",
                                         "router": {"type": "toy-file", "path": str(weights)}})
    r = canary(plugin_path, "rollout", str(cfg), "--state", str(tmp_path / "state.jsonl"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(weights.read_text()) == {"baseline": 0, "canary": 100}


def test_unknown_collector_lists_the_installed_ones(plugin_path, tmp_path):
    cfg = config(tmp_path, 1.0)
    doc = yaml.safe_load(cfg.read_text())
    doc["collector"]["name"] = "datadog"
    cfg.write_text(yaml.safe_dump(doc))
    r = canary(plugin_path, "analyze", str(cfg), "--start", "1700000000", "--end", "1700000060", cwd=tmp_path)
    assert r.returncode == 2
    assert "unknown collector 'datadog'; known collectors: file, prometheus, toy" in r.stderr
