"""Serial correlation of per-step samples: how much it inflates the variance of a rank or mean statistic.

Per-step Prometheus values (rates and quantiles over overlapping ``[5m]`` windows) are autocorrelated, so a test
that treats them as independent is over-confident: on AR(1) series with phi = 0.8 a plain Mann-Whitney test at 5 %
rejects about half of the A/A comparisons. The fix here is the effective-sample-size correction: estimate the lag-1
autocorrelation, turn it into the variance inflation factor (VIF) of a mean of n AR(1) terms, and divide the
statistic's variance-standardised value by ``sqrt(VIF)``; the remaining uncertainty in the estimated VIF is paid for
with a Student t reference distribution on ``n_eff - 2`` degrees of freedom.

For the Mann-Whitney U the relevant series are the ranks within each arm: under the null U is (up to a constant)
the mean of the probability-integral transforms of one arm, whose variance grows with their autocorrelation.

References
----------
Bayley, Hammersley, "The effective number of independent observations in an autocorrelated time series",
JRSS Suppl. 8 (1946). Marriott, Pope, "Bias in the estimation of autocorrelations", Biometrika 41 (1954).
Zwiers, von Storch, "Taking serial correlation into account in tests of the mean", J. Climate 8 (1995).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata
from scipy.stats import t as student_t

from judges._types import JudgeParams, Statistics

__all__ = ["MAX_PHI", "MIN_POINTS", "SerialAdjustment", "ar1_vif", "effective_n", "for_params", "lag1",
           "lag1_rows", "rank_vif", "serial_adjustment", "value_vif", "welch_interval", "welch_p"]

# Above 0.98 the AR(1) VIF is dominated by the estimate's noise; capping keeps the test finite and conservative.
MAX_PHI = 0.98
# Fewer points per arm than this give no usable lag-1 estimate; such samples are treated as independent.
MIN_POINTS = 8
# The Welch part estimates a variance as well as phi, so it needs a wider margin than the ranks to hold its level.
WELCH_MARGIN = 1.5


def ar1_vif(phi: float, n: int) -> float:
    """Variance inflation of the mean of ``n`` AR(1) terms with lag-1 autocorrelation ``phi``.

    ``1 + 2 * sum_{k=1}^{n-1} (1 - k/n) phi^k``, in closed form; tends to ``(1 + phi) / (1 - phi)`` as n grows.
    ``phi <= 0`` gives 1 (negative correlation is never used to make a test more liberal).
    """
    if n < 2 or not phi > 0.0:
        return 1.0
    phi = min(float(phi), MAX_PHI)
    return (1 + phi) / (1 - phi) - 2 * phi * (1 - phi ** n) / (n * (1 - phi) ** 2)


def lag1(samples: Sequence[np.ndarray]) -> tuple[float, int]:
    """Pooled, bias-corrected lag-1 autocorrelation of one or more series, and their mean length.

    The pooled estimate is ``sum of lag-1 cross products / sum of squares`` of the centred series; its bias
    ``-(1 + 4 phi) / n`` (Marriott and Pope) is removed, giving ``(n r + 1) / (n - 4)``. Series shorter than
    ``MIN_POINTS`` are left out; with none left the result is ``(0.0, 0)``.
    """
    num = den = 0.0
    lengths = []
    for s in samples:
        x = np.asarray(s, dtype=float)
        x = x[np.isfinite(x)]
        if x.size < MIN_POINTS:
            continue
        c = x - x.mean()
        num += float(c[1:] @ c[:-1])
        den += float(c @ c)
        lengths.append(x.size)
    if not lengths or den == 0.0:
        return 0.0, 0
    n = float(np.mean(lengths))
    return float(_bias_corrected(num / den, n)), int(round(n))


def _bias_corrected(r: float | np.ndarray, n: float) -> float | np.ndarray:
    """Marriott and Pope's bias correction of a lag-1 autocorrelation of centred series of length ``n``."""
    return (n * r + 1) / (n - 4)


