"""The ``mann-whitney`` judge: a rank test of canary against baseline under Kayenta's decision rule.

The statistical test (:func:`mann_whitney_test`) and the decision (:func:`judges._decision.decide`) are separate:

* test: the Hodges-Lehmann shift ``canary - baseline`` with its Moses/Bauer interval at ``params.confidence``
  (exact order statistics of the pairwise differences, exact null distribution for small untied samples as R's
  ``wilcox.test(conf.int=TRUE)``; see ``_hodges_lehmann``), the two-sided p-value of
  ``scipy.stats.mannwhitneyu(canary, baseline, method='auto')``, U, CLES and the mean ratio; unless
  ``options.autocorrelation`` is false, serial correlation within the arms widens the interval (``vif``) and
  t-references the p-value (``judges.autocorrelation``);
* decision: the three-way rule of ``_decision.non_inferiority`` on the interval at the confidence it attains:
  high (low) when it lies above (below) ``+/-tolerance*|estimate|`` and the effect-size gate is cleared, or wholly
  past the allowed effect ``margin * level`` (the arms' mean level); pass when it lies within the allowed effect; inconclusive
  otherwise (and whenever too few points cannot reach the requested confidence); critical metrics escalate.

Unlike Kayenta's judge the interval is exact where R's is, and never inverted: ``ci_lower <= estimate <= ci_upper``.
:func:`judge_many` judges many metrics at once with the same result as :func:`judge` on each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import replace
from typing import Sequence

import numpy as np
from scipy.special import ndtr
from scipy.stats import mannwhitneyu

from judges import _pairwise
from judges._decision import effect_size, error, non_inferiority, shift_interval, shortcut
from judges.autocorrelation import for_params as _serial
from judges.autocorrelation import welch_interval
from judges._hodges_lehmann import rank_summary, shift_intervals
from judges._types import EffectMeasure, Judgement, JudgeParams, OutlierStrategy, Statistics
from judges._serial_batch import serial_batch
from judges.preprocessing import Prepared, counts, median, prepare
from judges.registry import JudgePlugin

__all__ = ["judge", "judge_many", "mann_whitney_test"]


def _check(params: JudgeParams) -> None:
    if not 0.0 < params.confidence < 1.0:
        raise ValueError(f"`confidence` of {params.name} must be in (0, 1), got {params.confidence}")
    if not params.tolerance >= 0.0:
        raise ValueError(f"`tolerance` of {params.name} must be >= 0, got {params.tolerance}")


def min_points(confidence: float) -> int:
    """Fewest points per arm at which the exact rank interval reaches ``confidence``: ``2 / C(2n, n) <= 1 - c``
    (the interval then spans every pairwise difference; 3 vs 3 reach 90 % at most, 5 vs 5 reach 99.2 %)."""
    n = 1
    while 2.0 / math.comb(2 * n, n) > 1.0 - confidence + 1e-12:
        n += 1
    return n


def decide(params: JudgeParams, stats: Statistics, level: float) -> Judgement:
    """The three-way rule (``_decision.non_inferiority``) on the Hodges-Lehmann interval at the confidence it
    attains; the allowed effect is ``margin * level``, ``level`` the mean of the two arms' absolute means (so that
    swapping the arms mirrors the outcome exactly), the tolerance ``tolerance * |shift|`` stays as
    Kayenta's guard against tiny shifts."""
    iv = shift_interval(params, stats.estimate, stats.ci_lower, stats.ci_upper,
                        float(stats.extra.get("ci_confidence", params.confidence)),
                        min(stats.n_baseline, stats.n_canary), level, min_points(params.confidence))
    return non_inferiority(params, stats, iv, bound=params.tolerance * abs(stats.estimate))


