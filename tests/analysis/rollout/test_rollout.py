"""Rollout decisions with the dry-run router, a scripted analysis and an instant clock: the verdict drives the
weights, every weight change and decision is journaled before it is acted on, and a resume starts after the last
completed stage. The real-component runs are in ``test_rollout_e2e.py``."""

from __future__ import annotations

import io
import json
import sys

import pytest

from _rollout_helpers import InstantClock, Recorder, Scripted, rollout_config
from analysis.errors import CollectorError, ConfigError, UsageError
from analysis.rollout import Outcome, Rollout, RolloutLocked, Weights, plan
from analysis.rollout.journal import read_records, service_lock
from analysis.rollout.progress import JsonLines, LiveProgress
from analysis.rollout.routers.base import RouterError
from analysis.rollout.routers.dryrun import DryRunRouter

STEPS = {"steps": [10, 50, 100], "interval": "20s", "warmup": "5s", "router": {"type": "dry-run"}}


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CANARY_LOCK_DIR", str(tmp_path / "locks"))


def run(tmp_path, verdicts, rollout=None, state="state.jsonl", **kw):
    cfg = rollout_config({**STEPS, **(rollout or {})})
    rec, analyzer, clock = Recorder(), Scripted(verdicts), InstantClock()
    result = Rollout(cfg, analyzer, tmp_path / state, clock=clock, observer=rec).run(**kw)
    return result, cfg.rollout.router, rec, analyzer


# -- the plan ---------------------------------------------------------------------------------------------------

def test_canary_plan_analyses_every_step_below_100_then_promotes():
    stages = plan(rollout_config(STEPS).rollout)
    assert [(s.name, s.weights.canary, s.analyze) for s in stages] == \
        [("step-1", 10, True), ("step-2", 50, True), ("promote", 100, False)]
    stages = plan(rollout_config({**STEPS, "steps": [5, 25, 50]}).rollout)
    assert [s.name for s in stages] == ["step-1", "step-2", "step-3", "promote"]


def test_blue_green_plan():
    bg = {"strategy": "blue-green", "interval": "1m", "router": {"type": "dry-run"}}
    assert [(s.name, s.weights.canary, s.analyze) for s in plan(rollout_config(bg).rollout)] == \
        [("verify", 0, True), ("switch", 100, True), ("scale_down", 100, False)]
    pre_only = rollout_config({**bg, "post_promotion": False, "preview_weight": 5}).rollout
    assert [(s.name, s.analyze) for s in plan(pre_only)] == [("verify", True), ("switch", False),
                                                             ("scale_down", False)]
    # a switch no verdict drives is not a rollout this tool should run
    with pytest.raises(ConfigError, match=r"rollout.post_promotion: blue-green needs at least one analysis"):
        rollout_config({**bg, "pre_promotion": False, "post_promotion": False})


# -- decisions --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("verdicts, on_marginal, outcome, code, history", [
    (["pass", "pass"], "pause", Outcome.PROMOTED, 0, [(90, 10), (50, 50), (0, 100)]),
    (["pass", "fail"], "pause", Outcome.ROLLED_BACK, 1, [(90, 10), (50, 50), (100, 0)]),
    (["fail"], "pause", Outcome.ROLLED_BACK, 1, [(90, 10), (100, 0)]),
    (["pass", "marginal"], "pause", Outcome.PAUSED, 3, [(90, 10), (50, 50)]),
    (["marginal"], "fail", Outcome.ROLLED_BACK, 1, [(90, 10), (100, 0)]),
    (["marginal", "pass"], "continue", Outcome.PROMOTED, 0, [(90, 10), (50, 50), (0, 100)]),
    (["pass", "nodata"], "pause", Outcome.HALTED, 4, [(90, 10), (50, 50), (90, 10)]),
    (["error"], "pause", Outcome.HALTED, 4, [(90, 10), (100, 0)]),
    ([CollectorError("cannot reach Prometheus")], "pause", Outcome.HALTED, 4, [(90, 10), (100, 0)]),
    (["pass", ZeroDivisionError("bug")], "pause", Outcome.HALTED, 4, [(90, 10), (50, 50), (90, 10)]),
])
def test_the_verdict_drives_the_weights(tmp_path, verdicts, on_marginal, outcome, code, history):
    result, router, rec, _ = run(tmp_path, verdicts, {"on_marginal": on_marginal})
    assert (result.outcome, result.exit_code) == (outcome, code)
    assert [(w.baseline, w.canary) for w in router.history] == history
    assert result.weights == Weights(*history[-1])
    assert result.reason  # every outcome says why
    assert rec.events("end")[-1]["outcome"] == outcome.value


