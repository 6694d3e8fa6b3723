"""``canary rollout`` and ``canary status`` as commands: config errors, exit codes, one-line errors, the lock
between two processes, and the state a crashed or halted rollout leaves for ``status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from _rollout_helpers import METRIC
from servers import free_port, stop_process
from analysis.cli import COMMANDS, main


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_LOCK_DIR", str(tmp_path / "locks"))


def run(*args, capsys):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def write(tmp_path, rollout: dict | None, name="svc.yaml", **top):
    metric = {**METRIC, "query": "sum(rate(http_requests_total{${scope},code=\"500\"}[1m]))"}
    doc = {"name": "shop", "metrics": [metric], "scopes": {"baseline": {"version": "blue"},
                                                            "canary": {"version": "green"}}, **top}
    if rollout is not None:
        doc["rollout"] = rollout
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


DRY = {"steps": [25, 100], "interval": "1s", "router": {"type": "dry-run"}}


def test_every_command_has_help(capsys):
    for name in ("rollout", "status"):
        assert name in COMMANDS
        rc, out, _ = run(name, "--help", capsys=capsys)
        assert rc == 0 and "Exit code" in out


@pytest.mark.parametrize("rollout, message", [
    (None, "svc.yaml: rollout: is required for canary rollout"),
    ({**DRY, "steps": [50, 25]}, "svc.yaml: rollout.steps[1]: steps must increase; 25 follows 50"),
    ({**DRY, "steps": [0, 100]}, "rollout.steps[0]: must be from 1 to 100"),
    ({**DRY, "steps": []}, "rollout.steps: needs at least one step"),
    ({k: v for k, v in DRY.items() if k != "interval"}, "rollout.interval: is required"),
    ({**DRY, "interval": "soon"}, "rollout.interval: expected a duration"),
    ({**DRY, "strategy": "rainbow"}, "rollout.strategy: must be one of canary, blue-green"),
    ({**DRY, "on_marginal": "panic"}, "rollout.on_marginal: must be one of pause, fail, continue"),
    ({**DRY, "strategy": "blue-green"}, "rollout.steps: blue-green switches all traffic at once"),
    ({**DRY, "scale_down_delay": "1m"}, "rollout.scale_down_delay: applies to strategy blue-green only"),
    ({**DRY, "hooks": {"before_everything": "true"}}, "rollout.hooks.before_everything: unknown hook point"),
    ({**DRY, "hooks": {"pre_step": {"run": "x", "timout": "1s"}}}, "rollout.hooks.pre_step.timout: unknown key"),
    ({**DRY, "hooks": {"pre_step": [""]}}, "rollout.hooks.pre_step: the command is empty"),
    ({**DRY, "hooks": {"pre_step": [{"run": ["true"]}, {"run": ""}]}},
     "rollout.hooks.pre_step[1].run: "),  # the schema refuses the empty string before the loader
    ({**DRY, "hooks": {"pre_step": "curl -fsS http://app/health | grep ok"}},
     "rollout.hooks.pre_step: uses shell syntax (|) but runs without a shell; write it as a list"),
    ({**DRY, "hooks": {"post_step": "echo $HOME"}}, "rollout.hooks.post_step: uses shell syntax ($)"),
    ({**DRY, "hooks": {"post_step": {"run": ["sh", "-c", "x"], "shell": True}}},
     "rollout.hooks.post_step.run: shell: true takes the command as one string"),
    ({**DRY, "hooks": {"post_step": ["./notify.sh", {"run": "x"}]}},
     "rollout.hooks.post_step: a list is either one command [cmd, arg, ...] or several hooks"),
    ({**DRY, "hooks": {"pre_step": ["./smoke.sh", "{canry}"]}}, "rollout.hooks.pre_step: unknown placeholder {canry}"),
    ({**DRY, "router": {"type": "f5"}}, "rollout.router.type: unknown router type 'f5'"),
    ({**DRY, "stepz": [1]}, "rollout.stepz: unknown key 'stepz'"),
])
def test_config_errors_exit_2_naming_the_key(tmp_path, capsys, rollout, message):
    cfg = write(tmp_path, rollout)
    rc, out, err = run("rollout", str(cfg), "--prometheus-url", "http://127.0.0.1:9", capsys=capsys)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_usage_errors_exit_2(tmp_path, capsys):
    cfg = write(tmp_path, DRY)
    rc, _, err = run("rollout", str(cfg), "--approve", "--prometheus-url", "http://x:9", capsys=capsys)
    assert rc == 2 and "--approve goes with --resume" in err
    rc, _, err = run("rollout", str(cfg), capsys=capsys)
    assert rc == 2 and "no Prometheus URL" in err
    rc, _, err = run("status", "--state", str(tmp_path / "none.jsonl"), capsys=capsys)
    assert rc == 2 and "no rollout recorded" in err


def test_prometheus_down_halts_with_exit_4_at_the_last_safe_weights(tmp_path, capsys):
    cfg = write(tmp_path, DRY)
    state = tmp_path / "s.jsonl"
    rc, out, err = run("rollout", str(cfg), "--prometheus-url", f"http://127.0.0.1:{free_port()}",
                       "--state", str(state), "--json", str(tmp_path / "r.json"), capsys=capsys)
    assert rc == 4, err
    lines = [json.loads(line) for line in out.splitlines()]
    result = lines[-1]
    assert result["event"] == "result" and result["outcome"] == "halted"
    assert result["weights"] == {"baseline": 100, "canary": 0}
    assert "cannot reach Prometheus" in result["reason"]
    assert json.loads((tmp_path / "r.json").read_text())["stages"][0]["verdict"] == "error"
    rc, out, _ = run("status", "--state", str(state), capsys=capsys)
    assert rc == 0 and out.startswith("shop (canary): HALTED")
    assert "weights baseline/canary: 100/0" in out and "step-1: ERROR" in out


def test_a_second_rollout_of_the_same_service_is_refused_while_the_first_runs(tmp_path, capsys):
    cfg = write(tmp_path, {**DRY, "interval": "60s"})
    env = {**os.environ, "CANARY_LOCK_DIR": str(tmp_path / "locks")}
    first = subprocess.Popen([sys.executable, "-m", "analysis.cli", "rollout", str(cfg), "--prometheus-url",
                              f"http://127.0.0.1:{free_port()}", "--state", str(tmp_path / "a.jsonl")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while '"event": "weights_applied"' not in (tmp_path / "a.jsonl").read_text() \
                if (tmp_path / "a.jsonl").exists() else True:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        rc, _, err = run("rollout", str(cfg), "--prometheus-url", "http://127.0.0.1:9", "--state",
                         str(tmp_path / "b.jsonl"), capsys=capsys)
        assert rc == 2 and f"a rollout of service 'shop' is already running (pid {first.pid}" in err
        rc, out, _ = run("status", "--state", str(tmp_path / "a.jsonl"), "--json", capsys=capsys)
        s = json.loads(out)
        assert s["status"] == "running" and s["pid"] == first.pid and s["weights"] == {"baseline": 75,
                                                                                        "canary": 25}
    finally:
        first.send_signal(signal.SIGTERM)  # the safe action: roll back to 0% canary, journaled
        try:
            first.communicate(timeout=10)
        finally:
            stop_process(first)  # by its PID, should it not have ended
    assert first.returncode == 1
    rc, out, _ = run("status", "--state", str(tmp_path / "a.jsonl"), "--json", capsys=capsys)
    s = json.loads(out)
    assert s["status"] == "rolled_back" and s["weights"] == {"baseline": 100, "canary": 0}
    assert "interrupted by SIGTERM" in s["reason"]


def test_status_finds_the_state_file_from_the_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path, DRY)
    rc, _, _ = run("rollout", str(cfg), "--prometheus-url", f"http://127.0.0.1:{free_port()}", capsys=capsys)
    assert rc == 4 and (tmp_path / "canary-rollout-shop.jsonl").exists()
    rc, out, _ = run("status", str(cfg), capsys=capsys)
    assert rc == 0 and "shop (canary): HALTED" in out
    rc, out2, _ = run("status", capsys=capsys)  # the only state file here
    assert out2 == out


def test_json_to_stdout_moves_the_progress_to_stderr(tmp_path, capsys):
    cfg = write(tmp_path, DRY)
    rc, out, err = run("rollout", str(cfg), "--prometheus-url", f"http://127.0.0.1:{free_port()}", "--state",
                       str(tmp_path / "s.jsonl"), "--json", "-", capsys=capsys)
    assert rc == 4
    assert json.loads(out)["outcome"] == "halted"  # one document
    assert [json.loads(line)["event"] for line in err.splitlines()][-1] == "result"


def test_a_closed_output_neither_stops_the_rollout_nor_changes_its_exit_code(tmp_path):
    cfg, state = write(tmp_path, DRY), tmp_path / "s.jsonl"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the log reader is gone before the first line: every write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "analysis.cli", "rollout", str(cfg), "--prometheus-url",
                               f"http://127.0.0.1:{free_port()}", "--state", str(state)], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "CANARY_LOCK_DIR": str(tmp_path / "locks")})
    finally:
        os.close(write_end)
    assert done.returncode == 4, done.stderr  # halted (Prometheus is down), as with a reader: not 0 or 1
    end = [json.loads(line) for line in state.read_text().splitlines()][-1]
    assert end["event"] == "end" and end["outcome"] == "halted" and end["weights"] == {"baseline": 100, "canary": 0}
