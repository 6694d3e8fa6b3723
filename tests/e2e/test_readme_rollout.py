"""The README's rollout example, run as a new user would: its config block, read from README.md, against a real
HAProxy and a real Prometheus scraping real backends every second.

Only what is specific to this machine is substituted: the HAProxy admin socket, and the version labels (each
concurrent run gets its own pair of backends, ``blue-<i>``/``green-<i>``, behind its own HAProxy). The backends
export their ``code="500"`` series only once they have served an error, as most services do, so the example's
``or 0 * ...`` term is what keeps a healthy canary from ending as nodata.

* A canary at 13x and at 50x the baseline's error ratio (0.5 %) is rolled back at its first step, with the default
  judge (``paired``) and with ``judge: kayenta`` on every metric, in ``CANARY_README_REPEATS`` rounds (2 in CI).
* A healthy canary with no errors on either side is promoted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from conftest import require_haproxy, require_prometheus
from servers import stop_process
from servers.journal import records
from servers.backends import Backend, Load
from servers.haproxy import HAProxyServer
from servers.prometheus import PrometheusServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BASELINE_ERRORS = 0.005
CASES = [(judge, ratio) for judge in ("default", "kayenta") for ratio in (13, 50)]
REPEATS = int(os.environ.get("CANARY_README_REPEATS", "2"))


def readme_config() -> dict:
    """The YAML block of the README's Rollout section (the one with a ``rollout:`` key and metrics)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Rollout"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the README's Rollout section has no yaml block"
    cfg = yaml.safe_load(block.group(1))
    assert {"metrics", "rollout", "scopes"} <= set(cfg), "the README's rollout example is not a whole config"
    return cfg


def configure(cfg: dict, tmp: Path, name: str, haproxy: HAProxyServer, baseline: str, canary: str,
              judge: str) -> Path:
    cfg = json.loads(json.dumps(cfg))
    cfg["name"] = name
    cfg["scopes"] = {"baseline": {"version": baseline}, "canary": {"version": canary}}
    cfg["rollout"]["router"].update(admin=haproxy.admin, baseline=baseline, canary=canary)
    if judge != "default":
        for m in cfg["metrics"]:
            m["judge"] = judge
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pairs():
    """Five pairs of backends (one per concurrent run) that Prometheus scrapes every second."""
    require_prometheus()
    require_haproxy()
    count = len(CASES) + 1
    backends = [(Backend(f"blue-{i}", precreate=False).start(), Backend(f"green-{i}", precreate=False).start())
                for i in range(count)]
    try:
        with tempfile.TemporaryDirectory(prefix="canary-readme-") as d:
            targets = [b.target for pair in backends for b in pair]
            with PrometheusServer(Path(d), None, targets, scrape_interval="1s") as prom:
                yield backends, prom
    finally:
        for pair in backends:
            for b in pair:
                b.stop()


def start(config: Path, prom: PrometheusServer, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "CANARY_LOCK_DIR": str(tmp / "locks")}
    return subprocess.Popen([sys.executable, "-m", "analysis.cli", "rollout", str(config), "--prometheus-url",
                             prom.url, "--state", str(config.with_suffix(".jsonl")),
                             "--json", str(config.with_suffix(".json"))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def journal(config: Path) -> list[dict]:
    return records(config.with_suffix(".jsonl"))


def step_reasons(config: Path) -> str:
    """Every analysed stage's metric outcomes with their reasons, for a failing assertion to show."""
    try:
        result = json.loads(config.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return "(no JSON result)"
    return "\n".join(f"{s['stage']}: {m['name']} {m['classification']}: {m.get('reason', '')}"
                     for s in result.get("stages", []) for m in s.get("analysis", {}).get("metrics", []))


def test_the_readme_example_is_a_valid_config_whose_error_ratio_reads_no_errors_as_zero(tmp_path):
    cfg = readme_config()
    query = next(m for m in cfg["metrics"] if m["name"] == "error_ratio")["query"]
    assert 'code="500"' in query and " or 0 * sum(" in query
    path = tmp_path / "readme.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "analysis.cli", "validate", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("round_", range(REPEATS))
def test_the_readme_example_rolls_back_a_13x_and_a_50x_error_canary_at_its_first_step(pairs, tmp_path, round_):
    backends, prom = pairs
    cfg = readme_config()
    runs = {}
    with ExitStack() as stack:
        for i, (judge, ratio) in enumerate(CASES):
            blue, green = backends[i]
            blue.error_rate, green.error_rate, green.latency = BASELINE_ERRORS, BASELINE_ERRORS * ratio, 0.0
            servers = {blue.name: blue.port, green.name: green.port}
            ha = stack.enter_context(HAProxyServer(tmp_path / f"ha-{i}", servers, {blue.name: 100, green.name: 0}))
            stack.enter_context(Load(ha.url))
            config = configure(cfg, tmp_path, f"shop-{i}", ha, blue.name, green.name, judge)
            proc = stack.enter_context(start(config, prom, tmp_path))  # its pipes closed on the way out
            stack.callback(stop_process, proc)  # first out: before the HAProxy it drives goes away
            runs[(judge, ratio)] = (config, ha, (blue.name, green.name), proc)
        for (judge, ratio), (config, ha, (b_name, c_name), proc) in runs.items():
            out, err = proc.communicate(timeout=120)
            case = (f"{judge} judge, canary at {ratio}x the baseline's error ratio (round {round_}):\n"
                    + step_reasons(config))
            assert proc.returncode == 1, f"{case}: exit {proc.returncode}\n{out}\n{err}"
            assert (ha.weight(b_name), ha.weight(c_name)) == (100, 0), case
            recs = journal(config)
            applied = [r["weights"]["canary"] for r in recs if r["event"] == "weights_applied"]
            assert applied == [10, 0], f"{case}: weights {applied}"
            # an inconclusive window is extended (rollout.max_extensions) before the step is decided
            verdicts = [(r["stage"], r["verdict"]) for r in recs if r["event"] == "verdict"]
            assert verdicts[-1] == ("step-1", "fail") and {v for _, v in verdicts[:-1]} <= {"inconclusive"}, \
                f"{case}: {verdicts}"
            decision = [r for r in recs if r["event"] == "decision"][-1]
            assert decision["action"] == "rollback" and "error_ratio" in decision["reason"], case

def test_the_readme_example_promotes_a_healthy_canary_that_has_served_no_error(pairs, tmp_path):
    backends, prom = pairs
    blue, green = backends[-1]
    blue.heal()
    green.heal()
    with HAProxyServer(tmp_path / "ha", {blue.name: blue.port, green.name: green.port},
                       {blue.name: 100, green.name: 0}) as ha, Load(ha.url) as load:
        config = configure(readme_config(), tmp_path, "shop-healthy", ha, blue.name, green.name, "default")
        proc = start(config, prom, tmp_path)
        try:
            out, err = proc.communicate(timeout=150)
        finally:
            stop_process(proc)
        assert proc.returncode == 0, out + err
        assert (ha.weight(blue.name), ha.weight(green.name)) == (0, 100)
        load.mark()
        time.sleep(1.0)
        assert load.counts[green.name] > 10 and load.counts[blue.name] == 0
    assert not any(m for m in blue.registry.collect() for s in m.samples if s.labels.get("code") == "500")
    verdicts = [(r["stage"], r["verdict"]) for r in journal(config) if r["event"] == "verdict"]
    assert verdicts == [("step-1", "pass"), ("step-2", "pass")], verdicts