@pytest.mark.parametrize("verdicts, outcome, history, durations", [
    # inconclusive, extended once, then shown within the allowed effect: next step
    (["inconclusive", "pass", "pass"], Outcome.PROMOTED, [(90, 10), (50, 50), (0, 100)], [20, 40, 20]),
    # extended twice, then a regression shows: rolled back
    (["inconclusive", "inconclusive", "fail"], Outcome.ROLLED_BACK, [(90, 10), (100, 0)], [20, 40, 60]),
    # still inconclusive after max_extensions (2): not passed, back to the last safe weights
    (["pass", "inconclusive", "inconclusive", "inconclusive"], Outcome.HALTED, [(90, 10), (50, 50), (90, 10)],
     [20, 20, 40, 60]),
])
def test_an_inconclusive_step_is_extended_then_not_passed(tmp_path, verdicts, outcome, history, durations):
    result, router, rec, analyzer = run(tmp_path, verdicts)
    assert result.outcome is outcome and [(w.baseline, w.canary) for w in router.history] == history
    extends = [r for r in rec.events("decision") if r["action"] == "extend"]
    assert len(extends) == verdicts.count("inconclusive") - (outcome is Outcome.HALTED)
    # each extension judges a longer window from the same start, so the data accumulate
    assert [w.duration for _, w in analyzer.windows] == durations
    assert len({w.start for _, w in analyzer.windows}) == len(analyzer.windows) - len(extends)
    if outcome is Outcome.HALTED:
        assert "still inconclusive after 2 extension(s)" in result.reason and result.exit_code == 4


def test_max_extensions_is_validated_and_zero_halts_at_once(tmp_path):
    with pytest.raises(ConfigError, match=r"rollout.max_extensions: expected a whole number"):
        rollout_config({**STEPS, "max_extensions": -1})
    result, *_ = run(tmp_path, ["inconclusive"], {"max_extensions": 0})
    assert result.outcome is Outcome.HALTED and "after 0 extension(s)" in result.reason


def test_no_verdict_names_the_problem(tmp_path):
    result, *_ = run(tmp_path, [CollectorError("cannot reach Prometheus at http://127.0.0.1:1")])
    assert result.reason == "step-1: no verdict (error): analysis failed: cannot reach Prometheus at " \
                            "http://127.0.0.1:1"


class Spy(DryRunRouter):
    """Records, at each router call, the last journal record already on disk."""

    def __init__(self, path):
        super().__init__()
        self.path, self.seen = path, []

    def set_weights(self, baseline, canary):
        self.seen.append(read_records(self.path)[-1])
        super().set_weights(baseline, canary)


def test_every_weight_change_and_decision_is_on_disk_before_the_router_moves(tmp_path):
    cfg = rollout_config(STEPS)
    spy = Spy(tmp_path / "s.jsonl")
    object.__setattr__(cfg.rollout, "router", spy)
    Rollout(cfg, Scripted(["pass", "fail"]), tmp_path / "s.jsonl", clock=InstantClock()).run()
    assert [(r["event"], r["weights"]["canary"]) for r in spy.seen] == \
        [("weights", 10), ("weights", 50), ("weights", 0)]
    recs = read_records(tmp_path / "s.jsonl")
    rollback = next(i for i, r in enumerate(recs) if r["event"] == "weights" and r["stage"] == "rollback")
    assert recs[rollback - 1]["event"] == "decision" and recs[rollback - 1]["action"] == "rollback"


