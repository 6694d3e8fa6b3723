"""The ``paired`` judge: canary against baseline on the same timestamps, robust to autocorrelation and mid-window change.

Baseline and canary replicas sit behind one load balancer and are scraped at the same instants, so most of their
movement is shared (traffic mix, load, a slow dependency). Pairing removes it before any inference: per timestamp,
``d_t = log(canary_t) - log(baseline_t)`` when every value is positive (the effect is a ratio, ``exp(mean d)``),
else ``d_t = canary_t - baseline_t`` (the effect is a difference).

The judge takes two tests of the differences and splits the error rate ``alpha = 1 - confidence`` between them
(weighted Bonferroni): ``LEVEL_SHARE`` (0.65) to the level test, the rest to the change test. The level test is the
one every regression needs; the change test only has to catch the step that the whole-window mean dilutes. At 30
points and the Holm level of 12 metrics, 0.65 instead of 0.5 buys the level test about 9 points of power against
+20 %, while the change test (on more cosines, :func:`change_bandwidth`) still catches a +30 % step from the
middle of 60 points 9 times in 10 (``benchmarks/decision_quality.py``, scenario families):

* level: the mean of ``d`` with the EWC long-run variance on ``B = 0.5 T^(2/3)`` cosines and a Student t on ``B``
  degrees of freedom (``judges._har``; Lazarus, Lewis, Stock and Watson 2018), giving the interval; its critical
  value is calibrated at the residuals' autocorrelation, pooled with the release's other paired metrics
  (:func:`pooled_autocorrelation`, given by the pipeline as ``options["peers"]``; ``B = 0.6 T^(2/3)`` when the
  pool sets it);
* change: the CUSUM of ``d`` scaled by the residual EWC variance (on ``CHANGE_BANDWIDTH`` times as many cosines),
  against its simulated null; when it rejects, the interval of the points after the change is judged too, so a
  regression that starts mid-window is not diluted by the points before it.

``tolerance`` is 0 for this judge unless a metric or ``defaults`` sets one (see ``PLUGIN``).

With fewer than ``MIN_CHANGE`` pairs only the level test runs, at the whole error rate. Either interval goes through
the shared three-way rule (:func:`judges._decision.non_inferiority`), labelled with the confidence it was computed
at.

The arrays must be aligned by timestamp, never by position: ``analysis.pipeline`` matches the timestamps of the two
scopes and passes the matched values as ``options["paired_baseline"]`` / ``options["paired_canary"]`` (with
``paired_timestamps``, ``unmatched_baseline``, ``unmatched_canary``); the positional ``baseline`` and ``canary`` are
the scopes' full samples. With no alignment, or when fewer than ``MIN_PAIRS`` timestamps (or fewer than half the
points of the shorter side) match, the judge falls back to the unpaired ``mann-whitney`` judge on the full samples
and says why in the reason.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtri
from scipy.stats import nct
from scipy.stats import t as student_t

from judges import mann_whitney
from judges._decision import error, non_inferiority, ratio_interval, shift_interval
from judges._paired_data import Differences, pairing
from judges._har import (BANDWIDTH_FACTOR, PHI_MAX, ChangePoint, ar1_rows, change_point, cosine_spectrum, cosines,
                         ewc_bandwidth, ewc_lrv, null_draws, phi_key, quantile, t_draws, tail_p)
from judges.registry import JudgePlugin
from judges._types import Classification, EffectMeasure, Judgement, JudgeParams, Statistics
from judges.autocorrelation import MIN_POINTS, ar1_vif, lag1, lag1_rows
from judges.effect_size import cles, mean_ratio

__all__ = ["LEVEL_SHARE", "MIN_CHANGE", "MIN_PAIRS", "PLUGIN", "PairedTest", "judge", "level_critical", "paired_test",
           "planned_mde", "pooled_autocorrelation"]

MIN_PAIRS = 3  # two degrees of freedom at least; below that an interval is all width
MIN_SHARE = 0.5  # pairing that would drop more than half the shorter side loses to the unpaired test on all of it
MIN_CHANGE = 10  # the change test needs points on both sides of a split
LEVEL_SHARE = 0.65  # of alpha, for the level test when the change test runs too (weighted Bonferroni)
CHANGE_BANDWIDTH = 1.25  # the change test's cosines, relative to the level test's (see change_bandwidth)
POOL_MIN = 4  # metrics with an autocorrelation estimate (this one included) before the release's pool is used
POOL_GATE = 2.0  # an estimate more than this many standard errors above the pool keeps its own value
POOLED_BANDWIDTH_FACTOR = 0.6  # the level test's cosines (times T^(2/3)) when the pool sets the autocorrelation
POWER = 0.8  # for the minimum detectable effect


@dataclasses.dataclass(frozen=True, slots=True)
class PairedTest:
    """The two tests on the differences ``d`` (no decision).

    ``estimate``/``lower``/``upper``: mean of ``d`` and its interval at ``confidence``; ``se`` its standard error
    ``sqrt(omega / n)``; ``df`` the degrees of freedom (cosines); ``p_level`` the two-sided t p-value;
    ``change``/``p_change`` the change test (None / NaN when ``n < MIN_CHANGE``); ``post_*`` the interval of the
    points after the change at ``confidence``; ``p_value`` the weighted Bonferroni combination
    ``min(1, p_level / LEVEL_SHARE, p_change / (1 - LEVEL_SHARE))`` (``p_level`` alone without a change test);
    ``phi_level`` the autocorrelation the level test was calibrated at (a grid point), ``phi_own`` the series' own
    estimate before the release's pool, ``pooled`` whether the pool set it (:func:`pooled_autocorrelation`).
    """

    n: int
    df: int
    estimate: float
    se: float
    lower: float
    upper: float
    confidence: float
    critical_value: float
    p_level: float
    phi_level: float
    change: ChangePoint | None
    p_change: float
    phi_change: float
    post_estimate: float
    post_lower: float
    post_upper: float
    p_value: float
    phi_own: float = math.nan
    pooled: bool = False

    def mde(self, power: float = POWER) -> float:
        """Smallest mean difference the level test detects with probability ``power``: ``(t_{1-a/2} + t_power) se``."""
        return (self.critical_value + float(student_t.ppf(power, self.df))) * self.se


def change_bandwidth(n: int) -> int:
    """Cosines of the change test's residual variance: ``CHANGE_BANDWIDTH`` times the level test's.

    The residuals around the two segment means carry no step, so the low-frequency bias that makes the level test
    keep few cosines is smaller there, and the simulated AR(1) null calibrates what is left. With the level test's
    ``B`` the statistic's null has the heavy tails of a t on ``B`` degrees of freedom, times a maximum over split
    points: at 60 points a +30 % step from minute 30 then rarely reaches the levels a 12-metric Holm step asks for
    (p near 0.001 however large the step). 1.25 times the cosines catches it 9 times in 10; 1.5 and 2 catch it
    more often but reject too often on A/A at AR 0.8 (``benchmarks/decision_quality.py``)."""
    return int(min(n - 1, max(2, round(CHANGE_BANDWIDTH * ewc_bandwidth(n)))))


def _segments_phi(x: np.ndarray, k: int) -> float:
    """Lag-1 autocorrelation of ``x`` around its two segment means split at ``k``: pooled over the segments, each
    bias-corrected for its own mean (``autocorrelation.lag1``), so the split does not make the noise look whiter."""
    phi, n = lag1([x[:k], x[k:]])
    return phi if n else _phi(x - x.mean())


def _phi(u: np.ndarray) -> float:
    """Bias-corrected lag-1 autocorrelation of a residual series (0 below ``autocorrelation.MIN_POINTS``)."""
    phi, n = lag1([u])
    return phi if n else 0.0


def pooled_autocorrelation(own: float, n: int, peers: Sequence[tuple[float, int]] | np.ndarray
                           ) -> tuple[float, bool]:
    """The level test's autocorrelation: this metric's estimate ``own`` (bias-corrected lag 1 of the centred
    differences, ``n`` points) shrunk towards the mean of the release's estimates (empirical Bayes), and whether
    the pool set it.

    At 30 points and AR 0.5 the estimate has a standard error near 0.18, and the critical value the judge
    calibrates at it climbs steeply above 0.6: a high draw at a true 0.5 costs most of the power against +20 %, a
    low draw at 0.8 most of the excess false alarms. The metrics of one release are scraped and aggregated alike,
    so their noise is often alike too: with ``peers`` (the estimates and lengths of the other paired metrics of
    the release) and at least ``POOL_MIN`` estimates in all, the estimate moves to ``m + w (own - m)``, where
    ``m`` is the mean of the estimates, ``v`` this estimate's sampling variance ``(1 - m^2) / n`` (times the bias
    correction's ``(n / (n - 4))^2``), ``tau^2`` the spread of the estimates beyond their sampling variance
    (moments, ``max(0, var - mean v)``) and ``w = tau^2 / (tau^2 + v)``: no spread, the pool's value; metrics that
    differ, little change.

    Moving an estimate down makes the test more liberal, so an estimate more than ``POOL_GATE`` standard errors
    *above* ``m`` keeps its own value: one metric unlike the rest (a memory gauge at 0.95 among latencies at 0.3)
    is never pulled towards them (Efron and Morris 1972, JASA 67:130-139, on limiting what shrinkage may do to an
    unusual component). An estimate below the pool is always moved up towards it, which can only cost power.
    The pool *sets* the autocorrelation when it was used and ``w <= 0.5``; the level test then affords
    ``POOLED_BANDWIDTH_FACTOR`` cosines (the calibration no longer rests on one noisy estimate).

    Seeded simulations of 12-metric releases (``benchmarks/decision_quality.py``; table in ``docs/paired.md``): at
    30 points and AR 0.5, +20 % on p50 is caught in 92 % of releases with the pool and 81 % without, and A/A false
    fails do not rise; where the metrics' autocorrelations differ, false fails stay within noise of the judge
    without the pool at 60 points and rise by 1-1.5 points at 30 (two gauges at 0.9 and 0.95 among ten metrics at
    0.5: 8.2 % against 6.8 %).
    """
    if n < MIN_POINTS or not math.isfinite(own):
        return own, False
    p = _peer_rows(peers)
    # usable rows only: a finite length of at least MIN_POINTS and an estimate a lag-1 bias correction can give
    ok = np.isfinite(p).all(axis=1) & (p[:, 1] >= MIN_POINTS)
    p = p[ok]
    p = p[np.abs(p[:, 0]) <= (p[:, 1] + 1) / (p[:, 1] - 4)]
    if p.shape[0] + 1 < POOL_MIN:
        return own, False
    r = np.concatenate(([own], p[:, 0]))
    k = np.concatenate(([n], p[:, 1]))
    m = float(r.mean())
    v = (1 - min(max(m, 0.0), PHI_MAX) ** 2) / k * (k / (k - 4)) ** 2
    tau2 = max(0.0, float(r.var(ddof=1)) - float(v.mean()))
    if own - m > POOL_GATE * math.sqrt(v[0]):
        return own, False
    w = tau2 / (tau2 + v[0])
    out = m + w * (own - m)
    return (float(out), bool(w <= 0.5)) if math.isfinite(out) else (own, False)


def level_critical(n: int, phi: float, confidence: float, pooled: bool = False) -> tuple[int, float, float]:
    """The level test at ``n`` differences whose residual lag-1 autocorrelation is ``phi`` (a :func:`phi_key` grid
    point): its cosines ``B`` (``POOLED_BANDWIDTH_FACTOR`` when the release's pool set ``phi``, see
    :func:`pooled_autocorrelation`), the confidence it gets (all of ``confidence`` below ``MIN_CHANGE`` points,
    else ``LEVEL_SHARE`` of its alpha) and its critical value, the larger of Student t on ``B`` and the AR(1)
    null's quantile. ``canary plan`` plans with the same numbers."""
    b = ewc_bandwidth(n, POOLED_BANDWIDTH_FACTOR if pooled else BANDWIDTH_FACTOR)
    alpha = 1.0 - confidence
    level_conf = 1.0 - (alpha * LEVEL_SHARE if n >= MIN_CHANGE else alpha)
    q = max(float(student_t.isf((1 - level_conf) / 2, b)), quantile(t_draws(n, b, phi), level_conf))
    return b, level_conf, q


