"""Planning a canary from recorded data: the smallest regression it can catch, or how long it must run.

For each gating metric the plan reads the baseline series of a source (a recorded file, or Prometheus over a
window: any collector) and answers with the rule the judges apply (``judges._decision.non_inferiority``): a metric
is shown worse when its interval, at confidence ``max(confidence, 1 - alpha / m)`` (Holm's first step over the m
gating metrics with a level, ``analysis.decision.family``), lies above no change by the judge's tolerance and its
effect clears the ``allowed_increase`` gate; power ``power``.

* ``paired`` metrics: the judge's level test (``judges.paired.planned_mde``: its EWC t, its critical value at its
  own estimate of the autocorrelation, its share of the level) on the per-timestamp differences, log ratios when
  every value is positive. When the source also holds the canary scope on at least half the baseline's timestamps
  (a recorded A/A or earlier canary), the plan reads those differences: their spread and lag-1 autocorrelation,
  at the split they were recorded at. From the baseline alone the canary is modelled as an independent copy whose
  noise grows as its share S shrinks, ``sd(d) = sd(y) sqrt(1 + (1 - S) / S)``: the load both scopes share then
  counts as noise, so that plan errs long.
* Shift metrics (``mann-whitney``, ``sequential-mean``, ``kayenta``): the Hodges-Lehmann shift has standard error
  ``s sqrt(VIF (1 + (1 - S) / S) / n)``, with ``s = 1.4826 MAD sqrt(pi / 3)`` (its large-sample value under
  normality), n points per arm, canary traffic share S (the canary's per-step noise grows as its traffic shrinks)
  and the AR(1) VIF the judge will apply at n points. A shift is detected with probability ``power`` when it is
  ``max(q / (1 - tolerance) + q_power) se`` and at least the gate ``allowed_increase - 1``, quantiles of Student's
  t on ``2 n / VIF - 2`` degrees of freedom at that level. Ranks bound the interval: with
  ``sqrt(3 n^2 / (2 n + 1) / VIF)`` below its quantile it spans all pairwise differences and only completely
  separated samples are flagged; the plan then marks its MDE as a lower bound, and a duration it proposes is
  always long enough to leave that regime.
* Count metrics (``rate``, ``sequential-rate``): the exact conditional binomial test of the rate ratio at the
  expected number of events, one-sided at that level, baseline events per step from the source and canary
  traffic ``S / (1 - S)`` times the baseline's, and at least the gate.

The answer is an approximation for planning (normal theory for the shift, Poisson counts without overdispersion);
``benchmarks/decision_quality.py`` measures the real operating characteristics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.special import ndtri
from scipy.stats import binom
from scipy.stats import t as student_t

from judges import json_number
from judges.autocorrelation import MIN_POINTS, ar1_vif, lag1
from judges.paired import planned_mde

from analysis.collectors import Collector
from analysis.config import CanaryConfig, MetricConfig
from analysis.runs.source import SourceOptions
from analysis.series import Series, Window

__all__ = ["MetricPlan", "Plan", "plan"]

SHIFT_JUDGES = ("mann-whitney", "kayenta", "sequential-mean")
RATE_JUDGES = ("rate", "sequential-rate")
P_VALUE_JUDGES = ("paired", "mann-whitney", "rate", "sequential-mean", "sequential-rate")
_MAX_POINTS = 1_000_000
_NORMAL_GRID = ndtri((np.arange(21) + 0.5) / 21)
_PAIRED_GRID = sorted({int(round(MIN_POINTS * 1.05 ** k)) for k in range(400) if MIN_POINTS * 1.05 ** k <= _MAX_POINTS})


@dataclass(frozen=True, slots=True)
class MetricPlan:
    """One metric's plan. ``mde`` is a relative change (0.1 = +10 %, for counts the rate ratio minus 1);
    ``needed`` the duration in seconds to detect ``effect``; inf when out of reach, NaN when not asked."""

    name: str
    judge: str
    kind: str
    step: float
    points: int
    autocorrelation: float = math.nan
    vif: float = math.nan
    noise: float = math.nan
    baseline_rate: float = math.nan
    events: float = math.nan
    mde: float = math.nan
    needed: float = math.nan
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: json_number(getattr(self, k)) if isinstance(getattr(self, k), float) else getattr(self, k)
                for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Plan:
    duration: float | None
    effect: float | None
    split: float
    power: float
    family: int
    metrics: tuple[MetricPlan, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration, "effect": self.effect, "split": self.split, "power": self.power,
                "family": self.family, "metrics": [m.to_dict() for m in self.metrics]}


def _step(ts: np.ndarray) -> float:
    d = np.diff(np.unique(ts))
    return float(np.median(d)) if d.size else math.nan


def _vif_at(phi: float, n: int) -> float:
    """The VIF the judge will apply at n points per arm, on average: its estimate of phi (plus its margin, see
    ``judges.autocorrelation``) varies with sd ``sqrt((1 - phi^2) / 2n)`` and the VIF is convex in it."""
    sd = math.sqrt(max(1 - phi * phi, 0.0) / (2 * n))
    draws = phi + sd * _NORMAL_GRID
    return float(np.mean([ar1_vif(f + (1 - min(max(f, 0.0), 1.0) ** 2) / (2 * math.sqrt(2 * n)), n)
                          for f in draws]))


def _shift_mde(n: int, scale: float, phi: float, split: float, q_level: Callable[[float], float],
               params, power: float) -> tuple[float, bool]:
    """Absolute MDE of a shift, and whether the rank interval is saturated (at its widest) at n points."""
    vif = _vif_at(phi, n) if params.options.get("autocorrelation", True) else 1.0
    df = max(2 * n / vif - 2, 1.0)
    # one interval decides: at the stricter of the metric's level and Holm's first step
    q_ci = max(float(student_t.isf((1 - params.confidence) / 2, df)), q_level(df))
    # the Hodges-Lehmann interval runs out of order statistics once q sigma_U sqrt(VIF) reaches nm / 2
    saturated = math.sqrt(3 * n * n / (2 * n + 1) / vif) <= q_ci
    need = q_ci / max(1 - params.tolerance, 1e-9)
    se = scale * math.sqrt(vif * (1 + (1 - split) / split) / n)
    return (need + float(student_t.isf(1 - power, df))) * se, saturated


def _rate_power(n: int, lam: float, split: float, ratio: float, level: float) -> float:
    """P(the rate judge flags ``ratio``) with n steps, ``lam`` baseline events per step, one-sided ``level``."""
    events = int(round(n * lam * (1 + ratio * split / (1 - split))))
    if events == 0:
        return 0.0
    k = float(binom.isf(level, events, split))  # smallest k with P(C > k) <= level under no change
    if not math.isfinite(k) or binom.sf(k, events, split) > level:
        return 0.0
    theta = split * ratio / (1 - split + split * ratio)
    return float(binom.sf(k, events, theta))


def _gate(params) -> float:
    """The effect-size gate ``allowed_increase - 1`` (0 when unset): smaller regressions are never flagged."""
    from judges import EffectMeasure

    es = params.effect_size
    if es.measure is EffectMeasure.MEAN_RATIO and es.allowed_increase is not None:
        return max(float(es.allowed_increase) - 1.0, 0.0)
    return 0.0


def _smallest(pred: Callable[[float], bool], lo: float, hi: float, integer: bool) -> float:
    """Smallest x in [lo, hi] with pred(x) true (pred monotone); inf if none."""
    if not pred(hi):
        return math.inf
    for _ in range(60):
        if (hi - lo <= 1) if integer else (hi - lo <= 1e-4 * hi):
            break
        mid = (lo + hi) // 2 if integer else (lo + hi) / 2
        lo, hi = (lo, mid) if pred(mid) else (mid, hi)
    return hi


def _paired_differences(ts: np.ndarray, v: np.ndarray, canary: Series | None) -> tuple[np.ndarray, bool] | None:
    """The recorded per-timestamp differences (log ratios when every value is positive) when the canary scope has
    at least half the baseline's timestamps, else None."""
    if canary is None:
        return None
    keep = np.isfinite(canary.values)
    common, ib, ic = np.intersect1d(ts, canary.timestamps[keep], return_indices=True)
    if common.size < max(MIN_POINTS, math.ceil(0.5 * ts.size)):
        return None
    b, c = v[ib], canary.values[keep][ic]
    log = bool((b > 0).all() and (c > 0).all())
    return (np.log(c) - np.log(b) if log else c - b), log


