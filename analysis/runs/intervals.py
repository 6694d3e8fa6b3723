"""Kayenta's multi-interval canary stage: a lifetime judged interval by interval, failing fast.

The schedule is Orca's ``RunCanaryIntervalsStage`` / standalone ``SetupAndExecuteCanariesStage``
(``shared/docs/kayenta-judge.md`` section 3.2), in seconds instead of whole minutes (the two agree whenever the
durations are whole minutes)::

    lifetime = end - start if an end is given, else the lifetime (neither: error)
    interval = interval or lifetime; 0 or longer than the lifetime -> lifetime
    N        = floor(lifetime / interval)
    window i = no end:   [T0 + warmup,  T0 + warmup + i * interval]
               end:      [T0,           T0 + i * interval]          (warm-up does not shift windows)
               lookback: start_i = end_i - lookback                 (sliding; else growing)

Each interval is judged on its own. After an interval whose score is at or below the marginal threshold (``<=``:
a score equal to marginal still stops), or whose verdict is ``error`` or ``nodata``, no later interval runs. The
final verdict comes from the last interval judged (``AggregateCanaryResultsTask``): score <= marginal -> fail,
score < pass -> fail, else pass; an ``error`` or ``nodata`` interval makes the final verdict the same (fail closed).

``retrospective`` judges past windows at once; ``realtime`` waits for each window to close.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Callable

from analysis.config._reader import parse_duration
from analysis.collectors import Collector
from analysis.config import CanaryConfig
from analysis.errors import UsageError
from analysis.results import AnalysisResult
from analysis.series import Window
from analysis.decision.verdict import Decided, Decision, Verdict

__all__ = ["IntervalRun", "Mode", "Schedule", "final_judgment", "parse_instant", "plan", "run_intervals"]

_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$")


class Mode(StrEnum):
    RETROSPECTIVE = "retrospective"
    REALTIME = "realtime"


def parse_instant(text: str, now: float, what: str = "time") -> float:
    """Epoch seconds from ISO 8601 (no zone means UTC), epoch seconds, ``now``, ``now-1h`` or ``now+30s``."""
    s = str(text).strip()
    m = _RELATIVE.match(s)
    if m:
        if m.group(1) is None:
            return now
        try:
            offset = parse_duration(m.group(2))
        except ValueError:
            raise UsageError(f"{what} {text!r}: the offset must be a duration such as 30s, 5m or 1h") from None
        return now - offset if m.group(1) == "-" else now + offset
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"{what} {text!r}: epoch seconds must be finite and not negative")
        if value >= 1e11:
            raise UsageError(f"{what} {text!r}: looks like milliseconds; give epoch seconds")
        return value
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected ISO 8601 (2024-01-01T00:00:00Z), epoch seconds, now or "
                         f"now-1h") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass(frozen=True, slots=True)
class Schedule:
    """The windows of an interval run and the durations (seconds) they came from."""

    start: float
    end: float | None
    lifetime: float
    interval: float
    warmup: float
    lookback: float
    windows: tuple[Window, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"start": Window(self.start, self.start).to_dict()["start"],
                "end": Window(self.end, self.end).to_dict()["end"] if self.end is not None else None,
                "lifetime_s": self.lifetime, "interval_s": self.interval, "warmup_s": self.warmup,
                "lookback_s": self.lookback, "sliding": self.lookback > 0, "intervals": len(self.windows)}


def lifetime_of(start: float, end: float | None, lifetime: float | None) -> float:
    """Kayenta's ``calculateLifetime``: from start to end when the end is given, else the lifetime."""
    if end is not None:
        return end - start
    if lifetime is None:
        raise UsageError("give an end (--end) or a lifetime (--lifetime) for an interval run")
    return lifetime


def plan(start: float, end: float | None = None, lifetime: float | None = None, interval: float | None = None,
         warmup: float = 0.0, lookback: float = 0.0) -> Schedule:
    """The interval windows (see the module docstring for the rule), as a ``Schedule``.

    Raises ``UsageError`` for a missing or non-positive lifetime, an end before the start, or negative durations.
    """
    for name, value in (("interval", interval), ("warmup", warmup), ("lookback", lookback), ("lifetime", lifetime)):
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise UsageError(f"--{name} must be a non-negative duration; got {value!r}")
    if end is not None and end < start:
        raise UsageError("--end is before --start")
    life = lifetime_of(start, end, lifetime)
    if life <= 0:
        raise UsageError("the lifetime must be longer than zero")
    step = interval if interval and interval <= life else life
    n = int(math.floor(life / step + 1e-9))
    base = start if end is not None else start + warmup
    windows = []
    for i in range(1, n + 1):
        w_end = base + i * step
        windows.append(Window(w_end - lookback if lookback > 0 else base, w_end))
    return Schedule(start, end, life, step, warmup, lookback, tuple(windows))