def _welch_fallback(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams, stats: Statistics) -> Statistics:
    """When serial correlation leaves the rank interval at its widest (every pairwise difference) short of the
    requested confidence, the serially corrected Welch interval of the mean difference (``welch_interval``, the
    interval of the p-value the judge already combines with the rank test) takes its place at that confidence;
    ``extra.ci_method`` is 1 then. Small samples without serial correction keep their exact rank interval and
    its attained level."""
    attained = float(stats.extra.get("ci_confidence", params.confidence))
    if attained >= params.confidence - 1e-9 or not stats.extra.get("vif", 1.0) > 1.0:
        return stats
    ci = welch_interval(baseline, canary, params.confidence)
    if ci is None:
        return stats
    return replace(stats, estimate=ci[0], ci_lower=ci[1], ci_upper=ci[2],
                   extra={**stats.extra, "ci_confidence": params.confidence, "ci_method": 1.0})


def _median(sorted_rows: np.ndarray) -> np.ndarray:
    n = sorted_rows.shape[1]
    return (sorted_rows[:, (n - 1) // 2] + sorted_rows[:, n // 2]) / 2


def _base(b: Prepared, c: Prepared) -> Statistics:
    """What is known before any test: sizes, medians and the preprocessing counts."""
    return Statistics(n_baseline=b.values.size, n_canary=c.values.size, baseline_median=median(b.values),
                      canary_median=median(c.values), extra=counts(b, c))


def mann_whitney_test(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams, *,
                      vif: float = 1.0) -> Statistics:
    """Statistics of the rank test on preprocessed, non-empty samples (no decision).

    ``estimate``, ``ci_lower``, ``ci_upper``: Hodges-Lehmann shift and interval at ``params.confidence``;
    ``p_value``: two-sided ``scipy.stats.mannwhitneyu(canary, baseline)``; ``effect_size`` per
    ``params.effect_size.measure``; ``extra``: ``u`` (U of the canary), ``mean_ratio``, ``ci_confidence`` (achieved
    level) and ``ci_exact`` (1 when the interval used the exact null distribution). ``vif`` (variance inflation
    of serially correlated samples) widens the interval only; the p-value is scipy's.
    """
    x, y = np.sort(canary)[None], np.sort(baseline)[None]
    mw = mannwhitneyu(canary, baseline, alternative="two-sided", method="auto")
    ci = shift_intervals(x, y, params.confidence, vif=vif)
    es, ratio = effect_size(baseline, canary, params)
    return Statistics(
        n_baseline=y.size, n_canary=x.size, estimate=float(ci["estimate"][0]), ci_lower=float(ci["lower"][0]),
        ci_upper=float(ci["upper"][0]), p_value=float(mw.pvalue), effect_size=es,
        baseline_median=float(_median(y)[0]), canary_median=float(_median(x)[0]),
        extra={"u": float(mw.statistic), "mean_ratio": ratio, "ci_confidence": float(ci["confidence"][0]),
               "ci_exact": float(ci["exact"][0])})


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    """Judge one metric: is the canary shifted against the baseline beyond the tolerance?

    Parameters
    ----------
    baseline, canary : 1-D array_like of metric values; NaN and outliers are handled per ``params``.
    params : the metric's parameters (``confidence``, ``tolerance``, ``direction``, effect-size gates, ...).

    Returns
    -------
    Judgement
        nodata when a side is empty after preprocessing; pass for identical or single-valued samples; otherwise
        high / low / pass by Kayenta's rule on the Hodges-Lehmann interval (see the module docstring). A failure
        inside the test becomes an error outcome; only invalid parameters raise.
    """
    _check(params)
    b, c = prepare(baseline, params), prepare(canary, params)
    stats = _base(b, c)
    cut = shortcut(b.values, c.values, params, stats)
    if cut is not None:
        return cut
    try:
        # serial correlation within the arms (the default): wider interval, t-referenced p (judges.autocorrelation)
        serial = _serial(b.values, c.values, params)
        test = mann_whitney_test(b.values, c.values, params, vif=serial.interval_vif if serial else 1.0)
        if serial is not None:
            test = serial.apply(test)
    except Exception as exc:  # a data problem becomes an outcome
        return error(params, f"{type(exc).__name__}: {exc}", stats)
    test = _welch_fallback(b.values, c.values, params, replace(test, extra={**test.extra, **stats.extra}))
    return decide(params, test, (abs(float(np.mean(b.values))) + abs(float(np.mean(c.values)))) / 2)


def _p_values(xs: np.ndarray, ys: np.ndarray, u: np.ndarray, pooled_ties: np.ndarray,
              tied: np.ndarray) -> np.ndarray:
    """Two-sided p of ``scipy.stats.mannwhitneyu(method='auto')`` for each row, from precomputed U and ties."""
    n, m = xs.shape[1], ys.shape[1]
    exact = ~tied & (min(n, m) <= 8)
    p = np.empty(u.size)
    if exact.any():
        p[exact] = mannwhitneyu(xs[exact], ys[exact], axis=1, method="exact").pvalue
    if (~exact).any():
        # scipy's asymptotic branch: z = (max(U1, U2) - nm/2 - 0.5) / sigma (tie-corrected), p = 2 sf(z)
        sigma = np.sqrt(n * m / 12 * ((n + m + 1) - pooled_ties[~exact] / ((n + m) * (n + m - 1))))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.maximum(u[~exact], n * m - u[~exact]) - n * m / 2 - 0.5) / sigma
        p[~exact] = np.clip(2 * ndtr(-z), 0.0, 1.0)
    return p


def _serial_rows(x: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray, orders, params: list[JudgeParams]):
    """The serial-correlation correction of each row (``autocorrelation.for_params``): one ``SerialBatch`` over the
    rows that have it on, from the compiled rank lag sums, or (without numba) a list of ``SerialAdjustment``."""
    on = np.array([bool(p.options.get("autocorrelation", True)) for p in params])
    jit = _pairwise.kernels() if orders is not None else None  # argsorted for the kernels
    rows = np.flatnonzero(on)
    pick = (lambda a: a) if rows.size == len(params) else (lambda a: a[rows])  # noqa: E731
    lag: tuple[np.ndarray, ...]
    if jit is None:
        # small groups (no compiled kernels): the same exact lag sums from scipy's mid-ranks, row-wise
        lag = (*_rank_lag(pick(y)), *_rank_lag(pick(x)))
    else:
        lag = tuple(np.empty(rows.size) for _ in range(4))
        jit.rank_lag1(pick(ys), pick(orders[1]), lag[0], lag[1])
        jit.rank_lag1(pick(xs), pick(orders[0]), lag[2], lag[3])
    return (rows, serial_batch(pick(y), pick(x), lag, params[0].confidence)), None


def _rank_lag(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_kernels.rank_lag1`` with numpy: lag-1 cross product and sum of squares of the centred mid-ranks of each
    row in time order. Mid-ranks minus ``(n + 1) / 2`` are multiples of 1/2, so both sums are exact in any order."""
    from scipy.stats import rankdata

    c = rankdata(v, axis=1) - (v.shape[1] + 1) / 2
    return (c[:, 1:] * c[:, :-1]).sum(axis=1), (c * c).sum(axis=1)


def _judge_group(x: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray, orders, params: list[JudgeParams],
                 dropped: list[dict]) -> list[Judgement]:
    """Judge rows of canary ``x`` and baseline ``y`` (time order; ``xs``, ``ys`` sorted, ``orders`` their argsorts
    or None) of one shape and one confidence level."""
    n, m = xs.shape[1], ys.shape[1]
    k = len(params)
    mc, mb = x.mean(axis=1), y.mean(axis=1)  # unsorted rows: the same summation order as judge()
    ranks = rank_summary(xs, ys)
    batch, serial = _serial_rows(x, y, xs, ys, orders, params)
    vif = np.ones(k)
    if batch is not None:
        rows, sb = batch
        vif[rows[sb.active]] = sb.interval_vif[sb.active]
    else:
        vif = np.array([s.interval_vif if s else 1.0 for s in serial])
    ci = shift_intervals(xs, ys, params[0].confidence, ranks=ranks, vif=vif)
    p = _p_values(xs, ys, ranks.u, ranks.pooled_ties, ranks.tied)
    p_final, corrected = p.copy(), {}
    if batch is not None:
        p_final[rows], p_rank = sb.p_values(p[rows])
        corrected = {int(r): {**sb.extra(j), "p_rank": float(p_rank[j])}
                     for j, r in enumerate(rows) if sb.active[j]}
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((mb == 0) | (mc == 0), np.nan, mc / mb)  # effect_size.mean_ratio, row-wise
    cles = ranks.u / (n * m)  # Vargha-Delaney A = U / nm, equal to effect_size.cles
    cols = [a.tolist() for a in (ci["estimate"], ci["lower"], ci["upper"], p_final, cles, ratio, _median(ys),
                                 _median(xs), ranks.u, ci["confidence"], ci["exact"].astype(float))]
    out = []
    for r, (est, lo, hi, pv, cl, rt, med_b, med_c, u, conf, exact, base_mean, can_mean) in enumerate(
            zip(*cols, mb.tolist(), mc.tolist())):
        prm = params[r]
        extra = {"u": u, "mean_ratio": rt, "ci_confidence": conf, "ci_exact": exact, **corrected.get(r, {})}
        one = serial is not None and serial[r] is not None
        if not one:
            extra.update(dropped[r])  # the key order of judge(): test, correction, preprocessing counts
        stats = Statistics(
            n_baseline=m, n_canary=n, estimate=est, ci_lower=lo, ci_upper=hi, p_value=pv,
            effect_size=cl if prm.effect_size.measure is EffectMeasure.CLES else rt, baseline_median=med_b,
            canary_median=med_c, extra=extra)
        if one:
            stats = serial[r].apply(stats)
            stats = replace(stats, extra={**stats.extra, **dropped[r]})
        stats = _welch_fallback(y[r], x[r], prm, stats)
        out.append(decide(prm, stats, (abs(base_mean) + abs(can_mean)) / 2))
    return out


def judge_many(baselines: Sequence[np.ndarray] | np.ndarray, canaries: Sequence[np.ndarray] | np.ndarray,
               params: JudgeParams | Sequence[JudgeParams]) -> list[Judgement]:
    """Judge many metrics at once; ``judge_many(B, C, P)[i]`` equals ``judge(B[i], C[i], P[i])``.

    Metrics whose samples have the same sizes after preprocessing (and the same confidence level) are stacked
    and tested together, which removes the per-call overhead that dominates at Prometheus sizes.

    Parameters
    ----------
    baselines, canaries : sequences of 1-D arrays, or 2-D arrays with one metric per row.
    params : one JudgeParams for every metric, or one per metric.
    """
    nb = len(baselines)
    if len(canaries) != nb:
        raise ValueError(f"`baselines` and `canaries` must have the same length, got {nb} and {len(canaries)}")
    plist = [params] * nb if isinstance(params, JudgeParams) else list(params)
    if len(plist) != nb:
        raise ValueError(f"`params` must be one JudgeParams or one per metric, got {len(plist)} for {nb}")
    for prm in {id(p): p for p in plist}.values():
        _check(prm)
    out: list[Judgement | None] = [None] * nb
    groups: dict[tuple, list[int]] = {}
    prepared = _prepare_all(baselines, canaries, plist)
    for i, (b, c) in enumerate(prepared):
        if b.values.size == 0 or c.values.size == 0:
            out[i] = shortcut(b.values, c.values, plist[i], _base(b, c))
        else:
            groups.setdefault((c.values.size, b.values.size, plist[i].confidence), []).append(i)
    for group in groups.values():
        n, m = prepared[group[0]][1].values.size, prepared[group[0]][0].values.size
        jit = _pairwise.kernels(len(group) * (n + m))
        # blocks of rows bound the working memory (stacked, sorted and argsorted copies of the samples) to a few
        # MB whatever the number of metrics; rows are judged independently, so the results do not change
        blocks = -(-len(group) // max(_BLOCK_ROWS, _BLOCK_POINTS // (n + m)))
        size = -(-len(group) // blocks)  # balanced, so that no block falls below the compiled kernels' threshold
        for lo in range(0, len(group), size):
            _judge_block(group[lo:lo + size], prepared, plist, baselines, canaries, jit, out)
    return out  # type: ignore[return-value]


_BLOCK_POINTS = 2 * _pairwise.JIT_MIN_POINTS
_BLOCK_ROWS = 64


def _judge_block(idx: list[int], prepared: list[tuple[Prepared, Prepared]], plist: list[JudgeParams], baselines,
                 canaries, jit, out: list[Judgement | None]) -> None:
    """Judge the metrics ``idx`` (one shape, one confidence level) into ``out``."""
    x = np.stack([prepared[i][1].values for i in idx])
    y = np.stack([prepared[i][0].values for i in idx])
    orders = None
    if jit is not None and any(plist[i].options.get("autocorrelation", True) for i in idx):
        # the rank autocorrelation needs each value's rank in time order: sort by an argsort
        orders = np.argsort(x, axis=1), np.argsort(y, axis=1)
        xs, ys = np.take_along_axis(x, orders[0], 1), np.take_along_axis(y, orders[1], 1)
    else:
        xs, ys = np.sort(x, axis=1), np.sort(y, axis=1)
    same = (xs == ys).all(axis=1) if xs.shape == ys.shape else np.zeros(len(idx), bool)
    single = np.minimum(xs[:, 0], ys[:, 0]) == np.maximum(xs[:, -1], ys[:, -1])
    test = ~(same | single)
    for r in np.flatnonzero(~test):
        i = idx[r]
        out[i] = shortcut(prepared[i][0].values, prepared[i][1].values, plist[i], _base(*prepared[i]))
    rows = np.flatnonzero(test)
    if rows.size:
        sel = [idx[r] for r in rows]
        if rows.size == len(idx):
            rows = slice(None)  # type: ignore[assignment]  # every row: views, not copies
        try:
            res = _judge_group(x[rows], y[rows], xs[rows], ys[rows],
                               None if orders is None else (orders[0][rows], orders[1][rows]),
                               [plist[i] for i in sel], [counts(*prepared[i]) for i in sel])
        except Exception:  # fall back to one metric at a time, so that a failure stays with its metric
            res = [judge(baselines[i], canaries[i], plist[i]) for i in sel]
        for i, j in zip(sel, res):
            out[i] = j


def _prepare_all(baselines, canaries, plist: list[JudgeParams]) -> list[tuple[Prepared, Prepared]]:
    """``prepare`` on every side; 2-D NaN-free input with outliers kept is already prepared."""
    if (isinstance(baselines, np.ndarray) and isinstance(canaries, np.ndarray) and baselines.ndim == 2
            and canaries.ndim == 2 and all(p.outlier_strategy is OutlierStrategy.KEEP for p in plist)):
        bs, cs = np.asarray(baselines, dtype=float), np.asarray(canaries, dtype=float)
        if not (np.isnan(bs).any() or np.isnan(cs).any()):
            return [(Prepared(b, 0, 0), Prepared(c, 0, 0)) for b, c in zip(bs, cs)]
    return [(prepare(b, p), prepare(c, p)) for b, c, p in zip(baselines, canaries, plist)]


@dataclass(frozen=True, slots=True)
class RankOptions:
    """``autocorrelation``: correct the test and the interval for serial correlation (default on)."""

    autocorrelation: bool = True


PLUGIN = JudgePlugin("mann-whitney", judge, RankOptions, judge_many)