def test_each_step_is_judged_over_its_own_window_after_the_warm_up(tmp_path):
    result, router, rec, analyzer = run(tmp_path, ["pass", "pass"])
    applied = [r["t"] for r in rec.events("weights_applied")]
    for (baseline, canary), t in zip(analyzer.windows, applied):
        assert baseline == canary and canary.duration == 20
        assert canary.start >= 1_700_000_000  # the instant clock's epoch, not the real one
    first, second = (w for _, w in analyzer.windows)
    assert second.start - first.end >= 5  # step-2's window opens after its own warm-up
    assert [s.stage for s in result.stages] == ["step-1", "step-2"]


def test_blue_green_judges_green_after_the_switch_against_blue_before_it(tmp_path):
    bg = {"strategy": "blue-green", "interval": "30s", "warmup": "5s", "scale_down_delay": "2m",
          "router": {"type": "dry-run"}}
    cfg = rollout_config(bg)
    clock, analyzer = InstantClock(), Scripted(["pass", "pass"])
    result = Rollout(cfg, analyzer, tmp_path / "s.jsonl", clock=clock).run()
    assert result.outcome is Outcome.PROMOTED
    (vb, vc), (sb, sc) = analyzer.windows
    assert vb == vc  # pre-promotion: same window
    assert sb.end <= sc.start and sb.duration == sc.duration == 30
    recs = read_records(tmp_path / "s.jsonl")
    switched = next(r for r in recs if r["event"] == "weights_applied" and r["stage"] == "switch")
    scale_down = next(r for r in recs if r["event"] == "stage_done" and r["stage"] == "scale_down")
    assert scale_down["t"] >= switched["t"]  # the journal uses wall time; the clock moved 2 min
    assert clock.t >= sc.end and [w.canary for w in cfg.rollout.router.history] == [0, 100]


def test_blue_green_post_promotion_failure_rolls_back_to_blue(tmp_path):
    bg = {"strategy": "blue-green", "interval": "30s", "router": {"type": "dry-run"}}
    cfg = rollout_config(bg)
    result = Rollout(cfg, Scripted(["pass", "fail"]), tmp_path / "s.jsonl", clock=InstantClock()).run()
    assert result.outcome is Outcome.ROLLED_BACK
    assert [(w.baseline, w.canary) for w in cfg.rollout.router.history] == [(100, 0), (0, 100), (100, 0)]


# -- resume -----------------------------------------------------------------------------------------------------

class Crash(BaseException):
    """Stands for kill -9: nothing after it runs (no end record, no cleanup beyond the kernel's)."""


def test_resume_after_a_crash_continues_from_the_last_completed_step(tmp_path):
    cfg = rollout_config(STEPS)
    with pytest.raises(Crash):
        Rollout(cfg, Scripted(["pass", Crash()]), tmp_path / "s.jsonl", clock=InstantClock()).run()
    router = cfg.rollout.router
    router.set_weights(70, 30)  # the router drifted meanwhile
    analyzer = Scripted(["pass"])
    result = Rollout(cfg, analyzer, tmp_path / "s.jsonl", clock=InstantClock()).run(resume=True)
    assert result.outcome is Outcome.PROMOTED and [s.stage for s in result.stages] == ["step-2"]
    rec = next(r for r in read_records(tmp_path / "s.jsonl") if r["event"] == "reconcile")
    assert rec["journal"] == {"baseline": 50, "canary": 50} and rec["actual"] == {"baseline": 70, "canary": 30}
    assert rec["matches"] is False and rec["set_to"] == {"baseline": 90, "canary": 10}
    assert [(w.baseline, w.canary) for w in router.history[-4:]] == [(70, 30), (90, 10), (50, 50), (0, 100)]


