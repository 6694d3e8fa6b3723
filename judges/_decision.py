"""The decision shape shared by the rank judges (``kayenta`` and ``mann-whitney``).

Kayenta's ``MannWhitneyClassifier`` rule, kept apart from the statistical test that feeds it:

* nodata when a side is empty after preprocessing;
* pass when the sorted samples are identical, or when both sides hold one and the same value;
* otherwise, with ``bound = tolerance * |estimate|`` and the effect size ES,
  ``high`` if the direction admits an increase, ``ci_lower > +bound`` and (ES is NaN or ES >= allowed_increase);
  else ``low`` if the direction admits a decrease, ``ci_upper < -bound`` and (ES is NaN or ES <= allowed_decrease);
  else ``pass``;
* a critical metric's high (low) is a critical failure when ES is NaN or ES >= critical_increase
  (ES <= critical_decrease).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from judges._types import Classification, Direction, EffectMeasure, Judgement, JudgeParams, Statistics
from judges.effect_size import cles, mean_ratio


def effect_size(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> tuple[float, float]:
    """(effect size used by the gates, mean ratio); the mean ratio is always reported."""
    ratio = mean_ratio(baseline, canary)
    es = cles(baseline, canary) if params.effect_size.measure is EffectMeasure.CLES else ratio
    return es, ratio


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def nodata(params: JudgeParams, n_baseline: int, n_canary: int, stats: Statistics | None = None) -> Judgement:
    """A side with no usable points. A critical metric's missing data can never let the run pass."""
    empty = [s for s, n in (("baseline", n_baseline), ("canary", n_canary)) if n == 0]
    reason = f"Missing data for {params.name}: no {' or '.join(empty)} data points"
    if stats is None:
        stats = Statistics(n_baseline=n_baseline, n_canary=n_canary)
    return Judgement(Classification.NODATA, reason, critical=params.critical, statistics=stats)


def shortcut(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams,
             stats: Statistics) -> Judgement | None:
    """The nodata, identical and single-value rules that come before any test; ``None`` when a test is needed."""
    if baseline.size == 0 or canary.size == 0:
        return nodata(params, baseline.size, canary.size, stats)
    if baseline.size == canary.size and np.array_equal(np.sort(baseline), np.sort(canary)):
        return Judgement(Classification.PASS, "The canary and baseline data are identical", statistics=stats)
    lo = min(baseline.min(), canary.min())
    hi = max(baseline.max(), canary.max())
    if lo == hi:
        return Judgement(Classification.PASS, f"Every baseline and canary value equals {_fmt(float(lo))}",
                         statistics=stats)
    return None


def decide(params: JudgeParams, stats: Statistics, what: str = "shift") -> Judgement:
    """Apply the bound, direction, effect-size and critical rules to a computed interval."""
    est, lo, hi, es = stats.estimate, stats.ci_lower, stats.ci_upper, stats.effect_size
    allowed_inc, allowed_dec, crit_inc, crit_dec = params.effect_size.thresholds()
    bound = params.tolerance * abs(est)
    if math.isfinite(bound):
        # the tolerance actually applied, so a report can draw the interval against it
        stats = dataclasses.replace(stats, extra={**stats.extra, "bound": bound})
    es_nan = math.isnan(es)
    conf = f"{params.confidence:.0%}"
    interval = f"{what} {_fmt(est)} ({conf} CI {_fmt(lo)} to {_fmt(hi)})"
    measure = params.effect_size.measure.value

    if params.direction in (Direction.INCREASE, Direction.EITHER) and lo > bound:
        if es_nan or es >= allowed_inc:
            critical = params.critical and (es_nan or es >= crit_inc)
            gate = "" if es_nan or allowed_inc == params.effect_size._default() else \
                f"; {measure} {_fmt(es)} >= allowed {_fmt(allowed_inc)}"
            tag = " (critical)" if critical else ""
            return Judgement(Classification.HIGH,
                             f"{params.name} is higher{tag}: {interval} lies above the tolerance +{_fmt(bound)}{gate}",
                             critical=critical, statistics=stats)
    if params.direction in (Direction.DECREASE, Direction.EITHER) and hi < -bound:
        if es_nan or es <= allowed_dec:
            critical = params.critical and (es_nan or es <= crit_dec)
            gate = "" if es_nan or allowed_dec == params.effect_size._default() else \
                f"; {measure} {_fmt(es)} <= allowed {_fmt(allowed_dec)}"
            tag = " (critical)" if critical else ""
            return Judgement(Classification.LOW,
                             f"{params.name} is lower{tag}: {interval} lies below the tolerance -{_fmt(bound)}{gate}",
                             critical=critical, statistics=stats)
    return Judgement(Classification.PASS, _pass_reason(params, interval, bound, lo, hi, es, measure),
                     statistics=stats)


def _pass_reason(params: JudgeParams, interval: str, bound: float, lo: float, hi: float, es: float,
                 measure: str) -> str:
    """Why a computed interval passed: the question users ask when a visible shift does not fail."""
    allowed_inc, allowed_dec, _, _ = params.effect_size.thresholds()
    up = params.direction in (Direction.INCREASE, Direction.EITHER)
    down = params.direction in (Direction.DECREASE, Direction.EITHER)
    if lo > bound:
        if up:
            return (f"{interval} clears the tolerance +{_fmt(bound)}, but {measure} {_fmt(es)} is below the "
                    f"allowed increase {_fmt(allowed_inc)}")
        return f"{interval} is higher, but only a decrease is a regression for this metric"
    if hi < -bound:
        if down:
            return (f"{interval} clears the tolerance -{_fmt(bound)}, but {measure} {_fmt(es)} is above the "
                    f"allowed decrease {_fmt(allowed_dec)}")
        return f"{interval} is lower, but only an increase is a regression for this metric"
    if lo > 0 or hi < 0:
        return f"{interval} excludes 0 but not the tolerance +/-{_fmt(bound)} ({params.tolerance:g} x |shift|)"
    return f"no shift: {interval} contains 0"


def error(params: JudgeParams, message: str, stats: Statistics | None = None) -> Judgement:
    """A metric whose classification failed; a critical metric's error can never let the run pass."""
    return Judgement(Classification.ERROR, f"Classification of {params.name} failed: {message}",
                     critical=params.critical, statistics=stats or Statistics())
