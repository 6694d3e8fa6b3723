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


# --- honest power: the three-way rule of every judge except ``kayenta`` ----------------------------------------------

DEFAULT_MARGIN = 0.25
DEFAULT_POWER = 0.8
_ATTAIN_SLACK = 1e-9


def pct(confidence: float) -> str:
    """A confidence level as a percentage with the digits it needs: 0.98 -> '98%', 0.99583 -> '99.58%'."""
    return f"{confidence * 100:.2f}".rstrip("0").rstrip(".") + "%"


def margin(params: JudgeParams) -> tuple[float, float]:
    """The allowed relative change (upwards, downwards) of a metric: ``params.margin``, else the effect-size gate
    ``allowed_increase - 1`` / ``1 - allowed_decrease`` when it is set on the mean-ratio scale, else
    ``DEFAULT_MARGIN``. A metric passes only when its interval shows the change is within it."""
    if params.margin is not None:
        return float(params.margin), float(params.margin)
    es = params.effect_size
    ratio = es.measure is EffectMeasure.MEAN_RATIO
    up = es.allowed_increase - 1.0 if ratio and es.allowed_increase is not None and es.allowed_increase > 1 \
        else DEFAULT_MARGIN
    down = 1.0 - es.allowed_decrease if ratio and es.allowed_decrease is not None and es.allowed_decrease < 1 \
        else DEFAULT_MARGIN
    return up, down


@dataclasses.dataclass(frozen=True, slots=True)
class Interval:
    """An effect with its interval, in the units the decision compares (a shift, or a ratio when ``ratio``).

    ``allowed_up`` / ``allowed_down``: the largest change up / down that is not a regression, in the same units
    (``null * (1 + margin)`` for a ratio, ``margin * level`` away from 0 for a shift). ``confidence`` is the level
    the interval actually has (an exact rank interval cannot reach 98 % with 3 points per arm; a Holm step may
    raise it); ``n`` the points per arm it rests on; ``min_points`` the fewest points per arm at which the judge
    can reach the requested confidence at all; ``level`` the baseline's level that turns a shift into a relative
    change.
    """

    estimate: float
    lower: float
    upper: float
    confidence: float
    allowed_up: float
    allowed_down: float
    n: float
    ratio: bool = False
    min_points: float = 0.0
    level: float = math.nan

    @property
    def null(self) -> float:
        return 1.0 if self.ratio else 0.0

    def _t(self, v: float) -> float:
        """Onto the scale where the interval is symmetric-ish and shrinks as 1 / sqrt(n): log for ratios."""
        if not self.ratio:
            return v
        return math.log(v) if v > 0 else -math.inf

    def standard_error(self) -> float:
        """Standard error read back from the interval's width (normal quantile of its level)."""
        from scipy.special import ndtri

        q = float(ndtri(1 - (1 - self.confidence) / 2))
        lo, hi = self._t(self.lower), self._t(self.upper)
        if not (math.isfinite(lo) and math.isfinite(hi)) or q <= 0:
            return math.inf
        return (hi - lo) / (2 * q)

    def mde(self, power: float = DEFAULT_POWER) -> float:
        """Minimum detectable effect as a relative change: ``(z_{1-a/2} + z_power) * SE`` (on the log scale for a
        ratio); inf when the interval is unbounded, NaN for a shift without a baseline level."""
        from scipy.special import ndtri

        se = self.standard_error()
        q = float(ndtri(1 - (1 - self.confidence) / 2)) + float(ndtri(power))
        if not math.isfinite(se):
            return math.inf
        if self.ratio:
            return math.expm1(q * se)
        return q * se / abs(self.level) if self.level and math.isfinite(self.level) else math.nan

    def extra_points(self, bound: float = 0.0) -> float:
        """More points per arm that would resolve an inconclusive interval if the estimate stayed where it is:
        its half-width towards the allowed effect (or towards no change, when the estimate is beyond the allowed
        effect) shrinks as ``1 / sqrt(n)``. At least the points that reach the requested confidence at all."""
        est, lo, hi = self._t(self.estimate), self._t(self.lower), self._t(self.upper)
        up, down, null = self._t(self.allowed_up), self._t(self.allowed_down), self._t(self.null)
        if est >= up:  # heading for a failure: the lower end must clear no change
            gaps = [(est - lo, est - null - bound)]
        elif est <= down:
            gaps = [(hi - est, null - bound - est)]
        else:  # heading for a pass: the ends must come inside the allowed effect
            gaps = [g for g, open_ in (((hi - est, up - est), hi >= up), ((est - lo, est - down), lo <= down))
                    if open_]
        need = float(self.n)
        for width, room in gaps:
            if not (room > 0 and math.isfinite(width) and math.isfinite(est) and self.n > 0):
                return math.inf
            need = max(need, self.n * (width / room) ** 2)
        extra = max(need, self.min_points) - self.n
        return float(math.ceil(max(extra, 1.0))) if math.isfinite(extra) else math.inf


