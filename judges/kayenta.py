"""The ``kayenta`` judge: a deterministic port of Kayenta's ``NetflixACAJudge`` Mann-Whitney classifier.

The interval is Kayenta's port of R's ``wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)`` for the
shift canary - baseline, solved with Kayenta's zeroin (``judges._zeroin``). It departs from Kayenta in one place
only: two constant samples get the exact shift ``a - b`` with the interval ``[a - b, a - b]`` instead of random
noise, so the judge is a pure function.

Kayenta's semantics are kept where they are not fail-closed: it has no ``inconclusive`` (a shift it cannot see is
a pass); an empty side with ``nan_strategy: replace`` is a pass; a classification error is not critical (the run
verdict still never passes a critical metric in error, see ``analysis.decision.verdict``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

from judges._decision import decide, effect_size, error, shortcut
from judges._types import Classification, Judgement, JudgeParams, NanStrategy, Statistics
from judges._zeroin import zeroin
from judges.preprocessing import counts, median, prepare
from judges.registry import JudgePlugin

__all__ = ["WilcoxonCI", "judge", "wilcoxon_ci"]


class WilcoxonCI(NamedTuple):
    """Confidence interval and estimate of the location shift x - y."""

    ci_lower: float
    ci_upper: float
    estimate: float


def _z_quantile(confidence: float) -> float:
    """Kayenta's ``zQuant = NormalDistribution(0, 1).inverseCumulativeProbability((1 - confLevel) / 2)``."""
    return float(norm.ppf((1.0 - confidence) / 2))


