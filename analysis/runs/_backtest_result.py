"""The result of a backtest: release-level and per-metric false-alarm and detection rates, with intervals.

A window *alarms* when the verdict would stop a canary (``fail`` or ``marginal``); a metric alarms when it is
classified ``high`` or ``low``. An ``inconclusive`` verdict or metric is a judgement, but no alarm (also counted
apart). Windows (and metrics) without a verdict (``nodata``, ``error``: a failed fetch among them) are left out
of the rates and counted apart, so a failure is never read as "no alarm". Rates come with Wilson score intervals
(Wilson 1927; R ``prop.test(k, n, correct = FALSE)$conf.int``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from judges import json_number

from analysis.series import Window
from analysis.runs._backtest_window import WindowOutcome

__all__ = ["BacktestResult", "MetricRates", "Rate", "wilson_interval"]

CONFIDENCE = 0.95  # level of the rate intervals
POWER = 0.8  # the minimum detectable effect is the smallest factor detected in at least this share of windows
ALARMS = frozenset({"fail", "marginal"})
VERDICTS = frozenset({"pass", "fail", "marginal", "inconclusive"})  # a verdict was reached (no alarm unless listed)
JUDGED = frozenset({"pass", "high", "low", "inconclusive"})


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` at two-sided ``confidence``; (nan, nan) when n is 0.

    Parameters
    ----------
    k : int
        Successes (here: alarms), ``0 <= k <= n``.
    n : int
        Trials (windows with a verdict).
    confidence : float
        Two-sided level, in (0, 1).
    """
    if not 0 <= k <= n:
        raise ValueError(f"`k` must be in [0, n]; got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1); got {confidence}")
    if n == 0:
        return math.nan, math.nan
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def format_duration(seconds: float) -> str:
    """``30m``, ``1h``, ``90s``: a duration as the flags take it."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Rate:
    """``k`` alarms in ``n`` judged windows, the fraction and its Wilson interval (NaN when nothing was judged)."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {"rate": json_number(self.value), "interval": [json_number(lo), json_number(hi)],
                "alarms": self.k, "judged": self.n}


def _count(labels: Sequence[str], hit: frozenset[str] | set[str], judged: frozenset[str]) -> Rate:
    counted = [x for x in labels if x in judged]
    return Rate(sum(x in hit for x in counted), len(counted))


def _mde(rates: Sequence[tuple[float, Rate]]) -> float | None:
    """The smallest factor detected in at least ``POWER`` of the judged windows (None: none of the factors)."""
    for factor, rate in sorted(rates):
        if rate.n and rate.value >= POWER:
            return factor
    return None