def _against(allowed: str, past: bool) -> str:
    """How a flagged interval stands against the allowed effect: wholly past it, or only beyond no change."""
    return f"and past the allowed effect {allowed}" if past else f"(allowed effect {allowed})"


def non_inferiority(params: JudgeParams, stats: Statistics, iv: Interval, what: str = "shift",
                    bound: float = 0.0, unit: str = "") -> Judgement:
    """The three-way rule every judge except ``kayenta`` applies to its interval (one interval decides).

    With the interval ``[lo, hi]`` at the confidence it attains, the allowed effect ``A`` (``iv.allowed_up``
    upwards, ``iv.allowed_down`` downwards, see :func:`margin`) and no change ``N``, for a direction that admits an
    increase (a decrease mirrors it):

    * ``high`` (shown worse) when ``lo > A``, or when ``lo > N + bound`` and the effect size clears the
      ``allowed_increase`` gate (NaN skips it): the interval lies beyond no change and the effect is one the
      metric does not allow;
    * ``pass`` (shown not worse than allowed) when ``hi < A``;
    * ``inconclusive`` (not enough data to tell) otherwise, and whenever the interval does not attain the
      requested ``params.confidence``, with the minimum detectable effect and the extra points that would resolve
      it in ``statistics.extra`` (``mde``, ``extra_points``).

    A critical metric's high (low) is a critical failure past its ``critical_increase`` (``critical_decrease``).
    ``bound`` is a judge's own tolerance on top of no change (0 for most). Reference: the one-sided equivalence
    (TOST) reading of a confidence interval, Schuirmann (1987), J. Pharmacokinet. Biopharm. 15(6):657-680.
    """
    est, lo, hi, es = iv.estimate, iv.lower, iv.upper, stats.effect_size
    allowed_inc, allowed_dec, crit_inc, crit_dec = params.effect_size.thresholds()
    up_dir = params.direction in (Direction.INCREASE, Direction.EITHER)
    down_dir = params.direction in (Direction.DECREASE, Direction.EITHER)
    attained = iv.confidence >= params.confidence - _ATTAIN_SLACK
    es_nan = math.isnan(es)
    label = f"{what} {_fmt(est)}{unit} ({pct(iv.confidence)} CI {_fmt(lo)} to {_fmt(hi)}{unit})"
    up_txt = f"ratio {_fmt(iv.allowed_up)}" if iv.ratio else f"+{_fmt(iv.allowed_up)}{unit}"
    down_txt = f"ratio {_fmt(iv.allowed_down)}" if iv.ratio else f"{_fmt(iv.allowed_down)}{unit}"
    allowed = up_txt if not down_dir else down_txt if not up_dir else f"{down_txt} to {up_txt}"
    extra = {**stats.extra, "ci_confidence": iv.confidence, "allowed_upper": iv.allowed_up,
             "allowed_lower": iv.allowed_down}
    if bound:
        extra["bound"] = bound
    mde_v = iv.mde()
    extra["mde"] = mde_v
    stats = dataclasses.replace(stats, extra=extra)
    if attained and up_dir and (lo > iv.allowed_up or (lo > iv.null + bound and (es_nan or es >= allowed_inc))):
        critical = params.critical and (es_nan or es >= crit_inc)
        tag = " (critical)" if critical else ""
        return Judgement(Classification.HIGH, f"{params.name} is higher{tag}: {label} lies above no change "
                         f"{_against(allowed, lo > iv.allowed_up)}", critical=critical, statistics=stats)
    if attained and down_dir and (hi < iv.allowed_down or (hi < iv.null - bound and (es_nan or es <= allowed_dec))):
        critical = params.critical and (es_nan or es <= crit_dec)
        tag = " (critical)" if critical else ""
        return Judgement(Classification.LOW, f"{params.name} is lower{tag}: {label} lies below no change "
                         f"{_against(allowed, hi < iv.allowed_down)}", critical=critical, statistics=stats)
    within = (not up_dir or hi < iv.allowed_up) and (not down_dir or lo > iv.allowed_down)
    if attained and within:
        return Judgement(Classification.PASS, f"shown within the allowed effect {allowed}: {label}",
                         statistics=stats)
    more = iv.extra_points(bound)
    stats = dataclasses.replace(stats, extra={**extra, "extra_points": more})
    if not attained:
        why = (f"{int(iv.n)} points per arm cannot reach {pct(params.confidence)} confidence "
               f"(at most {pct(iv.confidence)})")
    else:
        why = f"{label} straddles the allowed effect {allowed}"
    mde_txt = "unbounded" if not math.isfinite(mde_v) else f"{mde_v:+.1%}"
    more_txt = "more points will not resolve it at this estimate" if not math.isfinite(more) \
        else f"about {int(more)} more points per arm would resolve it"
    return Judgement(Classification.INCONCLUSIVE, f"{params.name} is inconclusive (not enough data to tell): {why}; "
                     f"smallest change detectable at this size {mde_txt}; {more_txt}", statistics=stats)