_PLAN_GRID = ndtri((np.arange(15) + 0.5) / 15)  # normal quantiles: the spread of the judge's estimate of phi
_PLAN_SIM_MAX = 240  # up to this length planned_mde runs the judge's own statistics on simulated series
_PLAN_DRAWS = 2000
_PLAN_SEED = 20261205  # fixed: a plan is a pure function of its inputs


def _ewc_moments(phi: float, n: int, b: int) -> tuple[float, float]:
    """Expectation (per unit variance) and Satterthwaite degrees of freedom of the EWC long-run variance on ``b``
    cosines of a long stationary AR(1) series at ``phi``, from its spectrum at the cosines' frequencies."""
    e = cosine_spectrum(phi, n, b, 1 - phi * phi)
    return float(e.mean()), float(e.sum() ** 2 / (e * e).sum())


def _simulated_mde(n: int, phi: float, confidence: float, power: float) -> float:
    """The level test's MDE in units of the series' sd, from the judge's own statistics on ``_PLAN_DRAWS`` seeded
    AR(1) series: a shift moves the mean only (the EWC and the estimate of phi see the centred series), so the
    rejection rate at shift ``delta`` is the share of draws with ``mean + delta > q(phi_hat) sqrt(Omega / n)``."""
    x = ar1_rows(np.random.default_rng([_PLAN_SEED, n, int(round(phi * 1000))]), _PLAN_DRAWS, n, phi)
    b = ewc_bandwidth(n)
    u = x - x.mean(axis=1, keepdims=True)
    lam = u @ cosines(n, b).T
    se = np.sqrt((lam * lam).sum(axis=1) / b / n)
    # the judge's own estimate on each draw (0 below autocorrelation.MIN_POINTS, as the judge's _phi)
    keys = [phi_key(v) for v in lag1_rows(x)]
    crit = {k: level_critical(n, k, confidence)[2] for k in set(keys)}
    # the shift each draw needs to reject, one-sided
    need = np.array([crit[k] for k in keys]) * se - x.mean(axis=1)
    return float(np.quantile(need, power))


