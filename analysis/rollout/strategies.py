"""Progressive delivery driven by the verdict: canary steps and blue-green, through a router, with a journal.

**Canary.** For each step of ``rollout.steps`` below 100: set the canary's weight, wait ``warmup``, analyse the
next ``interval`` (baseline and canary over the same window). Pass: next step. Fail: roll back (canary weight 0).
Marginal: ``on_marginal`` (pause, fail or continue). Inconclusive (not enough data to tell): the step's window is
extended by one more interval and analysed again, up to ``max_extensions`` times; still inconclusive, the step is
not passed. No verdict (nodata, error, collector down) or not passed: put the router back at the last safe weights
(those of the last passed step) and halt. After the last step, promote (canary 100).

**Blue-green** (baseline = blue, canary = green). ``verify``: green gets ``preview_weight`` (0 by default: its
traffic then comes from a preview route or a ``pre_step`` load test) and is analysed against blue over one
interval. ``switch``: all traffic to green at once, then the post-promotion analysis judges green after the switch
against blue over the interval before it; fail rolls back to blue, which is kept until ``scale_down_delay`` after
the switch (``scale_down``, where the ``scale_down`` hook may delete it).

Every weight change and every decision is journaled (fsynced) before it is acted on; ``resume`` first reconciles
the router with the journal, then continues after the last completed stage (the interrupted stage starts again
with a fresh window). A verdict journaled before the interruption is final: ``resume`` acts on it (a fail rolls
back) instead of judging the stage again. This is the model of Argo Rollouts' canary steps and blue-green analysis.

**Signals.** SIGINT (Ctrl-C) and SIGTERM during a rollout (``Interrupted``, a ``KeyboardInterrupt``) are
journaled (``signal``) and acted on with ``rollout.on_interrupt``: ``rollback`` (default: canary weight 0, outcome
``rolled_back``) or ``hold`` (the last safe weights, outcome ``halted``, ``--resume`` continues). Further signals
are ignored until that action is journaled. Progress output runs in a thread of its own (``progress.Background``),
so a blocked output never delays a router action.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Protocol

from analysis.config import CanaryConfig
from analysis.errors import CanaryError, ConfigError, UsageError
from analysis.series import Window
from analysis.rollout.settings import OnMarginal, RolloutConfig, Strategy, service_name
from analysis.rollout.hooks import run_hook
from analysis.rollout.journal import Journal, RolloutState, service_lock
from analysis.rollout.progress import Background
from analysis.rollout.result import EXIT_CODES, Outcome, RolloutResult, StageResult
from analysis.rollout.routers.base import RouterError, Weights

Analyzer = Callable[[Window, Window], Any]  # (baseline window, canary window) -> AnalysisResult
BASELINE_ONLY = Weights(100, 0)


class StageKind(StrEnum):
    STEP = "step"
    VERIFY = "verify"
    PROMOTE = "promote"
    SWITCH = "switch"
    SCALE_DOWN = "scale_down"


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    kind: StageKind
    weights: Weights
    analyze: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, **self.weights.to_dict(), "analyze": self.analyze}


def plan(rollout: RolloutConfig) -> tuple[Stage, ...]:
    """The stages a rollout goes through, in order (the journal records them; a resume must find the same)."""
    if rollout.strategy is Strategy.CANARY:
        stages = [Stage(f"step-{i + 1}", StageKind.STEP, Weights.canary_at(w), True)
                  for i, w in enumerate(rollout.steps) if w < 100]
        return tuple(stages + [Stage("promote", StageKind.PROMOTE, Weights.canary_at(100), False)])
    stages = []
    if rollout.pre_promotion:
        stages.append(Stage("verify", StageKind.VERIFY, Weights.canary_at(rollout.preview_weight), True))
    stages.append(Stage("switch", StageKind.SWITCH, Weights.canary_at(100), rollout.post_promotion))
    stages.append(Stage("scale_down", StageKind.SCALE_DOWN, Weights.canary_at(100), False))
    return tuple(stages)


class Clock:
    """Wall-clock time (analysis windows are epoch seconds) and sleeping; replaceable in tests."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Observer(Protocol):
    """Receives every journal record as it is written, and ticks while the rollout waits."""

    def record(self, rec: dict[str, Any]) -> None: ...

    def tick(self, info: dict[str, Any]) -> None: ...


class Interrupted(KeyboardInterrupt):
    """A signal asked the rollout to stop (``signal_name``: SIGINT, SIGTERM); see the module docstring."""

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(signal_name)
        self.signal_name = signal_name


class _Stop(Exception):
    def __init__(self, result: RolloutResult):
        self.result = result


