"""The ``rate`` judge: is the canary's event rate (errors per request) higher or lower than the baseline's?

Counts, not per-step ratios: the metric's series hold event counts per step (errors), its ``denominator`` metric's
series the exposure per step (requests). Given the total number of events E = B + C, the canary's count C is
Binomial(E, rho) under the null of equal rates, with ``rho = N_c / (N_b + N_c)`` its share of the exposure: the exact
conditional test of a rate ratio (Przyborowski and Wilenski 1940). It needs no events in the baseline (an all-zero
baseline with canary errors is a clear ``high``, unlike Mann-Whitney on per-step rates, spinnaker#5622,
kayenta#426) and is exact for sparse counts.

Errors cluster in time on one arm (a bad pod, a retry storm), which makes counts overdispersed and a plain binomial
test over-confident. When the four series are aligned per step, the design effect ``phi`` of the canary's count
(its cluster-robust variance with steps as clusters over the binomial variance; used only when > 1 and with at least
11 steps with events) divides both counts before the test (Rao and Scott 1992).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc
from scipy.stats import beta as beta_dist
from scipy.stats import chi2

from judges._decision import _fmt, error, non_inferiority, nodata, ratio_interval
from judges._types import Classification, Judgement, JudgeParams, NanStrategy, Statistics
from judges.autocorrelation import value_vif
from judges.preprocessing import median
from judges.registry import JudgePlugin

__all__ = ["RateCounts", "RateTest", "counts", "dispersion", "judge", "rate_test"]

MIN_DISPERSION_DF = 10
# level of the test for overdispersion below which the counts are taken as binomial
DISPERSION_TEST_LEVEL = 0.05


@dataclass(frozen=True, slots=True)
class RateCounts:
    """Per-step events and exposures of both arms; ``aligned`` when the four arrays describe the same steps."""

    baseline: np.ndarray
    canary: np.ndarray
    baseline_exposure: np.ndarray
    canary_exposure: np.ndarray
    aligned: bool


@dataclass(frozen=True, slots=True)
class RateTest:
    """Conditional test of the rate ratio canary / baseline."""

    ratio: float
    ci_lower: float
    ci_upper: float
    p_value: float
    share: float
    dispersion: float


def _binom_tails(k: float, n: float, p: float) -> tuple[float, float]:
    """P(X >= k) and P(X <= k) for X ~ Binomial(n, p), through the incomplete beta (real k and n allowed)."""
    upper = 1.0 if k <= 0 else float(betainc(k, n - k + 1, p))
    lower = 1.0 if k >= n else float(betainc(n - k, k + 1, 1 - p))
    return upper, lower


def rate_test(baseline_events: float, baseline_exposure: float, canary_events: float, canary_exposure: float,
              confidence: float = 0.98, dispersion: float = 1.0) -> RateTest:
    """Exact conditional test and Clopper-Pearson interval of the rate ratio (canary / baseline).

    Parameters
    ----------
    baseline_events, canary_events : float
        Event totals B and C (>= 0; real values from ``increase()`` are allowed).
    baseline_exposure, canary_exposure : float
        Exposure totals N_b and N_c (> 0), e.g. requests.
    confidence : float
        Two-sided level of the interval.
    dispersion : float
        Overdispersion factor phi >= 1; the counts are divided by it.

    Returns
    -------
    RateTest
        ``p_value`` is two-sided, twice the smaller binomial tail (the central p-value, the one the
        Clopper-Pearson interval inverts), so the interval excludes 1 exactly when ``p_value <= 1 - confidence``.
    """
    if baseline_exposure <= 0 or canary_exposure <= 0:
        raise ValueError("exposures must be > 0")
    if baseline_events < 0 or canary_events < 0:
        raise ValueError("event counts must be >= 0")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    if not dispersion >= 1.0:
        raise ValueError(f"`dispersion` must be >= 1, got {dispersion!r}")
    share = canary_exposure / (canary_exposure + baseline_exposure)
    k, n = canary_events / dispersion, (canary_events + baseline_events) / dispersion
    odds = baseline_exposure / canary_exposure
    with np.errstate(divide="ignore"):
        ratio = (canary_events / canary_exposure) / (baseline_events / baseline_exposure) \
            if baseline_events > 0 else (math.inf if canary_events > 0 else math.nan)
    if n == 0:
        return RateTest(ratio, 0.0, math.inf, 1.0, share, dispersion)
    upper, lower = _binom_tails(k, n, share)
    a = 1.0 - confidence
    t_lo = float(beta_dist.ppf(a / 2, k, n - k + 1)) if k > 0 else 0.0
    t_hi = float(beta_dist.ppf(1 - a / 2, k + 1, n - k)) if k < n else 1.0
    to_ratio = lambda t: t / (1 - t) * odds if t < 1 else math.inf  # noqa: E731
    return RateTest(ratio, to_ratio(t_lo), to_ratio(t_hi), min(1.0, 2 * min(upper, lower)), share, dispersion)


def _side(values, params: JudgeParams) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if np.isnan(x).all():
        return x[:0]  # never measured: no data, not zeros (see preprocessing.prepare)
    if params.nan_strategy is NanStrategy.REPLACE:
        return np.where(np.isnan(x), 0.0, x)
    return x


def counts(baseline, canary, params: JudgeParams) -> RateCounts:
    """Events and exposures of both arms from the series and ``params.options`` (``*_denominator``).

    Without denominators each step counts as one unit of exposure, which assumes both arms get equal traffic.
    When the four arrays have one length they are taken as the same steps, and a step with a NaN anywhere is
    dropped from all four (NaN removal) or its NaNs read as 0 (``nan_strategy: replace``); otherwise NaNs are
    dropped per array and the steps are not aligned. Negative or infinite values raise ``ValueError``.
    """
    b, c = _side(baseline, params), _side(canary, params)
    opts = params.options
    nb = _side(opts.get("baseline_denominator", np.ones(b.size)), params)
    nc = _side(opts.get("canary_denominator", np.ones(c.size)), params)
    aligned = b.size == c.size == nb.size == nc.size
    if aligned:
        keep = ~(np.isnan(b) | np.isnan(nb) | np.isnan(c) | np.isnan(nc))
        b, c, nb, nc = b[keep], c[keep], nb[keep], nc[keep]
    else:
        b, c, nb, nc = (v[~np.isnan(v)] for v in (b, c, nb, nc))
    for name, v in (("baseline", b), ("canary", c), ("baseline denominator", nb), ("canary denominator", nc)):
        if not np.isfinite(v).all() or (v < 0).any():
            raise ValueError(f"{name} counts must be finite and >= 0")
    return RateCounts(b, c, nb, nc, aligned)


def dispersion(rc: RateCounts, min_df: int = MIN_DISPERSION_DF) -> tuple[float, int]:
    """Design effect of the canary's count: its between-step variance over the binomial one, and its df.

    With ``e_s`` events in step s, of which ``c_s`` in the canary, and ``theta_s`` the canary's expected share of
    them under the fitted rate ratio, ``phi = T / (T - 1) * sum (c_s - e_s theta_s)^2 / sum e_s theta_s (1 -
    theta_s)`` over the T steps with events, times the AR(1) VIF of those residuals: the cluster-robust
    (sandwich) variance of the total with steps as clusters, allowing for serial correlation, relative to the
    binomial variance. Busy steps weigh more, as they do in the total. Returns
    ``(1.0, df)`` when the steps are not aligned, the ratio is 0 or infinite, ``df = T - 1 < 10``, or ``phi df``
    stays below the chi-square (df) upper ``DISPERSION_TEST_LEVEL`` point (no evidence of overdispersion: McCullagh
    and Nelder 1989, section 4.5, Pearson's statistic). ``min_df`` is the fewest degrees of freedom it is estimated
    from.
    """
    if not rc.aligned:
        return 1.0, 0
    e = rc.baseline + rc.canary
    tot = rc.baseline_exposure + rc.canary_exposure
    ok = (e > 0) & (rc.baseline_exposure > 0) & (rc.canary_exposure > 0)
    df = int(ok.sum()) - 1
    B, C = rc.baseline.sum(), rc.canary.sum()
    if df < min_df or B == 0 or C == 0:
        return 1.0, max(df, 0)
    ratio = (C / rc.canary_exposure.sum()) / (B / rc.baseline_exposure.sum())
    rho = rc.canary_exposure[ok] / tot[ok]
    theta = rho * ratio / (1 - rho + rho * ratio)
    resid = rc.canary[ok] - e[ok] * theta
    binomial = float((e[ok] * theta * (1 - theta)).sum())
    # clusters of neighbouring steps are not independent when the arms' rates wander: Newey-West-style AR(1) VIF
    pearson = float(resid @ resid) / binomial * (df + 1) / df
    # Pearson's dispersion test first: on binomial counts the estimate scatters around 1 (above it half the time,
    # and the serial VIF of the residuals too), and dividing by that noise only costs power; phi is used once
    # Pearson's statistic alone exceeds its chi-square 95 % point.
    if pearson * df <= float(chi2.isf(DISPERSION_TEST_LEVEL, df)):
        return 1.0, df
    vif, _ = value_vif(resid)
    return pearson * vif, df


def _count(v: float) -> str:
    return f"{v:.7g}"


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Classify a count metric by the exact conditional test of its rate ratio (see the module docstring).

    Rules, in order: nodata when an arm has no steps or no exposure; inconclusive when neither arm has an event
    (nothing to compare); else, with the ``params.confidence`` interval ``[lo, hi]`` of the ratio R = canary
    rate / baseline rate, ``high`` if the direction admits an increase, ``lo > 1`` and ``R >= allowed_increase``
    (or ``lo > 1 + margin``); ``low`` mirrors it; ``pass`` when the interval lies within ``1 +/- margin``;
    otherwise ``inconclusive`` (too few events to tell), with the smallest detectable ratio and the extra steps
    that would resolve it. A critical metric's high (low) is a critical failure when ``R >= critical_increase``
    (``R <= critical_decrease``). ``tolerance`` and the effect-size ``measure`` do not apply: the effect size is
    always R.

    Parameters
    ----------
    baseline, canary : array_like
        Event counts per step.
    params : JudgeParams
        ``options`` may hold ``baseline_denominator`` and ``canary_denominator`` (exposure per step, filled in
        by the pipeline from the metric's ``denominator``) and ``overdispersion`` (default true).
    """
    try:
        rc = counts(baseline, canary, params)
    except ValueError as exc:
        return error(params, str(exc))
    B, C = float(rc.baseline.sum()), float(rc.canary.sum())
    Nb, Nc = float(rc.baseline_exposure.sum()), float(rc.canary_exposure.sum())
    extra = {"baseline_events": B, "canary_events": C, "baseline_exposure": Nb, "canary_exposure": Nc}
    stats = Statistics(n_baseline=int(rc.baseline.size), n_canary=int(rc.canary.size),
                       baseline_median=median(rc.baseline), canary_median=median(rc.canary), extra=extra)
    if rc.baseline.size == 0 or rc.canary.size == 0:
        return nodata(params, rc.baseline.size, rc.canary.size, stats)
    if Nb == 0 or Nc == 0:
        side = "baseline" if Nb == 0 else "canary"
        return Judgement(Classification.NODATA, f"Missing data for {params.name}: no {side} exposure (denominator "
                         "is 0)", critical=params.critical, statistics=stats)
    if B == 0 and C == 0:
        return Judgement(Classification.INCONCLUSIVE, f"{params.name} is inconclusive (not enough data to tell): no "
                         f"events in either arm ({_count(Nb)} baseline and {_count(Nc)} canary exposure), so the "
                         "canary's rate cannot be compared with the baseline's", statistics=stats)
    phi, df = dispersion(rc) if params.options.get("overdispersion", True) else (1.0, 0)
    t = rate_test(B, Nb, C, Nc, params.confidence, phi)
    extra.update(baseline_rate=B / Nb, canary_rate=C / Nc, canary_share=t.share, dispersion=phi)
    stats = Statistics(n_baseline=stats.n_baseline, n_canary=stats.n_canary, estimate=t.ratio,
                       ci_lower=t.ci_lower, ci_upper=t.ci_upper, p_value=t.p_value, effect_size=t.ratio,
                       baseline_median=stats.baseline_median, canary_median=stats.canary_median, extra=extra)
    return decide_ratio(params, stats, B, C, Nb, Nc)


def decide_ratio(params: JudgeParams, stats: Statistics, B: float, C: float, Nb: float, Nc: float) -> Judgement:
    """The three-way rule (``_decision.non_inferiority``) on the rate-ratio interval: high when it lies above 1 and
    the ratio clears ``allowed_increase`` (or wholly above the allowed ratio ``1 + margin``), pass when it lies
    below ``1 + margin``, inconclusive otherwise (too few events to tell)."""
    iv = ratio_interval(params, stats.estimate, stats.ci_lower, stats.ci_upper, params.confidence,
                        float(min(stats.n_baseline, stats.n_canary)))
    what = f"rate ratio ({_count(C)} events in {_count(Nc)} canary vs {_count(B)} in {_count(Nb)} baseline)"
    return non_inferiority(params, stats, iv, what=what)


@dataclass(frozen=True, slots=True)
class RateOptions:
    """``overdispersion``: widen the test for errors clustered in time (default on)."""

    overdispersion: bool = True


PLUGIN = JudgePlugin("rate", judge, RateOptions)