def _plan_paired(m: MetricConfig, ts: np.ndarray, v: np.ndarray, canary: Series | None, step: float, n: int,
                 effect: float | None, split: float, power: float, level: float) -> MetricPlan:
    recorded = _paired_differences(ts, v, canary)
    if recorded is not None:
        d, log = recorded
        sd, (phi, _) = float(np.std(d, ddof=1)), lag1([d])
        note = f"from {d.size} recorded timestamp pairs (at their split)"
    else:
        log = bool((v > 0).all())
        y = np.log(v) if log else v
        sd, (phi, _) = float(np.std(y, ddof=1)) * math.sqrt(1 + (1 - split) / split), lag1([y])
        note = "baseline only: canary modelled as an independent copy (shared load counted as noise)"
    centre = abs(float(np.mean(v)))
    if not sd > 0:
        return MetricPlan(m.name, m.judge, "paired", step, n, note="the differences are constant: no noise to plan "
                          "from")
    if not log and centre == 0:
        return MetricPlan(m.name, m.judge, "paired", step, n, note="zero-centred baseline: no relative change")
    confidence = max(m.params.confidence, 1 - level)  # the stricter of the metric's level and Holm's first step
    gate = _gate(m.params)

    def rel(k: int) -> float:
        mde = planned_mde(k, sd, phi, confidence, power)
        return max(math.expm1(mde) if log else mde / centre, gate)

    mde = rel(n) if n >= MIN_POINTS else math.inf
    needed = math.nan
    if effect:
        # on a 5 % grid of lengths, which every metric's search shares (the judge's nulls are cached per length)
        k = _smallest(lambda k: rel(_PAIRED_GRID[int(k)]) <= effect, 0, len(_PAIRED_GRID) - 1, True)
        needed = _PAIRED_GRID[int(k)] * step if math.isfinite(k) else math.inf
    return MetricPlan(m.name, m.judge, "paired", step, n, phi, ar1_vif(phi, max(n, MIN_POINTS)),
                      sd if log else sd / centre, mde=mde, needed=needed, note=note)


