"""Progressive delivery: the verdict drives canary steps or a blue-green switch through a router hook.

    >>> from analysis import load_config
    >>> from analysis.rollout import Rollout, source_analyzer
    >>> cfg = load_config("canary.yaml")                 # with a rollout: section
    >>> result = Rollout(cfg, source_analyzer(cfg), "state.jsonl").run()
    >>> result.outcome, result.exit_code                 # promoted 0, rolled_back 1, paused 3, halted 4

Layout: ``config`` (the ``rollout:`` section), ``strategies`` (the stages and their decisions), ``routers/``
(the two-method router hook and its built-ins), ``journal`` (the fsynced state file and the locks), ``hooks``
(stage commands), ``analyzer`` (the per-stage analysis), ``progress`` and ``status`` (display).
"""

from __future__ import annotations

from analysis.rollout.analyzer import make_analyzer, source_analyzer
from analysis.rollout.hooks import Hook
from analysis.rollout.settings import OnMarginal, RolloutConfig, Strategy, parse_rollout
from analysis.rollout.journal import Journal, RolloutLocked, RolloutState
from analysis.rollout.result import Outcome, RolloutResult, StageResult
from analysis.rollout.routers import available as available_routers
from analysis.rollout.routers.base import Router, RouterError, Weights
from analysis.rollout.strategies import Clock, Rollout, Stage, StageKind, plan

__all__ = [
    "Clock", "Hook", "Journal", "OnMarginal", "Outcome", "Rollout", "RolloutConfig", "RolloutLocked",
    "RolloutResult", "RolloutState", "Router", "RouterError", "Stage", "StageKind", "StageResult", "Strategy",
    "Weights", "available_routers", "make_analyzer", "parse_rollout", "plan", "source_analyzer",
]