def lag1_rows(x: np.ndarray) -> np.ndarray:
    """:func:`lag1` of each row of ``x`` alone (rows of equal length, finite): 0 for rows shorter than
    ``MIN_POINTS`` or constant."""
    x = np.asarray(x, dtype=float)
    n = x.shape[1]
    if n < MIN_POINTS:
        return np.zeros(x.shape[0])
    u = x - x.mean(axis=1, keepdims=True)
    num, den = (u[:, 1:] * u[:, :-1]).sum(axis=1), (u * u).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _bias_corrected(num / den, n)
    return np.where(den > 0, out, 0.0)


def rank_vif(*samples: np.ndarray, margin: bool = True) -> tuple[float, float]:
    """VIF of a rank statistic from the lag-1 autocorrelation of the ranks within each arm.

    Parameters
    ----------
    *samples : array_like
        Each arm in time order (NaN already removed).
    margin : bool
        Add ``(1 - phi^2) / (2 sqrt(N))`` to the estimate, N the pooled number of points. The estimate is noisy
        at 30-60 points per arm and the VIF convex in it, so the plug-in alone under-corrects; this margin,
        calibrated by simulation, keeps the rank test at or below its level at the 12-metric Holm threshold for
        AR(1) phi up to 0.95 (``benchmarks/decision_quality.py``).

    Returns
    -------
    (vif, phi)
        ``vif >= 1`` from :func:`ar1_vif` at the pooled, bias-corrected rank autocorrelation (plus the margin)
        and the mean arm length, and that autocorrelation ``phi``; ``(1.0, 0.0)`` when no arm has
        ``MIN_POINTS`` points.
    """
    ranks = [rankdata(np.asarray(s, dtype=float)) for s in samples if np.size(s) >= MIN_POINTS]
    phi, n = lag1(ranks)
    if n == 0:
        return 1.0, 0.0
    if margin:
        total = sum(r.size for r in ranks)
        phi = phi + (1 - min(max(phi, 0.0), 1.0) ** 2) / (2 * math.sqrt(total))
    return ar1_vif(phi, n), phi


def value_vif(x: np.ndarray) -> tuple[float, float]:
    """VIF of the mean of one series from its own bias-corrected lag-1 autocorrelation (see :func:`rank_vif`)."""
    phi, n = lag1([x])
    return (ar1_vif(phi, n), phi) if n else (1.0, 0.0)


def effective_n(n: float, vif: float) -> float:
    """Number of independent points carrying the same information as ``n`` correlated ones."""
    return n / vif if vif > 0 and math.isfinite(vif) else float(n)


@dataclass(frozen=True, slots=True)
class SerialAdjustment:
    """How a two-sample rank test is corrected for serial correlation within the arms.

    ``vif`` inflates the variance of U; ``df = n_eff - 2`` with ``n_eff = (n + m) / vif`` are the degrees of
    freedom of the Student t reference; ``interval_vif`` is the factor to hand to a normal-quantile interval so
    that it uses the t quantile instead: ``vif * (t_{df, 1 - a/2} / z_{1 - a/2})^2``. ``p_welch`` is the
    serially corrected Welch test of the means (:func:`welch_p`).

    Ranks bound the evidence: U can be no further than ``sqrt(3 n m / (n + m + 1))`` standard errors from its null
    centre, and dividing by ``sqrt(vif)`` can leave even two completely separated samples short of a 12-metric
    Holm threshold. The p-value is therefore ``min(1, 2 min(p_rank, p_welch))`` (Bonferroni over the two), which
    keeps the level and lets a large shift count for what it is.
    """

    phi: float
    vif: float
    n_eff: float
    df: float
    interval_vif: float
    p_welch: float = math.nan

    @property
    def active(self) -> bool:
        return self.vif > 1.0

    def rank_p(self, p: float) -> float:
        """The two-sided p-value of ``z / sqrt(vif)`` on the t reference, from a normal-theory two-sided ``p``."""
        if not self.active or not 0.0 < p < 1.0:
            return p
        z = -float(ndtri(p / 2))
        return float(min(1.0, 2 * student_t.sf(z / math.sqrt(self.vif), self.df)))

    def p_value(self, p: float) -> float:
        """The combined p-value from the rank test's normal-theory two-sided ``p``."""
        rank = self.rank_p(p)
        if not self.active or math.isnan(self.p_welch):
            return rank
        return min(1.0, 2 * min(rank, self.p_welch))

    def extra(self) -> dict[str, float]:
        return {"autocorrelation": self.phi, "vif": self.vif, "n_effective": self.n_eff, "p_welch": self.p_welch}

    def apply(self, stats: Statistics) -> Statistics:
        """``stats`` with the corrected p-value and the correction recorded in ``extra`` (with ``p_rank``)."""
        return replace(stats, p_value=self.p_value(stats.p_value),
                       extra={**stats.extra, **self.extra(), "p_rank": self.rank_p(stats.p_value)})


