"""The ``threshold`` judge: fixed bounds on one statistic of the canary, absolute or relative to the baseline.

``params.statistic`` (mean, median, p90, p95, p99, max or last) is computed on each preprocessed side. The canary
value is high when it exceeds ``upper``, or when ``canary / baseline`` exceeds ``max_ratio``; it is low when it is
below ``lower``, or when the ratio is below ``min_ratio``. High is checked first. A baseline statistic of 0 gives
the ratio +inf (-inf) for a positive (negative) canary statistic and 1 when both are 0. This is the absolute-SLO
check of the SRE Workbook's canarying chapter, kept beside the relative rank tests.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from judges._decision import _fmt, error, nodata
from judges._types import Classification, Judgement, JudgeParams, Statistics
from judges.preprocessing import Prepared, counts, median, prepare
from judges.registry import JudgePlugin

__all__ = ["STATISTICS", "judge"]

STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "median": lambda v: float(np.median(v)),
    "p90": lambda v: float(np.percentile(v, 90)),
    "p95": lambda v: float(np.percentile(v, 95)),
    "p99": lambda v: float(np.percentile(v, 99)),
    "max": lambda v: float(np.max(v)),
    "last": lambda v: float(v[-1]),
}


def _check(params: JudgeParams) -> None:
    if params.statistic not in STATISTICS:
        raise ValueError(f"`statistic` of {params.name} must be one of {{{', '.join(STATISTICS)}}}, "
                         f"got {params.statistic!r}")
    bounds = {k: getattr(params, k) for k in ("upper", "lower", "max_ratio", "min_ratio")}
    if all(v is None for v in bounds.values()):
        raise ValueError(f"the threshold judge of {params.name} needs at least one of `upper`, `lower`, "
                         "`max_ratio` or `min_ratio`")
    for key, v in bounds.items():
        if v is not None and math.isnan(float(v)):
            raise ValueError(f"`{key}` of {params.name} must be a number, got {v!r}")


def ratio(canary_value: float, baseline_value: float) -> float:
    """``canary / baseline``; a zero baseline gives +/-inf for a non-zero canary and 1 when both are 0."""
    if baseline_value == 0.0:
        return 1.0 if canary_value == 0.0 else math.copysign(math.inf, canary_value)
    return canary_value / baseline_value


def _stats(b: Prepared, c: Prepared, value: float, base: float, rel: float) -> Statistics:
    return Statistics(n_baseline=b.values.size, n_canary=c.values.size, estimate=value, effect_size=rel,
                      baseline_median=median(b.values), canary_median=median(c.values),
                      extra={"baseline_statistic": base, **counts(b, c)})


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Judge one metric against fixed bounds on ``params.statistic``.

    Parameters
    ----------
    baseline, canary : 1-D array_like of metric values (time order matters for ``last``).
    params : ``statistic`` and at least one of ``upper``, ``lower`` (bounds on the canary statistic),
        ``max_ratio``, ``min_ratio`` (bounds on canary / baseline statistic).

    Returns
    -------
    Judgement
        nodata without canary data, or without baseline data when a ratio bound is set; high when over ``upper``
        or ``max_ratio``; low when under ``lower`` or ``min_ratio``; error when no bound failed but the statistic
        (or the ratio a ratio bound needs) is NaN, as infinite values of both signs make it; pass otherwise.
        ``estimate`` is the canary statistic and ``effect_size`` the ratio (NaN without baseline data). High, low
        and error of a critical metric are critical.
    """
    _check(params)
    b, c = prepare(baseline, params), prepare(canary, params)
    empty = _stats(b, c, math.nan, math.nan, math.nan)
    relative = params.max_ratio is not None or params.min_ratio is not None
    if c.values.size == 0 or (relative and b.values.size == 0):
        return nodata(params, b.values.size, c.values.size, empty)
    try:
        stat = STATISTICS[params.statistic]
        value = stat(c.values)
        base = stat(b.values) if b.values.size else math.nan
        rel = ratio(value, base) if b.values.size else math.nan
    except Exception as exc:  # a data problem becomes an outcome
        return error(params, f"{type(exc).__name__}: {exc}", empty)
    stats = _stats(b, c, value, base, rel)
    # the bounds applied, so a report can draw the statistic against them
    stats = dataclasses.replace(stats, extra={**stats.extra, **{
        k: float(getattr(params, k)) for k in ("upper", "lower", "max_ratio", "min_ratio")
        if getattr(params, k) is not None}})
    what = f"{params.statistic} {params.name} {_fmt(value)}"
    against = f"{_fmt(rel)}x the baseline {params.statistic} {_fmt(base)}"
    checks = (
        (Classification.HIGH, params.upper is not None and value > params.upper,
         f"{what} exceeds the upper bound {_fmt(params.upper or 0.0)}"),
        (Classification.HIGH, params.max_ratio is not None and rel > params.max_ratio,
         f"{what} is {against}, above the maximum ratio {_fmt(params.max_ratio or 0.0)}"),
        (Classification.LOW, params.lower is not None and value < params.lower,
         f"{what} is below the lower bound {_fmt(params.lower or 0.0)}"),
        (Classification.LOW, params.min_ratio is not None and rel < params.min_ratio,
         f"{what} is {against}, below the minimum ratio {_fmt(params.min_ratio or 0.0)}"),
    )
    for label, failed, reason in checks:
        if failed:
            tag = " (critical)" if params.critical else ""
            return Judgement(label, reason + tag, critical=params.critical, statistics=stats)
    # NaN fails every comparison above: a statistic of inf - inf (e.g. histogram_quantile's +Inf) must not pass
    if math.isnan(value) or (relative and math.isnan(rel)):
        undefined = "" if math.isnan(value) else f" against the baseline {params.statistic} {_fmt(base)}"
        return error(params, f"{params.statistic} {_fmt(value)}{undefined} is undefined (infinite values)", stats)
    return Judgement(Classification.PASS, "", statistics=stats)


PLUGIN = JudgePlugin("threshold", judge)