def planned_mde(n: int, sd: float, phi: float, confidence: float, power: float = POWER) -> float:
    """Smallest mean difference the level test detects with probability ``power`` at ``n`` differences that are
    AR(1) at lag-1 autocorrelation ``phi`` with standard deviation ``sd`` (``canary plan``; inf below ``MIN_PAIRS``).

    Up to ``_PLAN_SIM_MAX`` points the judge's own statistics are run on simulated series (:func:`_simulated_mde`):
    it calibrates at its estimate of ``phi``, which at 30 points spreads widely, and a high estimate costs power.
    Beyond, the estimate is tight and a closed form holds: the mean has variance ``sd^2 VIF / n`` (``ar1_vif``),
    the EWC ``Omega`` the expectation and Satterthwaite degrees of freedom ``nu`` of :func:`_ewc_moments`, so the
    judge's t is ``r`` times a noncentral t on ``nu`` with ``r = sqrt(VIF / E[Omega])``, against the judge's
    critical value at 15 normal quantiles of the estimate of ``phi``.
    """
    if n < MIN_PAIRS:
        return math.inf
    if not sd > 0:
        return 0.0
    phi = min(max(float(phi), 0.0), 0.95)
    if n <= _PLAN_SIM_MAX:
        return _simulated_mde(n, phi, confidence, power) * sd
    b = ewc_bandwidth(n)
    mean_omega, nu = _ewc_moments(phi, n, b)
    vif = ar1_vif(phi, n)
    r = math.sqrt(vif / mean_omega)
    spread = math.sqrt(max(1 - phi * phi, 0.0) / n) * n / (n - 4)  # of the bias-corrected estimate
    crit = np.array([level_critical(n, phi_key(phi + spread * z), confidence)[2] for z in _PLAN_GRID]) / r

    def short(ncp: float) -> float:
        return float(np.mean(nct.sf(crit, nu, ncp))) - power

    hi = float(crit.max()) + 10.0
    while short(hi) < 0:
        hi *= 2
    return float(brentq(short, 0.0, hi, xtol=1e-6)) * sd * math.sqrt(vif / n)