def _welch_parts(baseline: np.ndarray, canary: np.ndarray) -> tuple[float, float, float, float] | None:
    """(difference of means, its VIF-inflated variance, degrees of freedom, VIF); None without spread."""
    b, c = np.asarray(baseline, dtype=float), np.asarray(canary, dtype=float)
    if b.size < 2 or c.size < 2:
        return None
    var = b.var(ddof=1) / b.size + c.var(ddof=1) / c.size
    if not var > 0:
        return None
    phi, n = lag1([b - b.mean(), c - c.mean()])
    total = b.size + c.size
    vif = ar1_vif(phi + WELCH_MARGIN * (1 - min(max(phi, 0.0), 1.0) ** 2) / math.sqrt(total), n) if n else 1.0
    return float(c.mean() - b.mean()), vif * var, max(total / vif - 2.0, 1.0), vif


def welch_p(baseline: np.ndarray, canary: np.ndarray) -> float:
    """Two-sided p-value of the difference of means with the variance inflated for serial correlation.

    ``t = (mean_c - mean_b) / sqrt(VIF (s_b^2 / n_b + s_c^2 / n_c))`` on ``N / VIF - 2`` degrees of freedom, the
    VIF from the pooled bias-corrected lag-1 autocorrelation of the values centred per arm plus a margin
    ``WELCH_MARGIN (1 - phi^2) / sqrt(N)``. NaN when
    either arm has fewer than two points or no spread.
    """
    parts = _welch_parts(baseline, canary)
    if parts is None:
        return math.nan
    d, var, df, _ = parts
    return float(min(1.0, 2 * student_t.sf(abs(d) / math.sqrt(var), df)))


def welch_interval(baseline: np.ndarray, canary: np.ndarray, confidence: float) -> tuple[float, float, float] | None:
    """(estimate, lower, upper) of ``mean(canary) - mean(baseline)`` at ``confidence``: the interval that inverts
    :func:`welch_p`, ``d +/- t_{df, 1 - a/2} sqrt(VIF var)``; None when :func:`welch_p` is NaN."""
    parts = _welch_parts(baseline, canary)
    if parts is None:
        return None
    d, var, df, _ = parts
    half = float(student_t.isf((1 - confidence) / 2, df)) * math.sqrt(var)
    return d, d - half, d + half


def serial_adjustment(baseline: np.ndarray, canary: np.ndarray, confidence: float) -> SerialAdjustment:
    """The correction for one metric: rank VIF of both arms (in time order) and the matching t reference.

    Parameters
    ----------
    baseline, canary : array_like
        Preprocessed samples in time order.
    confidence : float
        Two-sided level of the interval that ``interval_vif`` is for.
    """
    vif, phi = rank_vif(baseline, canary)
    n = np.size(baseline) + np.size(canary)
    n_eff = effective_n(n, vif)
    df = max(n_eff - 2.0, 1.0)
    if vif <= 1.0:
        return SerialAdjustment(phi, 1.0, float(n), float(n - 2), 1.0)
    a = 1.0 - confidence
    ratio = float(student_t.isf(a / 2, df)) / float(-ndtri(a / 2))
    return SerialAdjustment(phi, vif, n_eff, df, vif * ratio * ratio, welch_p(baseline, canary))


def for_params(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> SerialAdjustment | None:
    """The correction a rank judge applies by default; None when ``options.autocorrelation`` is false or the
    samples show no serial correlation (VIF 1)."""
    if not params.options.get("autocorrelation", True):
        return None
    adj = serial_adjustment(baseline, canary, params.confidence)
    return adj if adj.active else None
