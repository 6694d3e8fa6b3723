"""``canary backtest``: how often would a config have cried wolf on this history, and what would it have caught?

    >>> from analysis import load_config
    >>> from analysis.runs.backtest import backtest
    >>> result = backtest(load_config("canary.yaml"), data="history.csv", every=3600, window=1800, effect=1.25)
    >>> result.false_alarm.value, result.detection.value, [m.mde for m in result.metric_rates()]

The range is cut into windows of length ``window`` starting every ``every`` seconds. The config's baseline and
canary scopes select two groups of the *same* stable version, so every window is an A/A release: it is judged as
recorded (an alarm is a false alarm) and again with the canary side degraded by ``effect`` and by each factor of
a small grid (an alarm is a detection), with the same judges, scoring and verdict as ``canary analyze``.

The windows are Dask tasks: without ``scheduler`` an in-process ``LocalCluster`` runs them; with
``scheduler="tcp://host:port"`` an existing cluster does (``dask scheduler`` / ``dask worker``; every worker needs
canary-engine and, for ``data``, the file at the same path). Data is fetched on the workers. Each window is a pure
function of the config, the source and its bounds, so the result is the same whichever worker runs it.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from analysis.config import CanaryConfig
from analysis.errors import ClusterError, UsageError
from analysis.series import Window
from analysis.runs._backtest_result import BacktestResult, MetricRates, Rate, format_duration, wilson_interval
from analysis.runs._backtest_window import (ConfigSource, FileSource, WindowOutcome, degrade, degraded_metrics,
                                            run_window)

__all__ = ["BacktestResult", "DEFAULT_FACTORS", "MetricRates", "Rate", "backtest", "check_scheduler", "degrade",
           "format_duration", "plan_windows", "wilson_interval"]

# the grid the minimum detectable effect is read from (the requested effect is added to it)
DEFAULT_FACTORS = (1.02, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0)
MAX_WINDOWS = 100_000
Progress = Callable[[int, int], None]
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|inproc|ucx)://)?(\[[0-9a-fA-F:.]+\]|[\w.-]+):(\d{1,5})(/.*)?$")


def plan_windows(start: float, end: float, every: float, window: float) -> tuple[Window, ...]:
    """Windows ``[start + k * every, start + k * every + window]`` that fit in ``[start, end]``.

    Raises ``UsageError`` for an end not after the start, a non-positive ``every`` or ``window``, a window
    longer than the range, or more than ``MAX_WINDOWS`` windows.
    """
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise UsageError(f"--end ({_iso(end)}) must be after --start ({_iso(start)})")
    for flag, value in (("--every", every), ("--window", window)):
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"{flag} must be a duration longer than zero; got {value:g}s")
    if window > end - start:
        raise UsageError(f"--window ({format_duration(window)}) is longer than the range --start .. --end "
                         f"({format_duration(end - start)})")
    count = int(math.floor((end - start - window) / every + 1e-9)) + 1
    if count > MAX_WINDOWS:
        raise UsageError(f"{count} windows of {format_duration(window)} every {format_duration(every)}: more than "
                         f"{MAX_WINDOWS}; use a longer --every")
    return tuple(Window(start + k * every, start + k * every + window) for k in range(count))


def _iso(t: float) -> str:
    return str(Window(t, t).to_dict()["start"]) if math.isfinite(t) else repr(t)


def check_scheduler(address: str) -> str:
    """``address`` if it looks like a Dask scheduler address (``tcp://host:port``), else ``UsageError``."""
    m = _ADDRESS.match(address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise UsageError(f"--scheduler {address!r}: expected a Dask scheduler address such as tcp://host:8786")
    return address.strip() if m.group(1) else f"tcp://{address.strip()}"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError("canary backtest runs on Dask: pip install 'canary-engine[backtest]'") from None
    return distributed


@contextmanager
def _quiet() -> Iterator[None]:
    """Dask logs connection retries and shutdown chatter; the run reports its own errors in one line."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
    loggers = [logging.getLogger(n) for n in {"distributed", "tornado", "asyncio", *names}]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextmanager
def _client(scheduler: str | None, timeout: float, threads: int) -> Iterator[Any]:
    """A Dask client: of an in-process ``LocalCluster`` (``scheduler`` None) or of the scheduler at the address."""
    dd = _distributed()
    cluster = None
    try:
        if scheduler is None:
            cluster = dd.LocalCluster(processes=False, n_workers=1, threads_per_worker=threads,
                                      dashboard_address=None)
            client = dd.Client(cluster, set_as_default=False)
        else:
            try:
                client = dd.Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g}s "
                                   f"({_one_line(e)})") from None
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError):
                client.close()
                raise ClusterError(f"the Dask scheduler at {scheduler} has no workers (waited {timeout:g}s)") \
                    from None
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _run(client: Any, config: CanaryConfig, source: FileSource | ConfigSource, windows: tuple[Window, ...],
         factors: tuple[float, ...], progress: Progress | None) -> list[WindowOutcome]:
    dd = _distributed()
    run = uuid.uuid4().hex[:12]
    try:
        cfg_f, src_f = client.scatter([config, source], broadcast=True, hash=False)
        futures = [client.submit(run_window, cfg_f, src_f, w, factors, key=f"canary-backtest-{run}-{i:06d}",
                                 retries=1) for i, w in enumerate(windows)]
        done = 0
        for future in dd.as_completed(futures, loop=client.loop):
            done += 1
            if future.status == "error":
                exc = future.exception()
                raise ClusterError(f"a backtest window failed on the Dask cluster: {type(exc).__name__}: "
                                   f"{_one_line(exc)}")
            if progress is not None:
                progress(done, len(futures))
        return list(client.gather(futures))
    except ClusterError:
        raise
    except (OSError, TimeoutError, dd.CancelledError) as e:
        raise ClusterError(f"the Dask cluster at {client.scheduler.address} failed during the backtest: "
                           f"{type(e).__name__}: {_one_line(e)}") from None


def backtest(config: CanaryConfig, data: str | None = None, *, start: float | None = None,
             end: float | None = None, every: float = 3600.0, window: float = 1800.0, effect: float = 1.25,
             scheduler: str | None = None, factors: tuple[float, ...] = DEFAULT_FACTORS,
             progress: Progress | None = None, timeout: float = 5.0, threads: int = 2) -> BacktestResult:
    """Backtest ``config`` over a history: false alarms as recorded, detections with the canary degraded.

    Parameters
    ----------
    config : CanaryConfig
        An ordinary config whose baseline and canary scopes select two groups of the same stable version (with
        a Prometheus source, its ``prometheus.url``, ``scopes`` and ``variables`` are used).
    data : str, optional
        A recorded file (CSV or Parquet) instead of Prometheus; ``start`` and ``end`` default to its window.
    start, end : float, optional
        The range in epoch seconds (required with Prometheus).
    every, window : float
        Seconds between window starts, and each window's length.
    effect : float
        The degradation whose detection rate is reported (> 1): the canary is multiplied by it on metrics that
        fail when higher (and direction ``either``, error counters among them), divided on those that fail when
        lower; denominators (traffic) stay as recorded.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); None runs an in-process ``LocalCluster``.
    factors : tuple of float
        The grid of degradations the minimum detectable effect is read from (``effect`` is added).
    progress : callable, optional
        ``progress(done, total)`` after each finished window.
    timeout : float
        Seconds allowed to reach the scheduler and find a worker.
    threads : int
        Threads of the in-process cluster.

    Returns
    -------
    BacktestResult
        ``to_dict()`` has the release-level ``false_alarm_rate`` and ``detection_rate`` and per metric
        ``false_alarm_rate``, ``detection_rate`` and ``mde``, each rate with its Wilson interval.

    Raises
    ------
    UsageError
        Bad range, window, effect or scheduler address; no source (exit 2).
    ClusterError
        The scheduler is unreachable, has no workers, or failed during the run (exit 4).
    """
    if not (math.isfinite(effect) and effect > 1.0):
        raise UsageError(f"--effect must be a factor above 1 (1.25 is a 25% regression); got {effect:g}")
    if any(not (math.isfinite(f) and f > 1.0) for f in factors):
        raise UsageError("the factors must all be above 1")
    address = check_scheduler(scheduler) if scheduler is not None else None
    if data is not None:
        from analysis.runs._backtest_window import load_file

        recorded = load_file(str(data)).window()  # validates the whole file before any task runs
        start = recorded.start if start is None else start
        end = recorded.end if end is None else end
        source: FileSource | ConfigSource = FileSource(str(data))
    else:
        from analysis.runs.source import SourceOptions, open_source

        # opened once here (queries expanded: template errors exit 2 before any task), then on each worker
        with open_source(config, SourceOptions(), need="the history to backtest") as opened:
            name = config.collector.name if config.collector is not None else "prometheus"
            if name == "prometheus":
                from analysis.collectors.prometheus import display_url

                name = display_url(opened.config.prometheus.url or "")
        if start is None or end is None:
            raise UsageError("a backtest from a collector needs --start and --end")
        source = ConfigSource(name)
    windows = plan_windows(float(start), float(end), every, window)
    grid = (1.0,) + tuple(sorted(set(factors) | {effect}))
    powers = degraded_metrics(config)
    with _quiet(), _client(address, timeout, threads) as client:
        used = str(client.scheduler.address)
        outcomes = _run(client, config, source, windows, grid, progress)
    return BacktestResult(
        config_name=config.name, source=source.describe(), scheduler=used, every=every, window=window,
        effect=effect, metrics=tuple(m.name for m in config.metrics),
        directions=tuple(m.params.direction.value for m in config.metrics),
        muted=tuple(m.muted for m in config.metrics), powers=tuple(powers.get(m.name) for m in config.metrics),
        outcomes=tuple(outcomes))
