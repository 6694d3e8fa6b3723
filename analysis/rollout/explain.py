"""``canary validate --explain``: the plan a rollout would follow, in words, from the same ``plan()`` the rollout
runs: each stage's hooks, weights, waits and analysis, and what a pass, marginal, fail, no verdict, a failing hook,
a router error or a signal does at that point. Nothing is contacted."""

from __future__ import annotations

from analysis.config import CanaryConfig
from analysis.config.describe import public, seconds
from analysis.rollout.routers.base import Weights
from analysis.rollout.settings import OnMarginal, RolloutConfig
from analysis.rollout.strategies import BASELINE_ONLY, Stage, StageKind, plan

_MARGINAL = {
    OnMarginal.PAUSE: "pause there (exit 3): --resume judges the step again, --resume --approve accepts it, "
                      "--abort rolls back",
    OnMarginal.FAIL: "roll back, as for a fail",
    OnMarginal.CONTINUE: "go on, as for a pass",
}


def _hooks(ro: RolloutConfig, point: str) -> str:
    hooks = ro.hooks_at(point)
    return f"run {point} hook(s) " + "; ".join(public(h.command) for h in hooks) if hooks else ""


def _steps(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _analysis(cfg: CanaryConfig, ro: RolloutConfig, stage: Stage) -> str:
    judges = sorted({m.judge for m in cfg.metrics})
    against = ("blue over the interval before the switch" if stage.kind is StageKind.SWITCH
               else "the baseline over the same window")
    delay = f", then wait the analysis delay {seconds(ro.analysis_delay)}" if ro.analysis_delay else ""
    return (f"wait the warm-up {seconds(ro.warmup)}, collect {seconds(ro.interval)} of data{delay}, and judge "
            f"{len(cfg.metrics)} metric(s) ({', '.join(judges)}) of the canary against {against}")


def _outcomes(ro: RolloutConfig, stage: Stage, next_name: str, safe: Weights) -> list[str]:
    halt = f"halt at the last safe weights {safe} (exit 4); --resume starts this stage again"
    lines = [f"       pass -> {next_name}",
             f"       marginal -> {_MARGINAL[ro.on_marginal]}",
             f"       fail -> roll back: {_steps(_hooks(ro, 'pre_rollback'), f'set {BASELINE_ONLY}')}, "
             f"then post_rollback and post_rollout hooks (exit 1)"]
    extensions = getattr(ro, "max_extensions", None)
    if isinstance(extensions, int) and extensions > 0:
        lines.append(f"       inconclusive (not enough data to tell) -> analyse again over a window one interval "
                     f"longer, up to {extensions} time(s); still inconclusive -> {halt}")
        return lines + [f"       no verdict (nodata, error, collector down) -> {halt}"]
    return lines + [f"       no verdict (nodata, error, inconclusive, collector down) -> {halt}"]


def explain(cfg: CanaryConfig) -> str:
    """The rollout plan of ``cfg`` in words (see the module docstring). ``cfg`` must have a ``rollout:``."""
    ro = cfg.rollout
    if ro is None:
        return f"{cfg.source}: no rollout: section; canary rollout would refuse this config"
    stages = plan(ro)
    lines = [f"rollout plan for service {ro.service or cfg.name} ({ro.strategy.value}, {len(stages)} stages), "
             f"weights baseline/canary in percent, router {public(repr(ro.router))}:"]
    start = _hooks(ro, "pre_rollout")
    lines.append(f"  0. start: read the router's weights, journal the plan{', ' + start if start else ''}")
    safe, total = BASELINE_ONLY, 0.0
    for i, stage in enumerate(stages, 1):
        later = stages[i] if i < len(stages) else None
        next_name = later.name if later else "done: PROMOTED (exit 0)"
        if stage.kind in (StageKind.STEP, StageKind.VERIFY):
            lines.append(f"  {i}. {stage.name}: " + _steps(_hooks(ro, "pre_step"), f"set {stage.weights}",
                                                          _analysis(cfg, ro, stage), _hooks(ro, "post_step")))
            lines += _outcomes(ro, stage, next_name, safe)
            total += ro.warmup + ro.interval + ro.analysis_delay
            safe = stage.weights
        elif stage.kind in (StageKind.PROMOTE, StageKind.SWITCH):
            what = _steps(_hooks(ro, "pre_promote"), f"set {stage.weights}")
            if stage.analyze:
                lines.append(f"  {i}. {stage.name}: {what}, {_analysis(cfg, ro, stage)}")
                lines += _outcomes(ro, stage, next_name, safe)
                total += ro.warmup + ro.interval + ro.analysis_delay
            else:
                lines.append(f"  {i}. {stage.name}: {what}; " + _steps(_hooks(ro, "post_promote"),
                                                                      _hooks(ro, "post_rollout")))
        else:
            lines.append(f"  {i}. {stage.name}: keep blue {seconds(ro.scale_down_delay)} after the switch, then "
                         + (_hooks(ro, "scale_down") or "finish (no scale_down hook)"))
            total += ro.scale_down_delay
    lines += [
        "  any stage: a failing pre_rollout, pre_step, post_step or pre_promote hook rolls back; a failing "
        "post_promote, pre_rollback, post_rollback, scale_down or post_rollout hook is reported, never acted on",
        "  any stage: a router error (refused, unreachable, or reading back other weights) halts at the last safe "
        "weights (exit 4)",
        "  signal (Ctrl-C, SIGTERM): stop at once; the journal keeps where it stood and the weights stay as set; "
        "canary rollout --resume reconciles the router and starts the interrupted stage again, --abort rolls back",
        f"  time: at least {seconds(total)} from start to promotion (warm-ups, intervals, delays)",
    ]
    return "\n".join(lines)
