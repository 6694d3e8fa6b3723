"""Result types of an analysis: per-metric results and the whole run, with JSON, pandas and notebook views."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from judges import Classification, Judgement, Statistics, json_number

from analysis.config import Thresholds
from analysis.decision.scoring import Score
from analysis.series import SamplePair, Window
from analysis.decision.verdict import Decided, Decision

STAT_KEYS = ("n_baseline", "n_canary", "estimate", "ci_lower", "ci_upper", "p_value", "effect_size",
             "baseline_median", "canary_median")


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric's outcome, with what the config said about it and the data-quality warnings."""

    name: str
    group: str
    judge: str
    judgement: Judgement
    critical_metric: bool = False
    must_have_data: bool = False
    muted: bool = False
    direction: str = "either"
    query: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    # the p-value after family-wise (Holm) adjustment across the gating metrics, when applied
    p_adjusted: float = math.nan

    @property
    def classification(self) -> Classification:
        return self.judgement.classification

    @property
    def critical(self) -> bool:
        """True when this result is a critical failure that fails the run."""
        return self.judgement.critical and self.classification in (Classification.HIGH, Classification.LOW)

    @property
    def reason(self) -> str:
        return self.judgement.reason

    @property
    def statistics(self) -> Statistics:
        return self.judgement.statistics

    @property
    def failed(self) -> bool:
        """High, low, error, or nodata that must not be missing: what a CI system shows as a failure."""
        c = self.classification
        if c in (Classification.HIGH, Classification.LOW, Classification.ERROR):
            return True
        return c is Classification.NODATA and (self.must_have_data or self.critical_metric)

    def detectability(self) -> dict[str, Any]:
        """What the data could show: the confidence the interval was judged at, the allowed effect around it, the
        smallest relative change detectable at this size (``mde``, power 80 %) and, for an inconclusive metric,
        the extra points per arm that would resolve it (None where the judge does not say)."""
        x = self.statistics.extra
        get = lambda k: json_number(x.get(k))  # noqa: E731
        return {"confidence": get("ci_confidence"), "allowed_lower": get("allowed_lower"),
                "allowed_upper": get("allowed_upper"), "mde": get("mde"), "extra_points": get("extra_points")}

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "group": self.group, "judge": self.judge,
             "classification": self.classification.value, "critical": self.critical,
             "critical_metric": self.critical_metric, "must_have_data": self.must_have_data, "muted": self.muted,
             "direction": self.direction, "reason": self.reason,
             "statistics": self.statistics.to_dict(), "detectability": self.detectability(),
             "p_adjusted": json_number(self.p_adjusted),
             "warnings": list(self.warnings), "query": dict(self.query)}
        return d


class Metrics(tuple[MetricResult, ...]):
    """The metric results in config order; also indexed by name: ``result.metrics["latency_p99"]``."""

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            for m in self:
                if m.name == key:
                    return m
            raise KeyError(f"no metric named {key!r}; metrics: {', '.join(m.name for m in self)}")
        return tuple.__getitem__(self, key)

    def names(self) -> list[str]:
        return [m.name for m in self]


@dataclass(frozen=True, slots=True)
class AnalysisResult(Decided):
    """A whole analysis: verdict, score, groups and every metric's result.

    ``pairs`` keeps the collected data for plots and reports; ``to_dict(include_data=True)`` writes it out.
    """

    config_name: str
    window: Window | None
    metrics: tuple[MetricResult, ...]  # held as Metrics: also indexed by name
    scores: Score
    decision: Decision
    thresholds: Thresholds
    engine_version: str
    warnings: tuple[str, ...] = ()
    pairs: Mapping[str, SamplePair] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.metrics, Metrics):
            object.__setattr__(self, "metrics", Metrics(self.metrics))

    @property
    def score(self) -> float:
        """The 0-100 score (Kayenta's weighted group score)."""
        return self.scores.total

    @property
    def group_scores(self) -> Mapping[str, float]:
        return self.scores.groups

    def metric(self, name: str) -> MetricResult:
        return Metrics(self.metrics)[name]

    def summary(self) -> str:
        """A few lines for people: verdict, score, reason, and every metric that did not pass with its reason."""
        lines = [f"{self.config_name}: {self.verdict.value.upper()} (score {self.score:g}/100): {self.reason}"]
        lines += [f"  {m.name}: {m.classification.value}: {m.reason}" for m in self.metrics
                  if m.classification is not Classification.PASS]
        return "\n".join(lines)

    def to_dict(self, include_data: bool = False) -> dict[str, Any]:
        metrics = []
        for m in self.metrics:
            d = m.to_dict()
            if include_data and m.name in self.pairs:
                p = self.pairs[m.name]
                d["data"] = {"baseline": p.baseline.to_dict(), "canary": p.canary.to_dict()}
            metrics.append(d)
        out: dict[str, Any] = {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "score": self.score,
            "score_override": self.scores.override or None,
            "thresholds": self.thresholds.to_dict(),
            "groups": dict(self.group_scores),
            "config": self.config_name,
            "window": self.window.to_dict() if self.window else None,
            "engine_version": self.engine_version,
            "warnings": list(self.warnings),
            "metrics": metrics,
        }
        if self.scores.without_verdict is not None:  # an added key: the scorer's own score, before no verdict set
            out["score_without_verdict"] = self.scores.without_verdict  # the run's score to 0
        return out

    def to_json(self, include_data: bool = False, indent: int | None = 2) -> str:
        """JSON text; with the series included it is written compactly (one number per line is unreadable)."""
        d = self.to_dict(include_data)
        if include_data and any("data" in m for m in d["metrics"]):
            return json.dumps(d, separators=(",", ":"), allow_nan=False)
        return json.dumps(d, indent=indent, allow_nan=False)

    def to_frame(self):
        """One row per metric: classification, reason and every statistic (pandas DataFrame)."""
        import pandas as pd

        rows = []
        for m in self.metrics:
            s = m.statistics
            row = {"name": m.name, "group": m.group, "judge": m.judge, "classification": m.classification.value,
                   "critical": m.critical, "muted": m.muted}
            row.update({k: getattr(s, k) for k in STAT_KEYS})
            row.update({"p_adjusted": m.p_adjusted, "reason": m.reason, "warnings": "; ".join(m.warnings)})
            rows.append(row)
        return pd.DataFrame(rows).set_index("name")

    def plot(self, metric: str):
        """Time series and distribution of one metric, as a matplotlib Figure."""
        from analysis.report.plots import metric_figure

        return metric_figure(self.metric(metric), self.pairs.get(metric))

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for m in self.metrics:
            counts[m.classification.value] = counts.get(m.classification.value, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        return (f"<AnalysisResult {self.config_name!r}: {self.verdict.value.upper()} "
                f"score {self.score:g} ({summary})>")

    def _repr_html_(self) -> str:
        """Jupyter's rich view: verdict, score, groups and the metric table with sparklines, failing first."""
        from analysis.report.html import notebook_html

        return notebook_html(self)