def test_a_pending_rollback_is_completed_on_resume(tmp_path):
    class FailsOnRollback(DryRunRouter):
        broken = True

        def set_weights(self, baseline, canary):
            if canary == 0 and self.broken:
                raise RouterError("haproxy 127.0.0.1:1: set weight failed: Connection refused")
            super().set_weights(baseline, canary)

    cfg = rollout_config(STEPS)
    router = FailsOnRollback()
    object.__setattr__(cfg.rollout, "router", router)
    first = Rollout(cfg, Scripted(["fail"]), tmp_path / "s.jsonl", clock=InstantClock()).run()
    assert first.outcome is Outcome.HALTED and first.exit_code == 4 and "--resume to retry" in first.reason
    router.broken = False
    again = Rollout(cfg, Scripted([]), tmp_path / "s.jsonl", clock=InstantClock()).run(resume=True)
    assert again.outcome is Outcome.ROLLED_BACK and router.get_weights() == Weights(100, 0)


def test_paused_rollout_resumes_by_rejudging_or_by_approval(tmp_path):
    result, router, *_ = run(tmp_path, ["pass", "marginal"])
    assert result.outcome is Outcome.PAUSED
    again, _, _, analyzer = run(tmp_path, ["marginal"], resume=True)
    assert again.outcome is Outcome.PAUSED and [s.stage for s in again.stages] == ["step-2"]
    approved, router, _, analyzer = run(tmp_path, [], resume=True, approve=True)
    assert approved.outcome is Outcome.PROMOTED and analyzer.windows == []


def test_abort_rolls_back_an_unfinished_rollout(tmp_path):
    run(tmp_path, ["pass", "marginal"])
    result, router, *_ = run(tmp_path, [], abort=True)
    assert result.outcome is Outcome.ROLLED_BACK and result.reason == "aborted by the operator"
    assert router.get_weights() == Weights(100, 0)
    with pytest.raises(UsageError, match="no unfinished rollout to abort"):
        run(tmp_path, [], abort=True)


def test_resume_of_a_finished_rollout_reports_it_without_moving_anything(tmp_path):
    run(tmp_path, ["pass", "fail"])
    result, router, *_ = run(tmp_path, [], resume=True)
    assert result.outcome is Outcome.ROLLED_BACK and router.history == []


def test_resume_without_a_recorded_rollout_is_refused_instead_of_starting_over(tmp_path):
    with pytest.raises(UsageError, match="state.jsonl: no rollout recorded to resume"):
        run(tmp_path, ["pass", "pass"], resume=True, approve=True)
    assert [r["event"] for r in read_records(tmp_path / "state.jsonl")] == []


def test_an_unfinished_rollout_is_not_started_over(tmp_path):
    run(tmp_path, ["nodata"])
    with pytest.raises(UsageError, match="an unfinished rollout of svc is recorded .*use --resume"):
        run(tmp_path, ["pass"])


def test_resume_with_a_changed_plan_is_refused(tmp_path):
    run(tmp_path, ["nodata"])
    with pytest.raises(ConfigError, match="the plan differs from the one recorded"):
        run(tmp_path, [], {"steps": [25, 100]}, resume=True)


def test_approve_needs_a_paused_rollout(tmp_path):
    run(tmp_path, ["nodata"])
    with pytest.raises(UsageError, match="--approve accepts a paused step; this rollout is halted"):
        run(tmp_path, [], resume=True, approve=True)


def test_two_rollouts_of_one_service_refuse_to_run_at_once(tmp_path):
    with service_lock("svc"):
        with pytest.raises(RolloutLocked, match="a rollout of service 'svc' is already running") as e:
            run(tmp_path, ["pass", "pass"], state="other.jsonl")
    assert e.value.exit_code == 2