def paired_test(d: np.ndarray, confidence: float, peers: Sequence[tuple[float, int]] | np.ndarray = ()
                ) -> PairedTest:
    """Level and change tests of the differences ``d`` (time order, finite, at least ``MIN_PAIRS``); ``peers``: the
    residual autocorrelations and lengths of the release's other paired metrics (:func:`pooled_autocorrelation`).

    Critical values and p-values are the more conservative of the fixed-b reference (Student t on ``B``; the
    change statistic under independent noise) and the same statistics simulated under AR(1) noise at the
    residuals' bias-corrected lag-1 autocorrelation, rounded up (``judges._har.null_draws``): at 30-60 points
    and an autocorrelation of 0.8 the fixed-b reference alone is several times too liberal at the small levels a
    multiplicity step asks for (Gonçalves and Vogelsang 2011, Econometric Theory 27, on bootstrapping HAR tests).
    """
    x = np.asarray(d, dtype=float)
    n = x.size
    split = n >= MIN_CHANGE
    mean = float(x.mean())
    phi_own = _phi(x - mean)
    phi_pooled, pooled = pooled_autocorrelation(phi_own, n, peers)
    phi_level = phi_key(phi_pooled)
    b, level_conf, q = level_critical(n, phi_level, confidence, pooled)
    se = math.sqrt(max(ewc_lrv(x, b), 0.0) / n)
    t = abs(mean) / se if se > 0 else (math.inf if mean != 0 else 0.0)
    t_null = t_draws(n, b, phi_level)
    p_level = max(float(2 * student_t.sf(t, b)), tail_p(t_null, t)) if math.isfinite(t) else 0.0
    nan = math.nan
    change, p_change, post, phi_change = None, nan, (nan, nan, nan), nan
    if split:
        bc = change_bandwidth(n)
        change = change_point(x, bc)
        phi_change = phi_key(_segments_phi(x, change.index))
        p_change = max(tail_p(null_draws(n, bc, 0.0)[1], change.statistic),
                       tail_p(null_draws(n, bc, phi_change)[1], change.statistic))
        # the points after the change, at the autocorrelation of the residuals around the two segment means (the
        # step itself inflates the whole series' autocorrelation)
        q_post = max(float(student_t.isf((1 - level_conf) / 2, bc)),
                     quantile(null_draws(n, bc, phi_change)[0], level_conf))
        post_se = math.sqrt(max(change.omega, 0.0) / (n - change.index))
        post = (change.after, change.after - q_post * post_se, change.after + q_post * post_se)
    p = min(1.0, p_level / LEVEL_SHARE, p_change / (1 - LEVEL_SHARE)) if split else p_level
    return PairedTest(n, b, mean, se, mean - q * se, mean + q * se, level_conf, q, p_level, phi_level, change,
                      p_change, phi_change, *post, p, phi_own, pooled)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def _fallback(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams, why: str,
              extra: dict[str, float]) -> Judgement:
    """The unpaired ``mann-whitney`` judgement on the full samples, saying why pairing was not possible."""
    j = mann_whitney.judge(baseline, canary, params)
    reason = f"judged unpaired (mann-whitney) because {why}" + (f": {j.reason}" if j.reason else "")
    stats = dataclasses.replace(j.statistics, extra={**j.statistics.extra, **extra, "paired": 0.0})
    return dataclasses.replace(j, reason=reason, statistics=stats)


