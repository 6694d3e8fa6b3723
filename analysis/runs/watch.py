"""Continuous monitoring: judge again at every step as data arrives, stop as soon as the evidence is conclusive.

Re-running a fixed-sample test at every step inflates its false alarms (66 % of A/A runs at 10,000 looks). ``watch``
therefore swaps each metric's judge for its anytime-valid counterpart (:data:`SEQUENTIAL`): ``rate`` becomes
``sequential-rate`` and the rank judges become ``sequential-mean``; ``threshold`` rules (absolute checks) and
judges it does not know are re-applied as they are. With Holm over the anytime p-values at every look, the chance
that a healthy release is ever failed stays at most ``alpha``, however long it is watched.

At each look the window grows from ``start`` to the look's time, baseline and canary are aligned on their common
timestamps, and the release is judged, scored and decided as by ``canary analyze``. Judges that are not
anytime-valid (``threshold``, third-party ones) are not a new chance to fail at every look: before the last look
their metrics count as inconclusive (judged at the end of the watch), so only the last look can fail or pass them.
The watch stops:

* at the first look whose verdict is ``fail`` or ``marginal``: the verdict then holds whichever way the
  undecided metrics turn out (``analysis.decision.verdict.decide_run``), so a critical metric that is still undecided keeps
  the watch going, and an anytime p-value never rises again;
* with ``margin`` set, at the first look whose verdict is ``pass``: every gating metric's confidence sequence lies
  within the allowed effect ``margin`` (time-uniform, so stopping there is valid). Without it the watch goes on,
  since a canary can turn bad late (a slow leak, a cache that fills);
* otherwise at ``end``, with the verdict of the last look (``inconclusive`` when the data could not tell).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

from judges import Classification

from analysis.collectors import Collector
from analysis.config import CanaryConfig
from analysis.pipeline import align_pairs as align, judge_pairs
from analysis.results import AnalysisResult, MetricResult
from analysis.series import Window
from analysis.decision.verdict import Verdict
from analysis.errors import UsageError
from analysis.runs.source import SourceOptions, open_source

__all__ = ["SEQUENTIAL", "Look", "WatchResult", "align", "sequential_config", "watch"]  # align: pipeline

# the anytime-valid counterpart of each fixed-sample judge
SEQUENTIAL: dict[str, str] = {"rate": "sequential-rate", "mann-whitney": "sequential-mean",
                              "paired": "sequential-mean", "kayenta": "sequential-mean"}


@dataclass(frozen=True, slots=True)
class Look:
    """One look: its time, the verdict then, and the metrics flagged high or low."""

    time: float
    verdict: str
    score: float
    flagged: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"time": Window(self.time, self.time).to_dict()["end"], "verdict": self.verdict,
                "score": self.score, "flagged": list(self.flagged)}


@dataclass(frozen=True, slots=True)
class WatchResult:
    """The analysis at the last look, every look's summary, and why the watch stopped."""

    result: AnalysisResult
    looks: tuple[Look, ...]
    stopped_early: bool
    reason: str

    @property
    def exit_code(self) -> int:
        return self.result.exit_code

    def to_dict(self, include_data: bool = False) -> dict[str, Any]:
        d = self.result.to_dict(include_data)
        d["watch"] = {"looks": len(self.looks), "stopped_early": self.stopped_early, "reason": self.reason,
                      "history": [look.to_dict() for look in self.looks]}
        return d

    def to_json(self, include_data: bool = False, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(include_data), indent=indent, allow_nan=False)


def sequential_config(config: CanaryConfig) -> CanaryConfig:
    """``config`` with every judge that has an anytime-valid counterpart replaced by it."""
    metrics = tuple(dataclasses.replace(m, judge=SEQUENTIAL.get(m.judge, m.judge)) for m in config.metrics)
    return config.with_overrides(metrics=metrics)


def _deferred(r: MetricResult) -> MetricResult:
    """A metric whose judge is not anytime-valid, before the last look: inconclusive until the end of the watch."""
    if r.muted or r.judge.startswith("sequential-") or r.classification not in (
            Classification.PASS, Classification.HIGH, Classification.LOW):
        return r
    j = r.judgement
    why = (f"{r.name}: judged at the end of the watch ({r.judge} is not anytime-valid; now "
           f"{r.classification.value}{': ' + j.reason if j.reason else ''})")
    return dataclasses.replace(r, judgement=dataclasses.replace(j, classification=Classification.INCONCLUSIVE,
                                                                reason=why, critical=False))


def _with_margin(config: CanaryConfig, margin: float | None) -> CanaryConfig:
    if margin is None:
        return config
    metrics = tuple(dataclasses.replace(m, params=dataclasses.replace(m.params, margin=margin))
                    for m in config.metrics)
    return config.with_overrides(metrics=metrics)