def shift_interval(params: JudgeParams, estimate: float, lower: float, upper: float, confidence: float, n: float,
                   level: float, min_points: float = 0.0) -> Interval:
    """An :class:`Interval` for a shift ``canary - baseline`` whose allowed effect is ``margin * |level|``."""
    up, down = margin(params)
    scale = abs(level) if math.isfinite(level) else 0.0
    return Interval(estimate, lower, upper, confidence, up * scale if _admits_up(params) else math.inf,
                    -down * scale if _admits_down(params) else -math.inf, n, False, min_points, level)


def ratio_interval(params: JudgeParams, estimate: float, lower: float, upper: float, confidence: float,
                   n: float, min_points: float = 0.0) -> Interval:
    """An :class:`Interval` for a ratio ``canary / baseline`` whose allowed effect is ``1 + margin``."""
    up, down = margin(params)
    es = params.effect_size
    # a ratio's allowed decrease mirrors its increase (1 / (1 + margin)), so swapping the arms mirrors the outcome,
    # unless allowed_decrease says otherwise
    gate = params.margin is None and es.measure is EffectMeasure.MEAN_RATIO and es.allowed_decrease is not None \
        and es.allowed_decrease < 1
    low = float(es.allowed_decrease) if gate and es.allowed_decrease is not None else 1.0 / (1.0 + down)
    return Interval(estimate, lower, upper, confidence, 1.0 + up if _admits_up(params) else math.inf,
                    low if _admits_down(params) else 0.0, n, True, min_points)


def _admits_up(params: JudgeParams) -> bool:
    return params.direction in (Direction.INCREASE, Direction.EITHER)


def _admits_down(params: JudgeParams) -> bool:
    return params.direction in (Direction.DECREASE, Direction.EITHER)
