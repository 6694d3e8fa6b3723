"""Shared by the rollout tests: configs with a ``rollout:`` section, a scripted analyzer and an instant clock."""

from __future__ import annotations

from typing import Any, Iterable

from analysis import parse_config
from analysis.config import Thresholds
from analysis.results import AnalysisResult
from analysis.decision.scoring import Score
from analysis.decision.verdict import Decision, Verdict

METRIC = {"name": "error_rate", "judge": "kayenta", "direction": "increase"}
SCORES = {"pass": 100.0, "marginal": 80.0, "fail": 0.0, "nodata": 0.0, "error": 0.0, "inconclusive": 0.0}


def rollout_config(rollout: dict[str, Any], name: str = "svc", **top: Any):
    """A validated config with one metric and the given ``rollout`` section."""
    return parse_config({"name": name, "metrics": [METRIC], "rollout": rollout, **top}, "test.yaml")


class InstantClock:
    """Wall time that moves only when the rollout sleeps, so unit tests of the decisions take no time."""

    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class Scripted:
    """An analyzer returning the given verdicts in order (an exception instance is raised instead)."""

    def __init__(self, verdicts: Iterable[Any]):
        self.verdicts = list(verdicts)
        self.windows: list[tuple[Any, Any]] = []

    def __call__(self, baseline, canary) -> AnalysisResult:
        self.windows.append((baseline, canary))
        v = self.verdicts.pop(0)
        if isinstance(v, BaseException):
            raise v
        return AnalysisResult(config_name="svc", window=canary, metrics=(), scores=Score(SCORES[v]),
                              decision=Decision(Verdict(v), f"scripted {v}"), thresholds=Thresholds(),
                              engine_version="test")


class Recorder:
    """An observer keeping every journal record and tick."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []

    def record(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def tick(self, info: dict[str, Any]) -> None:
        self.ticks.append(info)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]
