"""The anytime-valid judges ``sequential-rate`` and ``sequential-mean`` (tests in :mod:`judges.eprocess`).

Each reads its series as looks in time order, one per step, and may be re-run on every new step (``canary watch``)
without inflating its false-alarm rate: the p-value it reports is the anytime p-value at the last look, the
interval the running intersection of the confidence sequence. With ``confidence`` c, the chance that a healthy
metric is ever flagged, however often it is judged, is at most ``1 - c``.

``tolerance`` does not apply (the sequence is compared with no change); the effect-size gates and the critical
thresholds do, as in the other judges.
"""

from __future__ import annotations

from dataclasses import dataclass

import dataclasses
import math

import numpy as np

from judges._decision import _fmt, effect_size, error, non_inferiority, nodata, ratio_interval, shift_interval, shortcut
from judges._types import Classification, Direction, Judgement, JudgeParams, NanStrategy, Statistics
from judges.preprocessing import median
from judges.rate import counts, dispersion
from judges.eprocess import SequentialResult, count_test, mean_test
from judges.registry import JudgePlugin


__all__ = ["judge_mean", "judge_rate"]

# steps with events from which the sequential rate judge estimates overdispersion, and before which it concludes
# nothing (paired-analysis.md 5: no rejection before the dispersion is estimable)
SEQUENTIAL_MIN_DF = 6
_ALTERNATIVE = {Direction.INCREASE: "greater", Direction.DECREASE: "less", Direction.EITHER: "two-sided"}


def _path_extra(res: SequentialResult) -> dict[str, float]:
    stop = res.stop()
    return {"looks": res.looks, "stop_look": math.nan if stop is None else stop + 1,
            "log_e_value": float(res.log_e[-1]) if res.looks else math.nan}


