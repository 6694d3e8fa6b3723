"""What a rollout returns: the outcome with its exit code and reason, and what each stage's analysis decided."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analysis.series import Window
from analysis.rollout.routers.base import Weights


class Outcome(StrEnum):
    """How a rollout run ended. ``paused`` and ``halted`` can be resumed; the others are final."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"
    HALTED = "halted"


EXIT_CODES = {Outcome.PROMOTED: 0, Outcome.ROLLED_BACK: 1, Outcome.PAUSED: 3, Outcome.HALTED: 4}


@dataclass(frozen=True, slots=True)
class StageResult:
    """One analysed stage: its verdict and score over the windows it was judged on."""

    stage: str
    weights: Weights
    verdict: str
    reason: str
    score: float | None
    baseline_window: Window
    canary_window: Window
    analysis: Any = field(default=None, repr=False, compare=False)

    def to_dict(self, include_analysis: bool = False) -> dict[str, Any]:
        d = {"stage": self.stage, "weights": self.weights.to_dict(), "verdict": self.verdict,
             "reason": self.reason, "score": self.score, "baseline_window": self.baseline_window.to_dict(),
             "canary_window": self.canary_window.to_dict()}
        if include_analysis and self.analysis is not None:
            d["analysis"] = self.analysis.to_dict()
        return d


@dataclass(frozen=True, slots=True)
class RolloutResult:
    """The end of one ``canary rollout`` invocation (a resumed run reports only the stages it ran itself)."""

    outcome: Outcome
    reason: str
    service: str
    strategy: str
    weights: Weights | None
    stages: tuple[StageResult, ...] = ()
    state_file: str = ""
    run: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self, include_analysis: bool = False) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "exit_code": self.exit_code, "reason": self.reason,
                "service": self.service, "strategy": self.strategy,
                "weights": self.weights.to_dict() if self.weights else None,
                "stages": [s.to_dict(include_analysis) for s in self.stages], "state_file": self.state_file,
                "run": self.run, "warnings": list(self.warnings)}

    def to_json(self, include_analysis: bool = True) -> str:
        return json.dumps(self.to_dict(include_analysis), indent=2, allow_nan=False)