class Rollout:
    """One rollout of ``config``'s service, journaled in ``state_file``. ``run`` returns a ``RolloutResult``."""

    def __init__(self, config: CanaryConfig, analyzer: Analyzer, state_file: str | Path, *,
                 clock: Clock | None = None, observer: Observer | None = None):
        if config.rollout is None:
            raise ConfigError(f"{config.source}: rollout: is required for canary rollout")
        self.cfg = config
        self.ro: RolloutConfig = config.rollout
        self.router = self.ro.router
        self.analyzer = analyzer
        self.service = service_name(self.ro, config.name)
        self.plan = plan(self.ro)
        self.state_file = Path(state_file)
        self.clock = clock or Clock()
        # shown from a thread of its own: a stalled output must never delay a router action
        self._own_display = observer is not None and not isinstance(observer, Background)
        self.display: Background | None = None if observer is None else \
            observer if isinstance(observer, Background) else Background(observer)
        self.observer: Observer | None = self.display
        self.journal = Journal(self.state_file)
        self.completed: list[str] = []
        self.weights: Weights | None = None
        self.previous: Weights | None = None  # the split before the last change, for the hooks' {previous_*}
        self.stages: list[StageResult] = []
        self.warnings: list[str] = []
        self.last_verdict: str | None = None
        self.switched_at: float | None = None
        self.current: Stage | None = None

    # -- journal and display ------------------------------------------------------------------------------------
    def _record(self, event: str, **fields: Any) -> dict[str, Any]:
        rec = self.journal.append(event, **fields)
        self._show(lambda o: o.record(rec))
        return rec

    def _show(self, call: Callable[[Observer], None]) -> None:
        # display only: queued for the display thread; a closed or stalled output never stops a rollout
        if self.observer is not None:
            call(self.observer)

    def _wait_until(self, t: float, phase: str) -> None:
        span = t - self.clock.now()  # the whole wait, for a progress bar of the time gone
        while (left := t - self.clock.now()) > 0:
            if self.observer is not None:
                info = {"stage": self.current.name if self.current else None, "phase": phase, "left": left,
                        "span": span,
                        "weights": self.weights, "last_verdict": self.last_verdict,
                        "index": self.plan.index(self.current) + 1 if self.current else 0, "total": len(self.plan)}
                self._show(lambda o: o.tick(info))
            self.clock.sleep(min(left, 0.5))

    # -- actions --------------------------------------------------------------------------------------------------
    def _bind(self, step: str) -> None:
        bind = getattr(self.router, "bind", None)
        if bind is not None:
            bind({"service": self.service, "step": step})

    def _read(self) -> Weights | None:
        return self.router.get_weights()

    def _set(self, stage: str, w: Weights, reason: str = "") -> None:
        self._bind(stage)
        self._record("weights", stage=stage, weights=w.to_dict(), reason=reason)
        self.router.set_weights(w.baseline, w.canary)
        read = self._read()
        self._record("weights_applied", stage=stage, weights=w.to_dict(),
                     read_back=read.to_dict() if read is not None else None)
        if read is not None and read != w:
            raise RouterError(f"the router was set to {w} but reads back {read}")
        self.previous, self.weights = self.weights, w
        if stage == "switch":
            self.switched_at = self.clock.now()

    def _hooks(self, point: str, abort: bool, outcome: str | None = None, target: Weights | None = None) -> None:
        """Run the hooks of ``point``. Before a weight change, ``target`` is the split about to be set and the
        current one is the previous; after it, the split set and the one before it."""
        now, before = (target, self.weights) if target is not None else (self.weights, self.previous)
        ctx = {"service": self.service, "step": self.current.name if self.current else "",
               "baseline": now.baseline if now else None, "canary": now.canary if now else None,
               "previous_baseline": before.baseline if before else None,
               "previous_canary": before.canary if before else None, "outcome": outcome}
        for hook in self.ro.hooks_at(point):
            self._record("hook_start", point=point, command=hook.command)
            res = run_hook(hook, ctx)
            self._record("hook", **res.to_dict())
            if not res.ok:
                message = f"hook {point} failed: {res.command}: {res.reason}"
                if abort:
                    self._rollback(message)
                self.warnings.append(message)

    def _safe_weights(self) -> Weights:
        done = [s for s in self.plan if s.name in self.completed]
        return done[-1].weights if done else BASELINE_ONLY

    def _result(self, outcome: Outcome, reason: str) -> RolloutResult:
        return RolloutResult(outcome, reason, self.service, self.ro.strategy.value, self.weights,
                             tuple(self.stages), str(self.state_file), self.journal.run or "",
                             tuple(self.warnings))

    def _end(self, outcome: Outcome, reason: str) -> None:
        self._record("end", outcome=outcome.value, exit_code=EXIT_CODES[outcome], reason=reason,
                     weights=self.weights.to_dict() if self.weights else None)
        if outcome is Outcome.PROMOTED:
            self._hooks("post_promote", abort=False)
        elif outcome is Outcome.ROLLED_BACK:
            self._hooks("post_rollback", abort=False)
        if outcome in (Outcome.PROMOTED, Outcome.ROLLED_BACK):
            self._hooks("post_rollout", abort=False, outcome=outcome.value)
        raise _Stop(self._result(outcome, reason))

    def _rollback(self, reason: str) -> None:
        self._record("decision", action="rollback", reason=reason)
        self._hooks("pre_rollback", abort=False, target=BASELINE_ONLY)
        try:
            self._set("rollback", BASELINE_ONLY, reason)
        except RouterError as e:
            # no end record: the decision stays pending, and --resume retries the rollback
            self.weights = None
            raise _Stop(self._result(Outcome.HALTED, f"{reason}; the rollback could not be applied: {e}; "
                                                     f"run canary rollout --resume to retry it")) from None
        self._end(Outcome.ROLLED_BACK, reason)

    def _halt(self, reason: str) -> None:
        safe = self._safe_weights()
        self._record("decision", action="halt", reason=reason, weights=safe.to_dict())
        try:
            self._set("halt", safe, reason)
        except RouterError as e:
            self.weights = None
            reason += f"; restoring the last safe weights {safe} failed too: {e}"
        self._end(Outcome.HALTED, reason)

    # -- analysis -------------------------------------------------------------------------------------------------
    def _analyze(self, stage: Stage, baseline: Window, canary: Window) -> StageResult:
        self._record("window", stage=stage.name, baseline=baseline.to_dict(), canary=canary.to_dict(),
                     start=canary.start, end=canary.end)
        self._wait_until(canary.start, "warm-up")
        self._wait_until(canary.end + self.ro.analysis_delay, "analyzing")
        analysis, score = None, None
        try:
            analysis = self.analyzer(baseline, canary)
            verdict, reason, score = analysis.verdict.value, analysis.reason, analysis.score
            if verdict in ("nodata", "error"):  # say which metric and why, e.g. the collector's error
                detail = next((m.reason for m in analysis.metrics
                               if m.classification.value == verdict and m.reason), "")
                if detail and detail not in reason:
                    reason += f" ({detail})"
        except CanaryError as e:
            verdict, reason = "error", f"analysis failed: {e}"
        except Exception as e:  # a bug in a collector or judge fails closed: no verdict, never a pass
            verdict, reason = "error", f"analysis failed: {type(e).__name__}: {e}"
        self.last_verdict = verdict
        self._record("verdict", stage=stage.name, verdict=verdict, score=score, reason=reason)
        sr = StageResult(stage.name, stage.weights, verdict, reason, score, baseline, canary, analysis)
        self.stages.append(sr)
        return sr

    def _analyze_extending(self, stage: Stage, start: float, baseline: Window | None) -> StageResult:
        """Analyse ``[start, start + interval]``; while inconclusive, extend the window by one interval (the data
        accumulate) up to ``max_extensions`` times. ``baseline``: a fixed baseline window (post-promotion), else
        the baseline is judged over the same window as the canary."""
        extension = 0
        while True:
            window = Window(start, start + (extension + 1) * self.ro.interval)
            sr = self._analyze(stage, baseline or window, window)
            if sr.verdict != "inconclusive" or extension >= self.ro.max_extensions:
                return sr
            extension += 1
            self._record("decision", action="extend", stage=stage.name, extension=extension,
                         reason=f"{stage.name}: inconclusive, analysing {extension} more interval(s): {sr.reason}")

    def _decide(self, stage: Stage, sr: StageResult) -> None:
        v, why = sr.verdict, f"{stage.name}: verdict {sr.verdict}: {sr.reason}"
        marginal = self.ro.on_marginal
        if v == "pass" or (v == "marginal" and marginal is OnMarginal.CONTINUE):
            self._record("decision", action="next", stage=stage.name, reason=why)
        elif v == "fail" or (v == "marginal" and marginal is OnMarginal.FAIL):
            self._rollback(why)
        elif v == "marginal":
            self._record("decision", action="pause", stage=stage.name, reason=why)
            self._end(Outcome.PAUSED, why + "; canary rollout --resume re-judges this step, "
                                            "--resume --approve accepts it, --abort rolls back")
        elif v == "inconclusive":
            self._halt(f"{stage.name}: not passed: still inconclusive after {self.ro.max_extensions} extension(s) "
                       f"of the analysis window: {sr.reason}")
        else:
            self._halt(f"{stage.name}: no verdict ({v}): {sr.reason}")

    # -- stages ---------------------------------------------------------------------------------------------------
    def _run_stage(self, stage: Stage) -> None:
        self.current = stage
        self._record("stage_start", stage=stage.name, kind=stage.kind.value, weights=stage.weights.to_dict())
        if stage.kind in (StageKind.STEP, StageKind.VERIFY):
            self._hooks("pre_step", abort=True, target=stage.weights)
            self._set(stage.name, stage.weights)
            start = self.clock.now() + self.ro.warmup
            self._decide(stage, self._analyze_extending(stage, start, None))
            self._hooks("post_step", abort=True)
        elif stage.kind in (StageKind.PROMOTE, StageKind.SWITCH):
            self._hooks("pre_promote", abort=True, target=stage.weights)
            self._record("decision", action="promote", stage=stage.name,
                         reason="every analysed stage passed" if self.stages or self.completed else "no analysis")
            self._set(stage.name, stage.weights)
            if stage.analyze:
                t = self.clock.now()
                self._decide(stage, self._analyze_extending(stage, t + self.ro.warmup,
                                                            Window(t - self.ro.interval, t)))
        elif stage.kind is StageKind.SCALE_DOWN:
            if self.switched_at is not None:
                self._wait_until(self.switched_at + self.ro.scale_down_delay, "keeping blue")
            self._hooks("scale_down", abort=False)
        self._record("stage_done", stage=stage.name, weights=self.weights.to_dict() if self.weights else None)
        self.completed.append(stage.name)

    def _reconcile(self, state: RolloutState) -> None:
        """Compare what the router says with what the journal says, then set the last safe weights."""
        try:
            actual = self._read()
            problem = None
        except RouterError as e:
            actual, problem = None, str(e)
        safe = self._safe_weights()
        expected = state.weights
        self._record("reconcile", journal=expected, intended=state.intended,
                     actual=actual.to_dict() if actual else None,
                     matches=None if actual is None or expected is None else actual.to_dict() == dict(expected),
                     set_to=safe.to_dict(), problem=problem)
        self.weights = actual
        self._set("reconcile", safe, "resume from the last completed stage")

    # -- entry points ---------------------------------------------------------------------------------------------
    def _start(self, state: RolloutState | None) -> int:
        if state is not None and not state.final:
            raise UsageError(f"{self.state_file}: an unfinished rollout of {state.service} is recorded "
                             f"({state.outcome or 'interrupted'} at {state.stage or 'start'}); "
                             f"use --resume to continue it or --abort to roll it back")
        self.journal.new_run()
        self._bind("start")
        try:
            initial = self._read()
        except RouterError as e:
            initial = None
            self.warnings.append(f"could not read the initial weights: {e}")
        self._record("start", service=self.service, strategy=self.ro.strategy.value,
                     plan=[s.to_dict() for s in self.plan], config=self.cfg.source, pid=os.getpid(),
                     initial_weights=initial.to_dict() if initial else None)
        self.weights = initial
        self._hooks("pre_rollout", abort=True)
        return 0

    def _resume(self, state: RolloutState, approve: bool) -> int:
        if [dict(s) for s in state.plan] != [s.to_dict() for s in self.plan]:
            raise ConfigError(f"{self.cfg.source}: rollout: the plan differs from the one recorded in "
                              f"{self.state_file} ({', '.join(s['name'] for s in state.plan)}); "
                              f"restore the config or use --abort")
        self.journal.run = state.run
        self.completed = list(state.completed)
        self.switched_at = state.switched_at
        self.weights = Weights.from_dict(state.weights)
        self._record("resume", pid=os.getpid(), completed=self.completed, outcome=state.outcome,
                     pending=state.pending)
        if state.pending and state.pending.get("action") == "rollback":
            self._rollback(f"{state.pending.get('reason', 'rollback')} (completed on resume)")
        self._journaled_verdict(state, approve)
        if approve:
            if state.outcome != "paused" or state.stage is None:
                raise UsageError(f"--approve accepts a paused step; this rollout is "
                                 f"{state.outcome or 'interrupted'}")
            self._record("decision", action="approve", stage=state.stage, reason="approved by the operator")
            self._record("stage_done", stage=state.stage, weights=state.weights)
            self.completed.append(state.stage)
        self._reconcile(state)
        return self._safe_index()

    def _journaled_verdict(self, state: RolloutState, approve: bool) -> None:
        """Act on a verdict journaled before the interruption, before anything else: it is final."""
        sv = state.stage_verdict
        stage = next((s for s in self.plan if s.name == state.stage), None)
        if sv is None or approve or stage is None or not stage.analyze or stage.name in self.completed:
            return
        self.current = stage
        w = state.window or {}
        start, end = w.get("start"), w.get("end")
        window = Window(float(start), float(end)) if isinstance(start, (int, float)) and \
            isinstance(end, (int, float)) and end >= start else Window(state.last_time, state.last_time)
        verdict = str(sv.get("verdict"))
        reason = f"{sv.get('reason') or ''} (journaled before the interruption; final)"
        self._record("journaled_verdict", stage=stage.name, verdict=verdict)
        sr = StageResult(stage.name, stage.weights, verdict, reason,
                         sv.get("score") if isinstance(sv.get("score"), (int, float)) else None, window, window)
        self.stages.append(sr)
        self.last_verdict = verdict
        self.weights = stage.weights
        self._decide(stage, sr)  # fail: rollback; marginal: pause or per on_marginal; no verdict: halt
        self._hooks("post_step", abort=True)
        self._record("stage_done", stage=stage.name, weights=stage.weights.to_dict())
        self.completed.append(stage.name)

    def _interrupted(self, e: KeyboardInterrupt) -> None:
        """The safe action for a signal (``rollout.on_interrupt``), journaled; further signals are ignored."""
        name = e.signal_name if isinstance(e, Interrupted) else "SIGINT"
        masked = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                masked[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            hold = self.ro.on_interrupt == "hold"
            self._record("signal", signal=name, action="hold" if hold else "rollback",
                         stage=self.current.name if self.current else None)
            reason = f"interrupted by {name} at {self.current.name if self.current else 'start'}"
            if hold:
                self._halt(reason + " (rollout.on_interrupt: hold)")
            self._rollback(reason + "; rolled back to 0% canary (rollout.on_interrupt: rollback)")
        finally:
            for sig, previous in masked.items():
                signal.signal(sig, previous)

    def _safe_index(self) -> int:
        done = [i for i, s in enumerate(self.plan) if s.name in self.completed]
        return max(done) + 1 if done else 0

    def run(self, resume: bool = False, approve: bool = False, abort: bool = False) -> RolloutResult:
        """Start (or ``resume``, or ``abort``) the rollout; returns when it is promoted, rolled back, paused or
        halted. Raises ``RolloutLocked`` (exit 2) when another rollout of the service or state file runs."""
        if approve and not resume:
            raise UsageError("--approve goes with --resume")
        with service_lock(self.service), self.journal:
            state = RolloutState.replay(self.journal.records())
            try:
                try:
                    if abort:
                        if state is None or state.final:
                            raise UsageError(f"{self.state_file}: no unfinished rollout to abort")
                        self.journal.run = state.run
                        self.completed = list(state.completed)
                        self._record("resume", pid=os.getpid(), abort=True)
                        self._rollback("aborted by the operator")
                    if resume and state is None:  # e.g. a mistyped --state: never start over from step 1
                        raise UsageError(f"{self.state_file}: no rollout recorded to resume; "
                                         f"start one without --resume")
                    if resume and state is not None and state.final:
                        return RolloutResult(Outcome(state.outcome or "halted"), f"already finished: {state.reason}",
                                             self.service, state.strategy, Weights.from_dict(state.weights),
                                             (), str(self.state_file), state.run)
                    index = self._resume(state, approve) if resume and state is not None else self._start(state)
                    for stage in self.plan[index:]:
                        self._run_stage(stage)
                    self._end(Outcome.PROMOTED, "every stage passed; the canary has all the traffic")
                except RouterError as e:
                    self._halt(f"router error at {self.current.name if self.current else 'start'}: {e}")
                except KeyboardInterrupt as e:
                    if self.journal.run is None:  # nothing started, nothing to undo
                        raise
                    self._interrupted(e)
            except _Stop as stop:
                return self._finish(stop.result)
        raise AssertionError("unreachable")  # pragma: no cover

    def _finish(self, result: RolloutResult) -> RolloutResult:
        """The result, once the display caught up (bounded: a stalled output cannot hold the return)."""
        if self.display is None:
            return result
        if self._own_display:
            self.display.stop(2.0)  # the caller's observer stays open; a stuck one leaves a daemon thread
        else:
            self.display.drain(2.0)
        extra = [w for w in (self.display.error,) if w]
        if self.display.dropped:
            extra.append(f"{self.display.dropped} progress line(s) were not shown (the journal has them all)")
        return dataclasses.replace(result, warnings=result.warnings + tuple(extra)) if extra else result