def _effect(diff: Differences, estimate: float, params: JudgeParams, start: int = 0) -> float:
    """The effect size of the points from ``start`` on (the post-change interval's points when it decides): the
    effect-size gates must read the same points as the interval they gate."""
    b, c = diff.baseline[start:], diff.canary[start:]
    if params.effect_size.measure is EffectMeasure.CLES:
        return cles(b, c)
    if diff.log:
        return math.exp(estimate)
    # a ratio of means says "higher" (> 1) exactly when the mean difference does only if both means are positive
    if not (b.mean() > 0 and c.mean() > 0):
        return math.nan
    return mean_ratio(b, c)


def _extra(diff: Differences, test: PairedTest, opts: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {
        **diff.counts, "paired": 1.0, "log_ratio": float(diff.log), "n_pairs": float(test.n),
        "mean_ratio": mean_ratio(diff.baseline, diff.canary),
        "unmatched_baseline": float(opts.get("unmatched_baseline", 0)),
        "unmatched_canary": float(opts.get("unmatched_canary", 0)),
        "df": float(test.df), "se": test.se, "critical_value": test.critical_value, "p_level": test.p_level,
        "p_change": test.p_change, "autocorrelation": test.phi_level, "autocorrelation_own": test.phi_own,
        "autocorrelation_peers": float(_peers(opts).shape[0]), "autocorrelation_pooled": float(test.pooled),
        "ci_confidence": test.confidence}
    mde = test.mde()
    out["mde"] = math.expm1(mde) if diff.log else mde  # a relative change for ratios, as the rank judges report it
    if diff.log:
        out.update(ratio=math.exp(test.estimate), ratio_lower=math.exp(test.lower), ratio_upper=math.exp(test.upper))
    if test.change is not None:
        c = test.change
        out.update(change_statistic=c.statistic, change_autocorrelation=test.phi_change, change_index=float(c.index), change_before=c.before,
                   change_after=c.after, post_lower=test.post_lower, post_upper=test.post_upper)
        ts = diff.timestamps
        if ts is not None and 0 < c.index < ts.size:
            out["change_at"] = float(ts[c.index])
    return out


def _decide(params: JudgeParams, stats: Statistics, diff: Differences, test: PairedTest, what: str) -> Judgement:
    """The shared rule on one interval, labelled with the confidence it has; the ratio added for log scales."""
    est, lo, hi = stats.estimate, stats.ci_lower, stats.ci_upper
    bound = params.tolerance * abs(est)
    # one rule for every judge but kayenta (judges._decision.non_inferiority): pass only when the interval lies
    # within the allowed effect (margin), high/low when it lies beyond no change by the tolerance and clears the
    # gate, inconclusive otherwise; on the log scale the interval is read as a ratio
    if diff.log:
        iv = ratio_interval(params, math.exp(est), math.exp(lo), math.exp(hi), test.confidence, float(test.n))
        ratio_stats = dataclasses.replace(stats, extra={**stats.extra, "log_bound": bound})
        j = non_inferiority(params, ratio_stats, iv, what=what.replace("log ratio", "ratio", 1),
                            bound=math.expm1(bound))
        j = dataclasses.replace(j, statistics=dataclasses.replace(j.statistics, estimate=est, ci_lower=lo,
                                                                  ci_upper=hi))
        allowed = (math.log(iv.allowed_down) if iv.allowed_down > 0 else -math.inf,
                   math.log(iv.allowed_up) if math.isfinite(iv.allowed_up) else math.inf)
    else:
        # values around 0 have no level to be relative to: the allowed effect is margin x the spread of the
        # differences, which a signal common to both sides leaves unchanged
        level = float(np.std(diff.d, ddof=1)) if diff.d.size > 1 else 0.0
        iv = shift_interval(params, est, lo, hi, test.confidence, float(test.n), level)
        j = non_inferiority(params, stats, iv, what=what, bound=bound)
        allowed = (iv.allowed_down, iv.allowed_up)
    # the report draws the interval against this band (on the decision scale: log ratio or difference)
    # (``allowed_upper`` / ``allowed_lower``: the margin, as the rule's reason reads it; ``bound``: the tolerance)
    more = {"band_lower": allowed[0], "band_upper": allowed[1], "reference": 0.0}
    note = f"; {test.n} timestamp pairs"
    unmatched = int(stats.extra.get("unmatched_baseline", 0) + stats.extra.get("unmatched_canary", 0))
    if unmatched:
        note += f" ({unmatched} unmatched points left out)"
    if diff.log:  # the rule's own text already reads the interval as a ratio
        if bound and math.isfinite(bound):
            more.update(tolerance_ratio_upper=math.exp(bound), tolerance_ratio_lower=math.exp(-bound))
    stats = dataclasses.replace(j.statistics, extra={**j.statistics.extra, **more})
    return dataclasses.replace(j, reason=j.reason + note, statistics=stats)


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Judge one metric on timestamp-paired differences (see the module docstring for the rule).

    Parameters
    ----------
    baseline, canary : 1-D array_like
        The scopes' full samples, used for the unpaired fall-back.
    params : JudgeParams
        ``options["paired_baseline"]`` / ``["paired_canary"]``: the values at the timestamps both scopes have, in
        time order (set by ``analysis.pipeline``); ``paired_timestamps``, ``unmatched_baseline`` and
        ``unmatched_canary`` are reported. ``confidence`` is split between the level and the change test.

    Returns
    -------
    Judgement
        nodata when a side is empty; pass when the two sides are equal at every timestamp; otherwise high / low /
        pass by :func:`judges._decision.decide` on the level interval, or on the post-change interval when the
        change test rejects and the level interval does not decide. ``mann-whitney``'s judgement, with the reason
        for the fall-back, when the timestamps do not pair.
    """
    mann_whitney._check(params)
    opts = dict(params.options)
    b_all, c_all = np.asarray(baseline, dtype=float), np.asarray(canary, dtype=float)
    diff, why, extra = pairing(b_all, c_all, opts, params, MIN_PAIRS, MIN_SHARE)
    if diff is None:
        return _fallback(b_all, c_all, params, why, extra)
    base = Statistics(n_baseline=diff.size, n_canary=diff.size, baseline_median=float(np.median(diff.baseline)),
                      canary_median=float(np.median(diff.canary)), extra={**diff.counts, "n_pairs": float(diff.size)})
    if np.array_equal(diff.baseline, diff.canary):
        return Judgement(Classification.PASS, "The canary and baseline are equal at every shared timestamp",
                         statistics=base)
    try:
        test = paired_test(diff.d, params.confidence, _peers(opts))
    except Exception as exc:  # a data problem becomes an outcome
        return error(params, f"{type(exc).__name__}: {exc}", base)
    what = "log ratio" if diff.log else "difference"
    stats = dataclasses.replace(base, estimate=test.estimate, ci_lower=test.lower, ci_upper=test.upper,
                                p_value=test.p_value, effect_size=_effect(diff, test.estimate, params),
                                extra={**base.extra, **_extra(diff, test, opts)})
    level = _decide(params, stats, diff, test, what)
    if level.classification not in (Classification.PASS, Classification.INCONCLUSIVE) or test.change is None \
            or not test.p_change <= (1 - params.confidence) * (1 - LEVEL_SHARE):
        return level
    c = test.change
    post = dataclasses.replace(stats, estimate=test.post_estimate, ci_lower=test.post_lower, ci_upper=test.post_upper,
                               effect_size=_effect(diff, test.post_estimate, params, c.index))
    where = f"after pair {c.index} of {test.n}"
    late = _decide(params, post, diff, test, f"{what} {where}")
    if late.classification not in (Classification.HIGH, Classification.LOW):
        return level
    why = f"; a change within the window {where} (CUSUM p {test.p_change:.3g})"
    return dataclasses.replace(late, reason=late.reason + why)


def _peer_rows(peers: Sequence[tuple[float, int]] | np.ndarray) -> np.ndarray:
    """Peers as an array of rows (autocorrelation, points); ``ValueError`` unless they are such pairs."""
    try:
        p = np.asarray(peers, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`options.peers` must be (autocorrelation, points) pairs: {exc}") from None
    if p.size == 0:
        return np.zeros((0, 2))
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"`options.peers` must be (autocorrelation, points) pairs, got shape {p.shape}")
    return p


def _peers(opts: dict[str, Any]) -> np.ndarray:
    """``options.peers`` as rows of (autocorrelation, points)."""
    return _peer_rows(opts.get("peers", ()))


def residual_autocorrelation(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams
                              ) -> tuple[float, int] | None:
    """The release pool's entry for one metric (``JudgePlugin.pool``): the bias-corrected lag-1 autocorrelation of
    its centred differences and their number, or None when the judge would not judge it paired on at least
    ``autocorrelation.MIN_POINTS`` pairs."""
    b_all, c_all = np.asarray(baseline, dtype=float), np.asarray(canary, dtype=float)
    try:
        diff = pairing(b_all, c_all, dict(params.options), params, MIN_PAIRS, MIN_SHARE)[0]
    except ValueError:  # the judge reports it; the metric only stays out of the pool
        return None
    if diff is None or diff.size < MIN_POINTS or not np.isfinite(diff.d).all():
        return None
    # the judge's own estimate (_phi); constant differences (two equal series, zero errors on both sides) have
    # none and stay out rather than pull the pool towards 0
    phi, n = lag1([diff.d])
    return (phi, n) if n else None


# options: those of the unpaired fall-back (``autocorrelation``); the pipeline adds the alignment at run time
# tolerance 0: "shown worse" is the interval beyond no change at the level. Kayenta's tolerance (the interval must
# also clear 0.25 x |estimate|) asks for a t a third larger at any size, so at 30 points it costs a fifth of the power
# against +20 %, and at large sizes it stops no small shift; the effect-size gates (``allowed_increase``) and the
# margin are what say how large a change matters. A metric or ``defaults`` may still set one.
PLUGIN = JudgePlugin("paired", judge, mann_whitney.RankOptions, paired=True, tolerance=0.0,
                     pool=residual_autocorrelation)