@dataclass(frozen=True, slots=True)
class MetricRates:
    """One metric: false alarms as recorded, detections at the effect, and the minimum detectable effect.

    ``degradation`` is ``"multiplied"``, ``"divided"`` or ``None`` (a denominator, left as recorded: no
    detection rate and no MDE).
    """

    name: str
    direction: str
    muted: bool
    degradation: str | None
    false_alarm: Rate
    detection: Rate | None
    mde: float | None

    def to_dict(self) -> dict[str, Any]:
        det = self.detection.to_dict() if self.detection is not None else None
        return {"name": self.name, "false_alarm_rate": json_number(self.false_alarm.value),
                "detection_rate": det["rate"] if det else None, "mde": self.mde,
                "false_alarm_interval": self.false_alarm.to_dict()["interval"],
                "detection_interval": det["interval"] if det else None,
                "false_alarms": self.false_alarm.k, "detections": det["alarms"] if det else None,
                "judged": self.false_alarm.n, "direction": self.direction, "muted": self.muted,
                "degradation": self.degradation}


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Every window's outcome and the rates derived from them (see the module docstring)."""

    config_name: str
    source: str
    scheduler: str
    every: float
    window: float
    effect: float
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    muted: tuple[bool, ...]
    powers: tuple[float | None, ...]  # +1 multiplied, -1 divided, None left as recorded
    outcomes: tuple[WindowOutcome, ...]

    def _column(self, factor: float) -> int:
        return self.outcomes[0].factors.index(factor) if self.outcomes else 0

    def _verdicts(self, factor: float) -> list[str]:
        i = self._column(factor)
        return [o.verdicts[i] for o in self.outcomes]

    @property
    def false_alarm(self) -> Rate:
        """Windows whose recorded (A/A) verdict alarmed, among those with a verdict."""
        return _count(self._verdicts(1.0), ALARMS, VERDICTS)

    @property
    def detection(self) -> Rate:
        """Windows whose verdict alarmed with the canary degraded by ``effect``, among those with a verdict."""
        return _count(self._verdicts(self.effect), ALARMS, VERDICTS)

    @property
    def no_verdict(self) -> list[WindowOutcome]:
        """Windows that reached no verdict as recorded or degraded (nodata or error): left out of the rates."""
        return [o for o in self.outcomes if any(v not in VERDICTS for v in o.verdicts)]

    @property
    def mde(self) -> float | None:
        factors = self.outcomes[0].factors[1:] if self.outcomes else ()
        return _mde([(f, _count(self._verdicts(f), ALARMS, VERDICTS)) for f in factors])

    def metric_rates(self) -> list[MetricRates]:
        out = []
        factors = self.outcomes[0].factors if self.outcomes else (1.0,)
        for j, name in enumerate(self.metrics):
            power = self.powers[j]
            by_factor = {f: [o.classes[i][j] for o in self.outcomes] for i, f in enumerate(factors)}
            fa = _count(by_factor[1.0], {"high", "low"}, JUDGED)
            det, mde, how = None, None, None
            if power is not None:
                hit = {"high"} if power > 0 else {"low"}
                how = "multiplied" if power > 0 else "divided"
                det = _count(by_factor.get(self.effect, []), hit, JUDGED)
                mde = _mde([(f, _count(labels, hit, JUDGED)) for f, labels in by_factor.items() if f != 1.0])
            out.append(MetricRates(name, self.directions[j], self.muted[j], how, fa, det, mde))
        return out

    def to_dict(self) -> dict[str, Any]:
        fa, det = self.false_alarm, self.detection
        first = self.outcomes[0].window.to_dict() if self.outcomes else {"start": None}
        last = self.outcomes[-1].window.to_dict() if self.outcomes else {"end": None}
        no_verdict = self.no_verdict
        return {
            "windows": len(self.outcomes),
            "false_alarm_rate": json_number(fa.value),
            "detection_rate": json_number(det.value),
            "metrics": [m.to_dict() for m in self.metric_rates()],
            "scheduler": self.scheduler,
            "false_alarm_interval": fa.to_dict()["interval"],
            "detection_interval": det.to_dict()["interval"],
            "false_alarms": fa.k, "detections": det.k, "judged": fa.n, "judged_degraded": det.n,
            "mde": self.mde,
            "no_verdict": len(no_verdict),
            "inconclusive": sum(v == "inconclusive" for v in self._verdicts(1.0)),
            "inconclusive_degraded": sum(v == "inconclusive" for v in self._verdicts(self.effect)),
            "interval_confidence": CONFIDENCE, "mde_power": POWER,
            "config": self.config_name, "source": self.source,
            "range": {"start": first["start"], "end": last["end"]},
            "every_s": self.every, "window_s": self.window, "effect": self.effect,
            "factors": list(self.outcomes[0].factors[1:]) if self.outcomes else [],
            "window_results": [self._window_dict(o) for o in self.outcomes],
        }

    def _window_dict(self, o: WindowOutcome) -> dict[str, Any]:
        i = o.factors.index(self.effect)
        missed = [m for j, m in enumerate(self.metrics) if self.powers[j] is not None
                  and o.classes[i][j] != ("high" if (self.powers[j] or 0) > 0 else "low")]
        return {**o.window.to_dict(), "verdict": o.verdicts[0], "degraded_verdict": o.verdicts[i],
                "false_alarms": [m for j, m in enumerate(self.metrics) if o.classes[0][j] in ("high", "low")],
                "missed": missed, "reason": o.reason}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @property
    def exit_code(self) -> int:
        """0 when every window reached a verdict; 4 when some did not (their failures are in the result)."""
        return 4 if self.no_verdict or not self.outcomes else 0

    def windows(self) -> list[Window]:
        return [o.window for o in self.outcomes]

    def span_text(self) -> str:
        """``12 windows of 30m every 1h``."""
        return f"{len(self.outcomes)} windows of {format_duration(self.window)} every {format_duration(self.every)}"

    def timelines(self) -> list[tuple[str, list[tuple[str, list[str]]]]]:
        """Per release verdict and per metric, which windows alarmed: ``(name, [(run, states)])`` with one state
        per window, ``ok``/``alarm`` as recorded and ``hit``/``miss`` degraded by the effect (``none``: no
        verdict)."""
        col = self._column(self.effect)

        def states(labels: list[str], judged: frozenset[str], hit: set[str] | frozenset[str], yes: str,
                   no: str) -> list[str]:
            return ["none" if x not in judged else yes if x in hit else no for x in labels]

        out = [("release verdict", [("as recorded", states(self._verdicts(1.0), VERDICTS, ALARMS, "alarm", "ok")),
                                    (f"×{self.effect:g}", states(self._verdicts(self.effect), VERDICTS, ALARMS,
                                                                 "hit", "miss"))])]
        for j, name in enumerate(self.metrics):
            runs = [("as recorded", states([o.classes[0][j] for o in self.outcomes], JUDGED, {"high", "low"},
                                           "alarm", "ok"))]
            power = self.powers[j]
            if power is not None:
                runs.append((f"×{self.effect:g}" if power > 0 else f"÷{self.effect:g}",
                             states([o.classes[col][j] for o in self.outcomes], JUDGED,
                                    {"high"} if power > 0 else {"low"}, "hit", "miss")))
            out.append((name, runs))
        return out

    def to_frame(self) -> Any:
        """One row per metric (and one for the release verdict): alarms, judged windows, rates, intervals, MDE."""
        import pandas as pd

        rows = [{"name": "(release verdict)", **_rate_columns(self.false_alarm, self.detection), "mde": self.mde}]
        for m in self.metric_rates():
            rows.append({"name": m.name, **_rate_columns(m.false_alarm, m.detection), "mde": m.mde})
        return pd.DataFrame(rows).set_index("name")

    def plot(self) -> Any:
        """False-alarm and detection rates per metric with their intervals, as a matplotlib Figure."""
        from analysis.report.backtest import rates_figure

        return rates_figure(self)

    def __repr__(self) -> str:
        fa, det = self.false_alarm, self.detection
        return (f"<BacktestResult {self.config_name!r}: {len(self.outcomes)} windows, false alarms {fa.k}/{fa.n}, "
                f"detected {det.k}/{det.n} at x{self.effect:g}>")


def _rate_columns(fa: Rate, det: Rate | None) -> dict[str, Any]:
    out: dict[str, Any] = {"false_alarms": fa.k, "judged": fa.n, "false_alarm_rate": fa.value,
                           "false_alarm_low": fa.interval[0], "false_alarm_high": fa.interval[1]}
    if det is None:
        return {**out, "detections": None, "detection_rate": math.nan, "detection_low": math.nan,
                "detection_high": math.nan}
    return {**out, "detections": det.k, "detection_rate": det.value, "detection_low": det.interval[0],
            "detection_high": det.interval[1]}
