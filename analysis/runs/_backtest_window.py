"""One backtest window, as a Dask task: fetch on the worker, judge as recorded (A/A) and degraded, keep labels.

Everything here is a pure function of its arguments (the config, where the data is, the window, the factors), so
a window gives the same outcome on any worker. A fetch or judging failure is an ``error`` outcome for that window,
never a pass: it is counted apart from the alarms, never as "no alarm".
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from analysis.config import CanaryConfig
from analysis.errors import CanaryError
from analysis.pipeline import judge_pairs
from analysis.results import AnalysisResult
from analysis.series import SamplePair, Series, Window

__all__ = ["ConfigSource", "FileSource", "WindowOutcome", "degrade", "degraded_metrics", "run_window"]


@dataclass(frozen=True, slots=True)
class FileSource:
    """A recorded data file (CSV or Parquet) that every worker can read at ``path``."""

    path: str

    def describe(self) -> str:
        return self.path


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """The collector the config names (its ``collector:`` section, else its Prometheus, flags already applied);
    each window's fetch opens its own on the worker (``analysis.runs.source``)."""

    name: str

    def describe(self) -> str:
        return self.name


_FILES: dict[tuple[str, int, int], Any] = {}
_FILES_LOCK = threading.Lock()


def load_file(path: str) -> Any:
    """The file's collector, read once per process (the windows of a run share it; a changed file is read again)."""
    from analysis.collectors.file import FileCollector

    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size)
    with _FILES_LOCK:
        collector = _FILES.get(key)
        if collector is None:
            collector = FileCollector(path)
            _FILES.clear()  # one file at a time: a worker holds the data of one run
            _FILES[key] = collector
        return collector


def _collect(config: CanaryConfig, source: FileSource | ConfigSource, window: Window) -> dict[str, SamplePair]:
    if isinstance(source, FileSource):
        return load_file(source.path).collect(config.metrics, window)
    from analysis.runs.source import SourceOptions, open_source

    with open_source(config, SourceOptions()) as opened:
        return opened.collector.collect(config.metrics, window)


def degraded_metrics(config: CanaryConfig) -> dict[str, float]:
    """Per metric the exponent of the degradation: +1 multiplies the canary by the effect, -1 divides it, and
    metrics that are another metric's denominator (the exposure, e.g. requests) are left as recorded (absent)."""
    denominators = {m.denominator for m in config.metrics if m.denominator is not None}
    return {m.name: (-1.0 if m.params.direction.value == "decrease" else 1.0)
            for m in config.metrics if m.name not in denominators}


def degrade(config: CanaryConfig, pairs: Mapping[str, SamplePair], factor: float) -> dict[str, SamplePair]:
    """``pairs`` with the canary side made worse by ``factor`` (> 1) on every metric that can regress.

    Metrics that fail when higher, and those of direction ``either``, are multiplied; those that fail when lower
    are divided. A rate metric's events (an error counter over its ``denominator``) are multiplied the same way,
    so the error rate rises by ``factor``, while the denominator (the traffic) stays as recorded. Pairs that
    failed to fetch are kept as they are (still errors).
    """
    powers = degraded_metrics(config)
    out = dict(pairs)
    for name, power in powers.items():
        pair = pairs.get(name)
        if pair is None or pair.error:
            continue
        c = pair.canary
        scaled = Series(c.timestamps, c.values * factor ** power, c.query, c.labels, c.missing)
        out[name] = dataclasses.replace(pair, canary=scaled)
    return out


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """What one window gave: the verdict and per-metric classification of each run.

    ``factors[0]`` is 1.0 (the recorded A/A run); the others are the degradations. ``verdicts[i]`` and
    ``classes[i]`` (one per metric, in config order) belong to ``factors[i]``. ``reason`` is the A/A verdict's
    reason, or the failure that left the window without a verdict.
    """

    start: float
    end: float
    factors: tuple[float, ...]
    verdicts: tuple[str, ...]
    classes: tuple[tuple[str, ...], ...]
    reason: str

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


def _failed(config: CanaryConfig, window: Window, factors: tuple[float, ...], reason: str) -> WindowOutcome:
    errors = tuple("error" for _ in config.metrics)
    return WindowOutcome(window.start, window.end, factors, tuple("error" for _ in factors),
                         tuple(errors for _ in factors), reason)


def _reason(result: AnalysisResult) -> str:
    """The verdict's reason; without a verdict, also the first failing metric's own reason (the fetch error)."""
    if result.verdict.value in ("pass", "fail", "marginal", "inconclusive"):
        return result.reason
    why = next((m.reason for m in result.metrics if m.classification.value in ("error", "nodata") and m.reason), "")
    return f"{result.reason}: {why}" if why and why not in result.reason else result.reason


def run_window(config: CanaryConfig, source: FileSource | ConfigSource, window: Window,
               factors: tuple[float, ...]) -> WindowOutcome:
    """Fetch ``window`` from ``source`` and judge it once per factor (``factors[0]`` must be 1.0: as recorded)."""
    try:
        pairs = _collect(config, source, window)
    except CanaryError as e:  # the whole window could not be fetched (a broken file, no collector)
        return _failed(config, window, factors, f"fetch failed: {e}")
    verdicts, classes = [], []
    try:
        for f in factors:
            result = judge_pairs(config, pairs if f == 1.0 else degrade(config, pairs, f), window)
            verdicts.append(result.verdict.value)
            classes.append(tuple(m.classification.value for m in result.metrics))
            if f == 1.0:
                reason = _reason(result)
    except Exception as e:  # a bug must fail closed for this window, never read as "no alarm"
        return _failed(config, window, factors, f"judging failed: {type(e).__name__}: {e}")
    return WindowOutcome(window.start, window.end, tuple(factors), tuple(verdicts), tuple(classes), reason)
