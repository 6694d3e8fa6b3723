"""``analyze``: judge a config against a source, in one window or interval by interval (Kayenta's stages)."""

from __future__ import annotations

import time
from typing import Callable

from analysis.config import CanaryConfig
from analysis.errors import UsageError
from analysis.pipeline import Progress, analyze
from analysis.results import AnalysisResult
from analysis.runs.intervals import IntervalRun, Mode, parse_instant, plan, run_intervals
from analysis.runs.source import SourceOptions, duration, open_source, resolve_window
from analysis.series import Window

OnInterval = Callable[[int, int, AnalysisResult, "str | None"], None]
OnWait = Callable[[int, int, float], None]


def now_seconds() -> float:
    """Whole seconds: windows print cleanly and land on whole-second grids."""
    return float(int(time.time()))


def analyze_source(config: CanaryConfig, source: SourceOptions, progress: Progress | None = None,
                   now: float | None = None) -> AnalysisResult:
    """Collect every metric of ``config`` from ``source`` over its window, judge, score and decide.

    Raises ``UsageError``/``ConfigError`` for bad options (before any fetch); a metric the source cannot
    deliver is an ``error`` result and the verdict fails closed.
    """
    if source.interval_run:
        raise UsageError("interval options given: use analyze_intervals")
    t = now_seconds() if now is None else now
    with open_source(config, source) as opened:
        return analyze(opened.config, opened.collector, resolve_window(source, t, opened.recorded), progress)


def analyze_intervals(config: CanaryConfig, source: SourceOptions, on_interval: OnInterval | None = None,
                      on_wait: OnWait | None = None, now: float | None = None) -> IntervalRun:
    """Judge the window interval by interval (``--lifetime``, ``--interval``, ``--warmup``, ``--lookback``,
    ``--mode``); the final verdict comes from the last interval judged."""
    t = now_seconds() if now is None else now
    with open_source(config, source) as opened:
        default = opened.recorded
        mode = Mode(source.mode or "retrospective")
        if source.start is not None:
            start = parse_instant(source.start, t, "--start")
        elif default is not None:
            start = default.start
        elif mode is Mode.REALTIME:
            start = t
        else:
            raise UsageError("a retrospective interval run needs --start (and --end or --lifetime)")
        end = parse_instant(source.end, t, "--end") if source.end is not None else None
        if end is None and source.lifetime is None and default is not None:
            end = default.end
        schedule = plan(start, end, duration(source.lifetime, "--lifetime"), duration(source.interval, "--interval"),
                        duration(source.warmup, "--warmup") or 0.0, duration(source.lookback, "--lookback") or 0.0)
        last_end = schedule.windows[-1].end
        if mode is Mode.RETROSPECTIVE and default is None and last_end > t:
            raise UsageError(f"the last interval ends in the future ({Window(last_end, last_end).to_dict()['end']}); "
                             f"use --mode realtime to wait for it, or an earlier --start")
        return run_intervals(opened.config, opened.collector, schedule, mode, on_interval=on_interval,
                             on_wait=on_wait)
