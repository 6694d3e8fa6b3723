"""Types shared by every judge: the closed vocabularies, the parameters a judge reads and the Judgement it returns.

A judge is a pure function ``judge(baseline, canary, params) -> Judgement``: no I/O, no clock, no global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Mapping


class Classification(StrEnum):
    """Outcome for one metric."""

    PASS = "pass"
    HIGH = "high"
    LOW = "low"
    INCONCLUSIVE = "inconclusive"
    NODATA = "nodata"
    ERROR = "error"


class Direction(StrEnum):
    """Which change of the canary counts as a regression."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NanStrategy(StrEnum):
    REMOVE = "remove"
    REPLACE = "replace"


class OutlierStrategy(StrEnum):
    KEEP = "keep"
    REMOVE = "remove"


class EffectMeasure(StrEnum):
    MEAN_RATIO = "mean-ratio"
    CLES = "cles"


@dataclass(frozen=True, slots=True)
class EffectSizeParams:
    """Effect-size gates, as Kayenta's ``effectSize``.

    ``None`` thresholds take the measure's neutral default (1.0 for mean-ratio, 0.5 for CLES), which makes the
    gate a no-op, exactly as in Kayenta.
    """

    measure: EffectMeasure = EffectMeasure.MEAN_RATIO
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    def _default(self) -> float:
        return 0.5 if self.measure is EffectMeasure.CLES else 1.0

    def thresholds(self) -> tuple[float, float, float, float]:
        """(allowed_increase, allowed_decrease, critical_increase, critical_decrease) with defaults filled in."""
        d = self._default()
        pick = lambda v: d if v is None else float(v)  # noqa: E731
        return (pick(self.allowed_increase), pick(self.allowed_decrease),
                pick(self.critical_increase), pick(self.critical_decrease))


@dataclass(frozen=True, slots=True)
class JudgeParams:
    """Everything a judge may read about one metric. Built by ``analysis.config``; judges never read config files.

    Threshold-judge fields (``statistic``, ``upper``, ``lower``, ``max_ratio``, ``min_ratio``) are ignored by the
    rank judges; ``confidence`` and ``tolerance`` are ignored by the threshold judge.
    """

    name: str = "metric"
    direction: Direction = Direction.EITHER
    critical: bool = False
    must_have_data: bool = False
    nan_strategy: NanStrategy = NanStrategy.REMOVE
    outlier_strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlier_factor: float = 3.0
    effect_size: EffectSizeParams = field(default_factory=EffectSizeParams)
    confidence: float = 0.98
    tolerance: float = 0.25
    # relative change the metric may show and still pass (0.25 = +/-25 %); None: the judge's default
    # (``judges._decision.DEFAULT_MARGIN``, or ``allowed_increase - 1`` when that gate is set). Not read by kayenta.
    margin: float | None = None
    # threshold judge
    statistic: str = "mean"
    upper: float | None = None
    lower: float | None = None
    max_ratio: float | None = None
    min_ratio: float | None = None
    # judge-specific extras (e.g. the rate judge's denominators, autocorrelation switches)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Statistics:
    """Numbers behind a decision. Fields a judge does not compute stay NaN (serialised as null)."""

    n_baseline: int = 0
    n_canary: int = 0
    estimate: float = math.nan
    ci_lower: float = math.nan
    ci_upper: float = math.nan
    p_value: float = math.nan
    effect_size: float = math.nan
    baseline_median: float = math.nan
    canary_median: float = math.nan
    # anything else worth showing (U statistic, mean ratio, removed outliers, effective n, ...)
    extra: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            out[f.name] = json_number(getattr(self, f.name))
        out["extra"] = {k: json_number(v) for k, v in self.extra.items()}
        return out


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a judge decided about one metric.

    ``critical`` is true only when this outcome is a critical failure that must fail the run (a critical metric
    classified high/low beyond its critical effect-size threshold). ``reason`` is set on every non-pass outcome,
    and on passes that took a short cut (identical or constant samples).
    """

    classification: Classification
    reason: str = ""
    critical: bool = False
    statistics: Statistics = field(default_factory=Statistics)

    def to_dict(self) -> dict[str, Any]:
        return {"classification": self.classification.value, "critical": self.critical,
                "reason": self.reason, "statistics": self.statistics.to_dict()}


def json_number(v: Any) -> Any:
    """NaN and +/-inf become None; numpy scalars become Python numbers."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if not math.isfinite(f):
        return None
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return int(v)
    return f