def judge_rate(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Sequential rate-ratio judge: the Lindon-Malek count e-process on events per step.

    Reads the same inputs as the ``rate`` judge (event counts per step, ``baseline_denominator`` and
    ``canary_denominator`` in ``params.options``, or ``options.canary_share`` for the canary's share of traffic
    without denominators, default 0.5). The per-step shares ``N_c / (N_b + N_c)`` enter the test look by look;
    overdispersion (as in ``rate``, from at least ``SEQUENTIAL_MIN_DF + 1`` steps with events, before which the
    judge is inconclusive) divides the counts. ``options.concentration`` is the prior concentration
    (default 30). The test is one-sided in the metric's direction (two-sided for ``either``); the metric is high
    (low) when that anytime p-value is at most ``1 - confidence`` with the ratio above (below) 1, subject to the
    effect-size gates. The reported interval is the two-sided confidence sequence. Baseline, canary and the
    denominators must be aligned per step (they are truncated to the shortest one otherwise).
    """
    opts = params.options
    try:
        rc = counts(baseline, canary, params)
    except ValueError as exc:
        return error(params, str(exc))
    # per-step shares and the dispersion need all four series on the same steps
    n = min(rc.baseline.size, rc.canary.size, rc.baseline_exposure.size, rc.canary_exposure.size)
    b, c = rc.baseline[:n], rc.canary[:n]
    nb, nc = rc.baseline_exposure[:n], rc.canary_exposure[:n]
    B, C, Nb, Nc = float(b.sum()), float(c.sum()), float(nb.sum()), float(nc.sum())
    extra = {"baseline_events": B, "canary_events": C, "baseline_exposure": Nb, "canary_exposure": Nc}
    stats = Statistics(n_baseline=int(rc.baseline.size), n_canary=int(rc.canary.size), baseline_median=median(b),
                       canary_median=median(c), extra=extra)
    if n == 0:
        return nodata(params, min(rc.baseline.size, rc.baseline_exposure.size),
                      min(rc.canary.size, rc.canary_exposure.size), stats)
    has_den = "baseline_denominator" in opts or "canary_denominator" in opts
    if has_den:
        if Nb == 0 or Nc == 0:
            side = "baseline" if Nb == 0 else "canary"
            return Judgement(Classification.NODATA, f"Missing data for {params.name}: no {side} exposure "
                             "(denominator is 0)", critical=params.critical, statistics=stats)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(nb + nc > 0, nc / (nb + nc), Nc / (Nb + Nc))
    else:
        share = np.asarray(float(opts.get("canary_share", 0.5)))
    over = bool(opts.get("overdispersion", True))
    phi, df = dispersion(dataclasses.replace(rc, baseline=b, canary=c, baseline_exposure=nb, canary_exposure=nc,
                                             aligned=True), SEQUENTIAL_MIN_DF) if over else (1.0, 0)
    try:
        res = count_test(b / phi, c / phi, share, concentration=float(opts.get("concentration", 30.0)),
                         alpha=1.0 - params.confidence, alternative=_ALTERNATIVE[params.direction])
    except ValueError as exc:
        return error(params, str(exc), stats)
    extra.update(_path_extra(res), dispersion=phi)
    if B == 0 and C == 0:
        return Judgement(Classification.INCONCLUSIVE, f"{params.name} is inconclusive (not enough data to tell): no "
                         "events in either arm", statistics=stats)
    ratio = math.exp(res.estimate[-1]) if res.estimate[-1] < 700 else math.inf
    if over and df < SEQUENTIAL_MIN_DF:
        # bursty counts fool a Poisson e-process; until the dispersion can be estimated nothing is concluded
        return Judgement(Classification.INCONCLUSIVE, f"{params.name} is inconclusive (not enough data to tell): "
                         f"{df + 1 if df else 0} step(s) with events, the dispersion of the counts needs "
                         f"{SEQUENTIAL_MIN_DF + 1} before the sequence can conclude", statistics=dataclasses.replace(
                             stats, extra={**extra, "extra_points": float(SEQUENTIAL_MIN_DF - df)}))
    stats = dataclasses.replace(stats, estimate=ratio, ci_lower=math.exp(res.ci_lower[-1]),
                                ci_upper=math.exp(min(res.ci_upper[-1], 700.0)) if math.isfinite(res.ci_upper[-1])
                                else math.inf, p_value=float(res.p_value[-1]), effect_size=ratio, extra=extra)
    return _decide_rate(params, stats, B, C, Nb if has_den else float(n), Nc if has_den else float(n))


def _decide_rate(params: JudgeParams, stats: Statistics, B: float, C: float, Nb: float, Nc: float) -> Judgement:
    """The three-way rule (``_decision.non_inferiority``) on the confidence sequence of the rate ratio: high (low)
    when the directional anytime p-value is at most ``1 - confidence``, the ratio is above (below) 1 and clears its
    gate; pass when the sequence lies within ``1 +/- margin``; inconclusive otherwise. The sequence holds at every
    look at once, so its level is ``confidence`` whenever it is read."""
    level = 1.0 - params.confidence
    what = (f"rate ratio (anytime p {_fmt(stats.p_value)}; {C:.7g} events in {Nc:.7g} canary vs {B:.7g} in "
            f"{Nb:.7g} baseline)")
    iv = ratio_interval(params, stats.estimate, stats.ci_lower, stats.ci_upper, params.confidence,
                        float(min(stats.n_baseline, stats.n_canary)))
    # the directional e-process decides "shown worse"; the two-sided sequence may still include 1 then
    up = stats.p_value <= level and stats.estimate > 1
    down = stats.p_value <= level and stats.estimate < 1
    iv = dataclasses.replace(iv, lower=max(iv.lower, 1.0 + 1e-12) if up else min(iv.lower, 1.0),
                             upper=min(iv.upper, 1.0 - 1e-12) if down else max(iv.upper, 1.0))
    return non_inferiority(params, stats, iv, what=what)


def _paired(baseline, canary, params: JudgeParams) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(baseline, dtype=float).ravel()
    y = np.asarray(canary, dtype=float).ravel()
    n = min(x.size, y.size)
    x, y = x[:n], y[:n]
    if np.isnan(x).all() or np.isnan(y).all():
        return x[:0], y[:0]  # a side never measured: no data, not zeros (see preprocessing.prepare)
    if params.nan_strategy is NanStrategy.REPLACE:
        return np.nan_to_num(x, nan=0.0), np.nan_to_num(y, nan=0.0)
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def judge_mean(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Sequential mean-shift judge: the asymptotic confidence sequence of the paired difference per step.

    Steps are paired by position (the same timestamps of both arms; the longer arm is truncated), which removes
    the load both arms share; a step with a NaN on either side is dropped (or read as 0). The variance is inflated
    for serial correlation unless ``options.autocorrelation`` is false; ``options.planned_n`` (default 60) and
    ``options.min_n`` (default 10) tune the sequence (see :func:`judges.eprocess.mean_test`). The metric is high
    (low) when the sequence for canary - baseline lies above (below) 0 and the effect size clears its gate.
    """
    x, y = _paired(baseline, canary, params)
    es, ratio = effect_size(x, y, params)
    stats = Statistics(n_baseline=int(x.size), n_canary=int(y.size), effect_size=es, baseline_median=median(x),
                       canary_median=median(y), extra={"mean_ratio": ratio})
    early = shortcut(x, y, params, stats)
    if early is not None:
        return early
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return error(params, "values must be finite", stats)
    opts = params.options
    try:
        res = mean_test(x, y, alpha=1.0 - params.confidence, planned_n=int(opts.get("planned_n", 60)),
                        min_n=int(opts.get("min_n", 10)), autocorrelation=bool(opts.get("autocorrelation", True)))
    except ValueError as exc:
        return error(params, str(exc), stats)
    stats = dataclasses.replace(stats, estimate=float(res.estimate[-1]), ci_lower=float(res.ci_lower[-1]),
                                ci_upper=float(res.ci_upper[-1]), p_value=float(res.p_value[-1]),
                                extra={"mean_ratio": ratio, "baseline_mean": float(np.mean(x)), **_path_extra(res)})
    iv = shift_interval(params, stats.estimate, stats.ci_lower, stats.ci_upper, params.confidence,
                        float(x.size), float(np.mean(x)))
    return non_inferiority(params, stats, iv, what="mean shift")


@dataclass(frozen=True, slots=True)
class SequentialRateOptions:
    """``canary_share`` of the traffic when no denominators are given, ``overdispersion`` correction on or off,
    ``concentration`` of the e-process' prior."""

    canary_share: float = 0.5
    overdispersion: bool = True
    concentration: float = 30.0


@dataclass(frozen=True, slots=True)
class SequentialMeanOptions:
    """``planned_n`` looks the mixture is tuned for, ``min_n`` points before any decision, ``autocorrelation``
    prewhitening on or off."""

    planned_n: int = 60
    min_n: int = 10
    autocorrelation: bool = True


RATE_PLUGIN = JudgePlugin("sequential-rate", judge_rate, SequentialRateOptions)
MEAN_PLUGIN = JudgePlugin("sequential-mean", judge_mean, SequentialMeanOptions)