class _WilcoxonDiff:
    """Kayenta's ``wilcoxonDiff(mu, quantile, x, y)``: the standardised, continuity-corrected W of (x - d, y).

    ``W(d) = sum of the average ranks of x - d in concat(x - d, y) - nx(nx + 1)/2 - nx*ny/2``; the ranks of x among
    themselves always sum to ``nx(nx + 1)/2``, so W is the count of pairs with ``x_i - d > y_j`` plus half the ties,
    centred, which two ``searchsorted`` calls give in O(nx log ny). Every term is a half-integer, so this is the
    same double Kayenta computes.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.xs = np.sort(x)
        self.ys = np.sort(y)
        self.nx = float(x.size)
        self.ny = float(y.size)

    def __call__(self, d: float, quantile: float) -> float:
        nx, ny, ys = self.nx, self.ny, self.ys
        v = self.xs - d
        pairs = int(np.searchsorted(ys, v, "left").sum()) + int(np.searchsorted(ys, v, "right").sum())
        w = pairs / 2 - nx * ny / 2
        correction = math.copysign(0.5, w) if w != 0 else 0.0
        pooled = np.sort(np.concatenate([v, ys]))
        edges = np.flatnonzero(pooled[1:] != pooled[:-1]) + 1
        t = np.diff(np.concatenate([[0], edges, [pooled.size]])).astype(float)
        ties = float((t ** 3 - t).sum())
        sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - ties / ((nx + ny) * (nx + ny - 1))))
        if sigma == 0:
            raise ValueError("cannot compute confidence interval when all observations are tied")
        return (w - correction) / sigma - quantile


def wilcoxon_ci(experiment: np.ndarray, control: np.ndarray, confidence: float) -> WilcoxonCI:
    """Kayenta's Mann-Whitney confidence interval and estimate for the shift experiment - control.

    Parameters
    ----------
    experiment : array_like
        x, the canary sample (already preprocessed; no NaN).
    control : array_like
        y, the baseline sample (already preprocessed; no NaN).
    confidence : float
        Two-sided confidence level in (0, 1); the judge passes ``params.confidence`` (Kayenta's judge: 0.98).

    Returns
    -------
    WilcoxonCI
        ``(ci_lower, ci_upper, estimate)``. With ``f(d, z) = (W(d) - sign(W(d))/2) / sigma(d) - z``,
        ``mu_min = min(x) - max(y)`` and ``mu_max = max(x) - min(y)``, each end is ``mu_min`` if
        ``f(mu_min, z) <= 0``, else ``mu_max`` if ``f(mu_max, z) >= 0``, else the zeroin root on
        ``[mu_min, mu_max]``, with ``z = +z_{1-alpha/2}`` for the lower end and ``-z_{1-alpha/2}`` for the
        upper. The estimate is the zeroin root of ``f(., 0)`` with no end guard and, unlike R, the continuity
        correction kept. With zero-inflated data the lower end can exceed the upper one; that is Kayenta's
        behaviour and is kept.

    Raises
    ------
    ValueError
        If a sample is empty or not finite, if ``confidence`` is outside (0, 1), or when every observation is
        tied at some evaluated shift (sigma = 0), with Kayenta's message.

    References
    ----------
    Kayenta ``kayenta-mannwhitney/.../MannWhitney.scala`` (``calculateConfidenceInterval``, ``wilcoxonDiff``);
    R ``wilcox.test.R``; D. F. Bauer, "Constructing confidence sets using rank statistics", JASA 67 (1972).
    """
    x = np.asarray(experiment, dtype=float).ravel()
    y = np.asarray(control, dtype=float).ravel()
    if x.size == 0 or y.size == 0:
        raise ValueError(f"`{'experiment' if x.size == 0 else 'control'}` must not be empty")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("cannot compute confidence interval with infinite or NaN observations")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")

    f = _WilcoxonDiff(x, y)
    mu_min = float(x.min() - y.max())
    mu_max = float(x.max() - y.min())

    def root(quantile: float) -> float:
        f_lower, f_upper = f(mu_min, quantile), f(mu_max, quantile)
        if f_lower <= 0:
            return mu_min
        if f_upper >= 0:
            return mu_max
        return zeroin(lambda d: f(d, quantile), mu_min, mu_max, f_lower, f_upper)

    z = _z_quantile(confidence)
    ci_lower, ci_upper = root(-z), root(z)
    estimate = zeroin(lambda d: f(d, 0.0), mu_min, mu_max, f(mu_min, 0.0), f(mu_max, 0.0))
    return WilcoxonCI(ci_lower, ci_upper, estimate)


def _check(params: JudgeParams) -> None:
    if not 0.0 < params.confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {params.confidence!r}")
    if not (math.isfinite(params.tolerance) and params.tolerance >= 0):
        raise ValueError(f"`tolerance` must be a finite number >= 0, got {params.tolerance!r}")


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Classify one metric as Kayenta's ``MannWhitneyClassifier`` does, without its random noise.

    Each side is preprocessed (``params.nan_strategy``, then ``params.outlier_strategy``). Then, in order:
    nodata if a side is empty; pass if the samples are identical or hold one single value; otherwise the
    interval ``[ci_lower, ci_upper]`` and estimate of canary - baseline from :func:`wilcoxon_ci` at
    ``params.confidence``, where two constant samples ``a`` and ``b`` give exactly ``[a - b, a - b]`` and estimate
    ``a - b``. With ``bound = params.tolerance * |estimate|`` the metric is high if the direction admits an
    increase, ``ci_lower > bound`` and the effect size (NaN skips the gate) is at least ``allowed_increase``;
    else low if the direction admits a decrease, ``ci_upper < -bound`` and the effect size is at most
    ``allowed_decrease``; else pass. A critical metric's high/low is a critical failure past its critical
    threshold. A failure to compute the interval is an ``error`` outcome. No p-value is computed (Kayenta has
    none), so ``p_value`` stays NaN.

    Parameters
    ----------
    baseline, canary : array_like
        Raw samples of the metric; NaN is handled by preprocessing.
    params : JudgeParams
        Reads ``confidence``, ``tolerance``, ``direction``, ``critical``, ``effect_size``, ``nan_strategy``,
        ``outlier_strategy`` and ``outlier_factor``.

    Returns
    -------
    Judgement
        With ``statistics.extra`` holding ``mean_ratio``, ``bound`` (once an interval exists), and per side
        ``n_nan_*`` and ``n_outliers_*``.

    Raises
    ------
    ValueError
        If ``params.confidence`` is outside (0, 1) or ``params.tolerance`` is negative or not finite.

    References
    ----------
    Kayenta ``kayenta-judge/.../classifiers/metric/MannWhitneyClassifier.scala`` and ``NetflixACAJudge.scala``;
    ``docs/kayenta-judge.md`` sections 1.2-1.5.
    """
    _check(params)
    raw_b, raw_c = np.asarray(baseline, dtype=float).ravel(), np.asarray(canary, dtype=float).ravel()
    if params.nan_strategy is NanStrategy.REPLACE and (raw_b.size == 0 or raw_c.size == 0):
        # MannWhitneyClassifier: with nanStrategy replace, an empty side (nothing to replace) is Pass, critical false
        side = "canary" if raw_c.size == 0 else "baseline"
        return Judgement(Classification.PASS, f"No {side} data points; Kayenta's nanStrategy replace classifies "
                         f"{params.name} as Pass", statistics=Statistics(
                             n_baseline=int(raw_b.size), n_canary=int(raw_c.size), effect_size=1.0,
                             extra={"mean_ratio": 1.0}))
    base, can = prepare(raw_b, params), prepare(raw_c, params)
    x, y = can.values, base.values
    es, ratio = effect_size(y, x, params)
    extra: dict[str, float] = {"mean_ratio": ratio, **counts(base, can)}
    stats = Statistics(n_baseline=int(y.size), n_canary=int(x.size), effect_size=es,
                       baseline_median=median(y), canary_median=median(x), extra=extra)
    early = shortcut(y, x, params, stats)
    if early is not None:
        return early

    try:
        if x.min() == x.max() and y.min() == y.max():
            # Kayenta adds N(0, value * 1e-5) noise here (PR #343); the exact limit of that is a point interval.
            shift = float(x[0] - y[0])
            ci = WilcoxonCI(shift, shift, shift)
        else:
            ci = wilcoxon_ci(x, y, params.confidence)
    except Exception as exc:  # Kayenta's judge turns any classifier exception into an Error result, critical false
        return dataclasses.replace(error(params, str(exc), stats), critical=False)

    stats = dataclasses.replace(stats, estimate=ci.estimate, ci_lower=ci.ci_lower, ci_upper=ci.ci_upper,
                                extra={**extra, "bound": params.tolerance * abs(ci.estimate)})
    return decide(params, stats)


PLUGIN = JudgePlugin("kayenta", judge)