def test_a_router_failure_mid_rollout_halts_at_the_last_safe_weights(tmp_path):
    class Refuses50(DryRunRouter):
        def set_weights(self, baseline, canary):
            if canary == 50:
                raise RouterError("webhook POST http://127.0.0.1:1/ failed: connection refused")
            super().set_weights(baseline, canary)

    cfg = rollout_config(STEPS)
    object.__setattr__(cfg.rollout, "router", Refuses50())
    result = Rollout(cfg, Scripted(["pass"]), tmp_path / "s.jsonl", clock=InstantClock()).run()
    assert result.outcome is Outcome.HALTED and "router error at step-2" in result.reason
    assert cfg.rollout.router.get_weights() == Weights(90, 10)


# -- hooks ------------------------------------------------------------------------------------------------------

def hook(code: str, **extra):
    return {"run": [sys.executable, "-c", code, *extra.pop("args", [])], **extra}


def test_a_failing_pre_step_hook_rolls_back(tmp_path):
    failing = hook("import sys; print('smoke test: 502 from /health'); sys.exit(2)")
    result, router, rec, analyzer = run(tmp_path, ["pass"], {"hooks": {"pre_step": [hook("pass"), failing]}})
    assert result.outcome is Outcome.ROLLED_BACK and analyzer.windows == []
    assert result.reason.startswith("hook pre_step failed: ") and result.reason.endswith("exited 2")
    assert rec.events("hook")[-1]["output"] == "smoke test: 502 from /health"
    assert router.get_weights() == Weights(100, 0)


def test_a_hung_hook_is_killed_at_its_timeout(tmp_path):
    result, *_ = run(tmp_path, [], {"hooks": {"pre_rollout": hook("import time; time.sleep(30)",
                                                                   timeout="0.3s")}})
    assert result.outcome is Outcome.ROLLED_BACK and "timed out after 0.3s (killed)" in result.reason


def test_hooks_get_the_rollout_context(tmp_path):
    out = tmp_path / "hooks.txt"
    code = ("import os, sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + ' ' + "
            "os.environ['CANARY_HOOK'] + ' ' + os.environ['CANARY_CANARY_WEIGHT'] + ' ' + "
            "os.environ['CANARY_OUTCOME'] + '\\n')")
    hooks = {"post_step": hook(code, args=[str(out), "{service}", "{step}", "{canary}"]),
             "post_rollout": hook(code, args=[str(out), "{service}", "{step}", "{canary}"])}
    result, *_ = run(tmp_path, ["pass", "pass"], {"hooks": hooks})
    assert result.outcome is Outcome.PROMOTED
    assert out.read_text().splitlines() == ["svc step-1 10 post_step 10 ", "svc step-2 50 post_step 50 ",
                                            "svc promote 100 post_rollout 100 promoted"]


def test_pre_step_hooks_get_the_target_weight_and_the_previous_one_by_name(tmp_path):
    out = tmp_path / "hooks.txt"
    code = ("import os, sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + ' env ' + "
            "os.environ['CANARY_CANARY_WEIGHT'] + ' ' + os.environ['CANARY_PREVIOUS_CANARY_WEIGHT'] + '\\n')")
    args = [str(out), "{step}", "{canary}", "{previous_canary}", "{baseline}", "{previous_baseline}"]
    hooks = {"pre_step": hook(code, args=args), "pre_promote": hook(code, args=args),
             "post_step": hook(code, args=args)}
    result, *_ = run(tmp_path, ["pass", "pass"], {"hooks": hooks})
    assert result.outcome is Outcome.PROMOTED
    # the dry-run router starts unknown (no previous split): {previous_*} is empty then
    assert out.read_text().splitlines() == [
        "step-1 10  90  env 10 ",          # pre_step: about to set 10 %, nothing set before
        "step-1 10  90  env 10 ",          # post_step: set 10 %, from nothing
        "step-2 50 10 50 90 env 50 10",    # pre_step: about to go from 10 % to 50 %
        "step-2 50 10 50 90 env 50 10",    # post_step: went from 10 % to 50 %
        "promote 100 50 0 50 env 100 50",  # pre_promote: about to go from 50 % to 100 %
    ]


