"""``canary validate`` describes every section (metrics, scoring, source, rollout, router, hooks) without secrets,
and ``--explain`` prints the plan a rollout would follow."""

from __future__ import annotations

import pytest
import yaml

from analysis.cli import main

SECRETS = ("s3cret", "t0ken", "Bearer xyz", "k3y")


def run(*args, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return e.value.code, out, err


def write(tmp_path, rollout=None, **top):
    doc = {"name": "shop",
           "metrics": [{"name": "latency", "judge": "kayenta", "critical": True, "group": "latency",
                        "query": "rate(x{${scope}}[1m])"},
                       {"name": "errors", "judge": "rate", "denominator": "requests", "group": "errors"},
                       {"name": "requests", "judge": "mann-whitney", "muted": True, "group": "traffic"}],
           "scopes": {"baseline": {"version": "blue"}, "canary": {"version": "green"}},
           "prometheus": {"url": "http://user:s3cret@prom:9090/?token=t0ken",
                          "headers": {"Authorization": "Bearer xyz"}},
           **top}
    if rollout is not None:
        doc["rollout"] = rollout
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


CANARY = {"steps": [10, 50, 100], "interval": "5m", "warmup": "30s", "on_marginal": "fail",
          "router": {"type": "webhook", "url": "https://router.example/weights?key=k3y"},
          "hooks": {"pre_step": ["./smoke.sh", "{canary}", "{previous_canary}"],
                    "post_step": {"run": "curl -fsS http://app/health | grep -q ok", "shell": True, "timeout": "30s"},
                    "post_rollout": "./notify.sh {outcome}"}}


def test_validate_describes_every_section_without_secrets(tmp_path, capsys):
    rc, out, err = run("validate", write(tmp_path, CANARY), capsys=capsys)
    assert rc == 0 and err == ""
    for line in ("valid config 'shop' with 3 metric(s)",
                 "    latency: judge kayenta, group latency, direction either (critical)",
                 "    requests: judge mann-whitney, group traffic, direction either (muted)",
                 "  scoring: pass >= 95, marginal >= 75; Holm correction across gating metrics at alpha 0.05",
                 '  scope canary: version="green"',
                 "  rollout: strategy canary, steps 10% -> 50% -> 100%; interval 5m, warm-up 30s, analysis delay 0s, "
                 "on marginal: fail; service shop",
                 "  router: WebhookRouter('https://router.example/weights', signed=False)",
                 "    pre_step: ./smoke.sh {canary} {previous_canary} (no shell, timeout 5m; a failure rolls back)",
                 "    post_step: curl -fsS http://app/health | grep -q ok (shell, timeout 30s; a failure rolls back)",
                 "    post_rollout: ./notify.sh {outcome} (no shell, timeout 5m; a failure is reported, never "
                 "acted on)"):
        assert line in out.splitlines() or line in out, line
    assert "prometheus: url http://prom:9090/" in out and "1 header(s), values hidden" in out
    for secret in SECRETS:
        assert secret not in out


def test_validate_says_when_there_is_no_rollout(tmp_path, capsys):
    rc, out, _ = run("validate", write(tmp_path), "--explain", capsys=capsys)
    assert rc == 0 and "rollout: none" in out and "no rollout: section" in out


def test_explain_prints_the_canary_plan_with_what_each_outcome_does(tmp_path, capsys):
    rc, out, _ = run("validate", write(tmp_path, CANARY), "--explain", capsys=capsys)
    assert rc == 0
    plan = out[out.index("rollout plan for service shop"):].splitlines()
    stages = [line.split(":")[0].strip() for line in plan if line[2:3].isdigit()]
    assert stages == ["0. start", "1. step-1", "2. step-2", "3. promote"]
    step2 = next(line for line in plan if line.startswith("  2. step-2"))
    assert "run pre_step hook(s) ./smoke.sh {canary} {previous_canary}, set 50/50, wait the warm-up 30s, " \
           "collect 5m of data" in step2 and "judge 3 metric(s) (kayenta, mann-whitney, rate)" in step2
    i = plan.index(step2)
    assert plan[i + 1].strip() == "pass -> promote"
    assert plan[i + 2].strip() == "marginal -> roll back, as for a fail"
    assert plan[i + 3].strip().startswith("fail -> roll back: set 100/0")
    outcomes = [line.strip() for line in plan[i + 4:i + 6] if line.startswith("       ")]
    assert any(o.startswith("no verdict (nodata, error") and "halt at the last safe weights 90/10 (exit 4)" in o
               for o in outcomes)
    assert any("inconclusive" in o and "halt at the last safe weights 90/10" in o for o in outcomes)
    assert any(line.startswith("  signal (Ctrl-C, SIGTERM)") and "--resume" in line for line in plan)
    assert plan[-1] == "  time: at least 11m from start to promotion (warm-ups, intervals, delays)"
    for secret in SECRETS:
        assert secret not in out


def test_explain_blue_green(tmp_path, capsys):
    ro = {"strategy": "blue-green", "interval": "2m", "preview_weight": 5, "scale_down_delay": "10m",
          "router": {"type": "dry-run"}, "hooks": {"scale_down": ["kubectl", "delete", "deploy/blue"]}}
    rc, out, _ = run("validate", write(tmp_path, ro), "--explain", capsys=capsys)
    assert rc == 0
    assert "rollout: strategy blue-green, preview weight 5%, analysis before the switch and after it, blue kept " \
           "10m after the switch" in out
    assert "  1. verify: set 95/5, wait the warm-up 0s, collect 2m of data" in out
    assert "  2. switch: set 0/100, wait the warm-up 0s" in out and "blue over the interval before the switch" in out
    assert "  3. scale_down: keep blue 10m after the switch, then run scale_down hook(s) kubectl delete deploy/blue" \
        in out


def test_validate_rejects_a_broken_rollout_in_one_line(tmp_path, capsys):
    rc, _, err = run("validate", write(tmp_path, {**CANARY, "hooks": {"pre_step": "a && b"}}), "--explain",
                     capsys=capsys)
    assert rc == 2 and "rollout.hooks.pre_step: uses shell syntax (&&)" in err and len(err.splitlines()) == 1


def test_validate_names_a_collector_plugin_without_its_option_values(tmp_path, capsys):
    path = write(tmp_path, collector={"name": "file", "options": {"path": str(tmp_path / "s3cret.csv")}})
    rc, out, _ = run("validate", path, capsys=capsys)
    assert rc == 0 and "  collector: file (path; values not shown)" in out and "s3cret" not in out