def final_judgment(last_score: float, marginal: float | None, pass_: float | None) -> tuple[bool, str]:
    """Kayenta's ``getAggregatedJudgment`` on the last interval's score: (passed, message)."""
    if marginal is None and pass_ is None:
        return True, "No score thresholds were specified."
    if marginal is not None and last_score <= marginal:
        return False, f"Final canary score {last_score:g} is not above the marginal score threshold."
    if pass_ is None:
        return True, "No pass score threshold was specified."
    if last_score < pass_:
        return False, f"Final canary score {last_score:g} is below the pass score threshold."
    return True, f"Final canary score {last_score:g} met or exceeded the pass score threshold."


@dataclass(frozen=True, slots=True)
class IntervalRun(Decided):
    """Every judged interval (an ``AnalysisResult`` each) and the final verdict, from the last one."""

    mode: Mode
    schedule: Schedule
    intervals: tuple[AnalysisResult, ...]
    decision: Decision
    stopped_early: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def scores(self) -> tuple[float, ...]:
        return tuple(r.score for r in self.intervals)

    @property
    def result(self) -> AnalysisResult:
        """The last interval's result carrying the final verdict (what the CLI prints and writes)."""
        last = self.intervals[-1]
        return dataclasses.replace(last, decision=self.decision, warnings=last.warnings + self.warnings)

    def to_dict(self, include_data: bool = False) -> dict[str, Any]:
        d = self.result.to_dict(include_data)
        d["mode"] = self.mode.value
        d["schedule"] = self.schedule.to_dict()
        d["scores"] = list(self.scores)
        d["stopped_early"] = self.stopped_early
        d["intervals"] = [{"index": i + 1, **r.to_dict()} for i, r in enumerate(self.intervals)]
        return d

    def to_json(self, include_data: bool = False, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(include_data), indent=indent, allow_nan=False)


def _stop_reason(result: AnalysisResult, marginal: float) -> str | None:
    if result.verdict in (Verdict.ERROR, Verdict.NODATA):
        return f"verdict {result.verdict.value}: {result.reason}"
    if result.score <= marginal:
        return f"score {result.score:g} is not above the marginal threshold {marginal:g}"
    return None


def run_intervals(config: CanaryConfig, collector: Collector, schedule: Schedule,
                  mode: Mode | str = Mode.RETROSPECTIVE, *,
                  on_interval: Callable[[int, int, AnalysisResult, str | None], None] | None = None,
                  on_wait: Callable[[int, int, float], None] | None = None,
                  clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                  ) -> IntervalRun:
    """Judge ``schedule``'s windows in order with ``collector``, stopping at the first interval that fails.

    Parameters
    ----------
    config, collector
        What to judge and where the data comes from (any ``Collector``: Prometheus, a recorded file).
    schedule : Schedule
        From ``plan``.
    mode : Mode
        ``retrospective`` judges at once; ``realtime`` sleeps until each window's end has passed on ``clock``.
    on_interval : callable, optional
        ``(index, total, result, stop_reason)`` after each interval (index from 1).
    on_wait : callable, optional
        ``(index, total, until)`` before sleeping for interval ``index``.

    Returns
    -------
    IntervalRun
        All judged intervals and the final verdict (module docstring).
    """
    from analysis.pipeline import analyze

    mode = Mode(mode)
    warnings: tuple[str, ...] = ()
    if schedule.end is not None and schedule.warmup > 0:
        warnings += ("the warm-up does not shift the windows when an end time is given (as in Kayenta); "
                     "start later instead",)
    results: list[AnalysisResult] = []
    total = len(schedule.windows)
    stop: str | None = None
    for i, window in enumerate(schedule.windows, start=1):
        if mode is Mode.REALTIME and clock() < window.end:
            if on_wait is not None:
                on_wait(i, total, window.end)
            while (left := window.end - clock()) > 0:
                sleep(left)
        result = analyze(config, collector, window)
        results.append(result)
        stop = _stop_reason(result, config.thresholds.marginal)
        if on_interval is not None:
            on_interval(i, total, result, stop)
        if stop is not None:
            break
    last = results[-1]
    if last.verdict in (Verdict.ERROR, Verdict.NODATA):
        verdict = Decision(last.verdict, f"interval {len(results)} of {total}: {last.reason}")
    else:
        passed, message = final_judgment(last.score, config.thresholds.marginal, config.thresholds.pass_)
        where = f" (interval {len(results)} of {total}; stopped early)" if len(results) < total else ""
        verdict = Decision(Verdict.PASS if passed else Verdict.FAIL, message + where)
    return IntervalRun(mode, schedule, tuple(results), verdict, len(results) < total, warnings)