def test_a_list_is_one_command_and_a_shell_runs_only_when_asked(tmp_path):
    out = tmp_path / "out.txt"
    hooks = {"pre_rollout": ["sh", "-c", f"echo one >> {out}; echo two >> {out}"],
             "post_step": {"run": f"echo canary={{canary}} previous={{previous_canary}} | tr a-z A-Z >> {out}",
                           "shell": True},
             "post_rollout": f"{sys.executable} -c \"import sys; open(sys.argv[1], 'a').write('no shell')\" {out}"}
    result, _, rec, _ = run(tmp_path, ["pass"], {"steps": [30, 100], "hooks": hooks})
    assert result.outcome is Outcome.PROMOTED
    assert out.read_text().splitlines() == ["one", "two", "CANARY=30 PREVIOUS=", "no shell"]
    assert [h["ok"] for h in rec.events("hook")] == [True, True, True]
    assert rec.events("hook")[1]["command"] == f"echo canary=30 previous='' | tr a-z A-Z >> {out}"


def test_shell_placeholders_are_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.txt"
    cfg_hooks = {"pre_rollout": {"run": f"printf '%s\\n' {{service}} > {out}", "shell": True}}
    result, *_ = run(tmp_path, [], {"service": "a;touch pwned", "hooks": cfg_hooks, "steps": [100]})
    assert result.outcome is Outcome.PROMOTED
    assert out.read_text() == "a;touch pwned\n" and not (tmp_path / "pwned").exists()


def test_a_failing_hook_after_the_decision_is_reported_not_acted_on(tmp_path):
    result, router, *_ = run(tmp_path, ["pass", "pass"], {"hooks": {"post_promote": "false"}})
    assert result.outcome is Outcome.PROMOTED and router.get_weights() == Weights(0, 100)
    assert result.warnings == ("hook post_promote failed: false: exited 1",)


# -- progress ---------------------------------------------------------------------------------------------------

def test_live_progress_shows_stage_weights_time_left_and_last_verdict(tmp_path):
    cfg = rollout_config(STEPS)
    out = io.StringIO()
    Rollout(cfg, Scripted(["pass", "pass"]), tmp_path / "s.jsonl", clock=InstantClock(),
            observer=LiveProgress(out)).run()
    text = out.getvalue()
    assert f"[2/3] step-2  weights 50/50  analyzing [{'-' * 20}] 20s left  last verdict: pass" in text
    # the step timer fills as the interval goes (ticks every 0.5 s of a 20 s interval)
    assert f"[2/3] step-2  weights 50/50  analyzing [{'#' * 10}{'-' * 10}] 10s left  last verdict: pass" in text
    assert "step-1: verdict PASS (score 100): scripted pass" in text
    assert text.rstrip().endswith("PROMOTED: every stage passed; the canary has all the traffic")


def test_quiet_live_progress_prints_the_events_without_the_status_line(tmp_path):
    cfg = rollout_config(STEPS)
    out = io.StringIO()
    Rollout(cfg, Scripted(["pass", "pass"]), tmp_path / "s.jsonl", clock=InstantClock(),
            observer=LiveProgress(out, quiet=True)).run()
    text = out.getvalue()
    assert "step-1: verdict PASS (score 100): scripted pass" in text
    assert "left" not in text and "\r" not in text


def test_quiet_progress_is_json_lines(tmp_path):
    cfg = rollout_config(STEPS)
    out = io.StringIO()
    Rollout(cfg, Scripted(["fail"]), tmp_path / "s.jsonl", clock=InstantClock(), observer=JsonLines(out)).run()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in lines] == ["start", "stage_start", "weights_applied", "verdict", "decision",
                                           "weights_applied", "end"]
    assert lines[-1]["outcome"] == "rolled_back" and lines[-1]["exit_code"] == 1