def watch(config: CanaryConfig, collector: Collector, start: float, end: float, step: float, *,
          margin: float | None = None, sleep: Callable[[float], None] | None = None,
          clock: Callable[[], float] = time.time, on_look: Callable[[Look, AnalysisResult], None] | None = None
          ) -> WatchResult:
    """Judge ``config`` at every ``step`` from ``start + step`` to ``end`` with anytime-valid judges.

    Parameters
    ----------
    config : CanaryConfig
        The release's config; its judges are swapped by :func:`sequential_config`.
    collector : Collector
        Asked for the growing window ``[start, look]`` at each look (a file replays, Prometheus answers live).
    start, end, step : float
        Epoch seconds of the first and the last look's window end, and the time between looks.
    margin : float, optional
        Allowed relative change of every metric (its ``margin``); enables the conclusive-pass stop.
    sleep : callable, optional
        Called with the seconds to wait until a look's time is reached (real-time monitoring); ``None``
        replays without waiting.
    on_look : callable, optional
        Called after each look with its summary and analysis.
    """
    if not step > 0:
        raise ValueError(f"`step` must be > 0, got {step!r}")
    if not end > start:
        raise ValueError("`end` must be after `start`")
    seq = _with_margin(sequential_config(config), margin)
    looks: list[Look] = []
    k = 1
    while True:
        t = min(start + k * step, end)
        if sleep is not None and clock() < t:
            sleep(t - clock())
        window = Window(start, t)
        pairs = align(collector.collect(seq.metrics, window), seq.metrics)
        result = judge_pairs(seq, pairs, window, defer=None if t >= end else _deferred)
        flagged = tuple(r.name for r in result.metrics
                        if not r.muted and r.classification in (Classification.HIGH, Classification.LOW))
        look = Look(t, result.verdict.value, result.score, flagged)
        looks.append(look)
        if on_look is not None:
            on_look(look, result)
        v = result.verdict
        if t < end and v in (Verdict.FAIL, Verdict.MARGINAL):
            return WatchResult(result, tuple(looks), True,
                               f"conclusive {v.value} at look {k}: {', '.join(flagged) or 'score'} flagged")
        if t < end and v is Verdict.PASS and margin is not None:
            return WatchResult(result, tuple(looks), True,
                               f"conclusive pass at look {k}: every gating metric is shown within its allowed effect")
        if t >= end:
            return WatchResult(result, tuple(looks), False, f"end of the watch after {k} look(s)")
        k += 1


def watch_source(config: CanaryConfig, source: SourceOptions, *, duration: str | None = None,
                 margin: float | None = None, on_look: Callable[[Look, AnalysisResult], None] | None = None,
                 now: float | None = None) -> WatchResult:
    """``canary watch``: open the source, choose start, end and step, and :func:`watch` it.

    A recorded file is replayed look by look without waiting (its step is the file's median spacing unless
    ``source.step`` says otherwise); a live source is looked at in real time until ``source.end`` or
    ``start + duration``.
    """
    from analysis.runs.intervals import parse_instant
    from analysis.runs.source import duration as seconds

    t = time.time() if now is None else now
    if margin is not None and not 0 < margin < 10:
        raise UsageError("--margin must be a relative change in (0, 10), e.g. 0.05")
    if not source.data and not source.end and not duration:
        raise UsageError("say how long to watch: --end TIME or --duration DURATION")
    # a replayed file's --step is the time between looks, not a query resolution
    opening = dataclasses.replace(source, step=None) if source.data else source
    with open_source(config, opening, need="the data to watch") as opened:
        recorded = opened.recorded
        start = parse_instant(source.start, t, "--start") if source.start else (recorded.start if recorded else t)
        if source.end:
            end = parse_instant(source.end, t, "--end")
        elif duration:
            end = start + (seconds(duration, "--duration") or 0.0)
        elif recorded is not None:
            end = recorded.end
        else:
            raise UsageError("say how long to watch: --end TIME or --duration DURATION")
        if recorded is not None:
            step = seconds(source.step, "--step") or _file_step(opened.collector)
            sleep = None
        else:
            step = opened.config.prometheus.step
            sleep = time.sleep
        if end <= start:
            raise UsageError("the watch must end after it starts (--start, --end, --duration)")
        return watch(opened.config, opened.collector, start, end, step, margin=margin, sleep=sleep,
                     on_look=on_look)


def _file_step(collector: Any) -> float:
    """The median spacing of a recorded file's timestamps (60 s when it has fewer than two)."""
    import numpy as np

    diffs = np.diff(np.unique(collector.frame["timestamp"].to_numpy()))
    return float(np.median(diffs)) if diffs.size else 60.0