def _plan_metric(m: MetricConfig, base, den, duration, effect, split, power, level,
                 canary: Series | None = None) -> MetricPlan:
    keep = np.isfinite(base.values)
    ts, v = base.timestamps[keep], base.values[keep]
    step = _step(ts)
    if v.size < 2 or not math.isfinite(step):
        return MetricPlan(m.name, m.judge, "-", step, 0, note="too little recorded baseline data")
    n = int(duration // step) if duration else 0
    if m.judge == "paired":
        return _plan_paired(m, ts, v, canary, step, n, effect, split, power, level)
    if m.judge in SHIFT_JUDGES:
        mad = float(np.median(np.abs(v - np.median(v)))) * 1.4826
        scale = mad * math.sqrt(math.pi / 3)
        centre = abs(float(np.mean(v)))
        phi, _ = lag1([v]) if v.size >= MIN_POINTS else (0.0, 0)
        q_level = lambda df: float(student_t.isf(level / 2, df))  # noqa: E731
        if centre == 0 or scale == 0:
            return MetricPlan(m.name, m.judge, "shift", step, n, note="constant or zero-centred baseline")
        gate = _gate(m.params)

        def rel(k: float) -> tuple[float, bool]:
            mde_abs, saturated = _shift_mde(int(k), scale, phi, split, q_level, m.params, power)
            return max(mde_abs / centre, gate), saturated

        mde, saturated = rel(n) if n >= MIN_POINTS else (math.inf, True)
        needed = math.nan
        if effect:
            k = _smallest(lambda k: rel(k)[0] <= effect and not rel(k)[1], MIN_POINTS, _MAX_POINTS, True)
            needed = k * step if math.isfinite(k) else math.inf
        note = "" if not saturated else "rank interval at its widest: lower bound (only full separation flags)"
        return MetricPlan(m.name, m.judge, "shift", step, n, phi, _vif_at(phi, max(n, MIN_POINTS)),
                          scale / centre, mde=mde, needed=needed, note=note)
    if m.judge in RATE_JUDGES:
        lam = float(np.mean(v))
        den_values = den.values[np.isfinite(den.values)] if den is not None else np.zeros(0)
        den_mean = float(np.mean(den_values)) if den_values.size else 0.0
        rate = lam / den_mean if den_mean else math.nan
        one_sided = min((1 - m.params.confidence) / 2, level / 2)
        if lam == 0:
            k = math.ceil(math.log(one_sided) / math.log(split))
            return MetricPlan(m.name, m.judge, "rate", step, n, baseline_rate=0.0, events=0.0, mde=math.inf,
                              note=f"no baseline events recorded; {k} canary events against none are flagged")
        mde = needed = math.nan
        gate = _gate(m.params)
        if n:
            mde = max(_smallest(lambda r: _rate_power(n, lam, split, r, one_sided) >= power, 1.0, 1e4, False) - 1,
                      gate)
        if effect:
            k = _smallest(lambda k: _rate_power(int(k), lam, split, 1 + effect, one_sided) >= power, 1,
                          _MAX_POINTS, True) if effect >= gate else math.inf
            needed = k * step if math.isfinite(k) else math.inf
        return MetricPlan(m.name, m.judge, "rate", step, n, baseline_rate=rate, events=lam * n, mde=mde,
                          needed=needed)
    return MetricPlan(m.name, m.judge, "-", step, n, note="an absolute rule, not a comparison: nothing to plan")


def plan(config: CanaryConfig, collector: Collector, *, duration: float | None = None, effect: float | None = None,
         split: float = 0.5, power: float = 0.9, window: Window | None = None) -> Plan:
    """Plan every gating metric of ``config`` from the baseline series of a source.

    Parameters
    ----------
    config : CanaryConfig
    collector : Collector
        A recorded file (``FileCollector``) or Prometheus (``PrometheusCollector``): the ``baseline`` scope of
        its answer, and the ``canary`` scope for paired metrics when it has the baseline's timestamps.
    duration : float, optional
        Canary duration in seconds: gives each metric's minimum detectable effect.
    effect : float, optional
        Relative regression (0.1 = +10 %; for counts the rate ratio 1.1): gives the duration needed.
    split : float
        The canary's share of the traffic that baseline and canary receive together, in (0, 1).
    power : float
        Probability of detecting the effect.
    window : Window, optional
        The stretch of baseline history to read (a file's own window when None).
    """
    if duration is None and effect is None:
        raise ValueError("give a duration, an effect, or both")
    if not 0 < split < 1:
        raise ValueError(f"`split` must be in (0, 1), got {split!r}")
    if not 0.5 <= power < 1:
        raise ValueError(f"`power` must be in [0.5, 1), got {power!r}")
    if window is None and hasattr(collector, "window"):
        window = collector.window()
    gating = [m for m in config.metrics if not m.muted]
    family = sum(m.judge in P_VALUE_JUDGES for m in gating) if config.holm else 1
    level = config.alpha / max(family, 1) if config.holm else 1.0
    wanted = {m.name for m in gating} | {m.denominator for m in gating if m.denominator}
    pairs = collector.collect([m for m in config.metrics if m.name in wanted], window)
    rows = []
    for m in gating:
        pair = pairs.get(m.name)
        den = pairs.get(m.denominator) if m.denominator else None
        if pair is None or pair.error or (den is not None and den.error):
            why = (pair.error if pair is not None and pair.error else den.error if den is not None and den.error
                   else "the source returned nothing")
            rows.append(MetricPlan(m.name, m.judge, "-", math.nan, 0, note=f"no baseline data: {why}"))
            continue
        canary = pair.canary if not pair.side_error("canary") else None
        rows.append(_plan_metric(m, pair.baseline, den.baseline if den is not None else None, duration, effect,
                                 split, power, level, canary))
    return Plan(duration, effect, split, power, family, tuple(rows))



def plan_source(config: CanaryConfig, source: SourceOptions, **kwargs: Any) -> Plan:
    """``canary plan``: :func:`plan` from the baseline series of the source ``source`` describes."""
    from analysis.runs.source import open_source

    import time

    from analysis.runs.source import resolve_window

    with open_source(config, source, need="the baseline data to plan from") as opened:
        window = resolve_window(source, time.time(), opened.recorded) \
            if opened.recorded is None or source.start or source.end else opened.recorded
        return plan(opened.config, opened.collector, window=window, **kwargs)
