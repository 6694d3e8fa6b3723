"""Where ``canary analyze`` gets its data (a file or Prometheus), its interval options, and ``canary record``.

Flags override the config's ``prometheus:`` and ``variables:`` sections. ``prometheus_api_client`` is imported only
when Prometheus is actually queried, so ``canary --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import click

from analysis.config._reader import parse_duration
from analysis.collectors.promql import LABEL_NAME
from analysis.config import CanaryConfig, load_config
from analysis.errors import UsageError
from analysis.series import Window
from analysis.output import write_atomic

_TIME_HELP = "ISO 8601 (2024-01-01T00:00:00Z), epoch seconds, now, or now-1h."


@dataclass(frozen=True)
class SourceOptions:
    """The command-line options that choose and shape the data source (all optional)."""

    prometheus_url: str | None = None
    start: str | None = None
    end: str | None = None
    step: str | None = None
    timeout: str | None = None
    variables: tuple[str, ...] = ()
    lifetime: str | None = None
    interval: str | None = None
    warmup: str | None = None
    lookback: str | None = None
    mode: str | None = None

    @property
    def interval_run(self) -> bool:
        return any(v is not None for v in (self.lifetime, self.interval, self.warmup, self.lookback, self.mode))


def _prometheus_options(f: Callable) -> Callable:
    options = [
        click.option("--prometheus-url", metavar="URL", help="Query this Prometheus (overrides prometheus.url)."),
        click.option("--start", metavar="TIME", help=f"Start of the window. {_TIME_HELP}"),
        click.option("--end", metavar="TIME", help=f"End of the window (default: now). {_TIME_HELP}"),
        click.option("--step", metavar="DURATION", help="Query resolution, e.g. 30s (overrides prometheus.step)."),
        click.option("--timeout", metavar="DURATION",
                     help="Time allowed per query, retries included (overrides prometheus.timeout)."),
        click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                     help="Value of a ${NAME} placeholder in the queries (repeatable; overrides variables:)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def source_options(f: Callable) -> Callable:
    """The Prometheus and interval options of ``canary analyze`` (they arrive as keyword arguments)."""
    options = [
        click.option("--lifetime", metavar="DURATION", help="Interval run: total duration when --end is not given."),
        click.option("--interval", metavar="DURATION", help="Interval run: judge every DURATION (default: the "
                     "lifetime); stops at the first interval scoring at or below marginal."),
        click.option("--warmup", metavar="DURATION", help="Interval run: skip this long after --start first."),
        click.option("--lookback", metavar="DURATION", help="Interval run: sliding windows of this length "
                     "(default: growing windows from the start)."),
        click.option("--mode", type=click.Choice(["retrospective", "realtime"]), help="Interval run: judge past "
                     "windows at once (retrospective, default) or wait for each window to close (realtime)."),
    ]
    for option in reversed(options):
        f = option(f)
    return _prometheus_options(f)


def _duration(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


def parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not LABEL_NAME.match(name):
            raise UsageError(f"--var {item!r}: expected NAME=VALUE with NAME made of letters, digits and _")
        if name == "scope":
            raise UsageError("--var scope=...: ${scope} is set by the scopes: section, not a variable")
        out[name] = value
    return out


def with_prometheus_overrides(cfg: CanaryConfig, opts: SourceOptions) -> CanaryConfig:
    """``cfg`` with the command-line flags applied over its ``prometheus:`` and ``variables:`` sections."""
    settings = cfg.prometheus
    if opts.prometheus_url:
        settings = dataclasses.replace(settings, url=opts.prometheus_url)
    step = _duration(opts.step, "--step")
    if step is not None:
        if step <= 0:
            raise UsageError("--step must be longer than zero")
        settings = dataclasses.replace(settings, step=step)
    timeout = _duration(opts.timeout, "--timeout")
    if timeout is not None:
        if timeout <= 0:
            raise UsageError("--timeout must be longer than zero")
        settings = dataclasses.replace(settings, timeout=timeout)
    if "scope" in cfg.variables:
        raise UsageError(f"{cfg.source}: variables.scope: ${{scope}} is set by the scopes: section")
    variables = {**cfg.variables, **parse_vars(opts.variables)}
    return cfg.with_overrides(prometheus=settings, variables=variables)


def prometheus_collector(cfg: CanaryConfig):
    """The collector for ``cfg``, with every query expanded once so template errors exit 2 before any fetch."""
    from analysis.collectors.prometheus import PrometheusCollector

    collector = PrometheusCollector.from_config(cfg)
    collector.queries(cfg.metrics)
    return collector


def _window(opts: SourceOptions, now: float, default: Window | None) -> Window:
    from analysis.runs.intervals import parse_instant

    if opts.start is None and default is None:
        raise UsageError("give the start of the window: --start TIME (e.g. --start now-1h)")
    start = parse_instant(opts.start, now, "--start") if opts.start is not None else default.start
    end = parse_instant(opts.end, now, "--end") if opts.end is not None else \
        (default.end if default is not None else now)
    if end <= start:
        raise UsageError(f"--end ({Window(end, end).to_dict()['end']}) must be after --start "
                         f"({Window(start, start).to_dict()['start']})")
    return Window(start, end)


def run_analyze(cfg: CanaryConfig, data: str | None, opts: SourceOptions, json_path: str | None,
                json_data: bool, only_failed: bool, progress: Any = None) -> int:
    """``canary analyze``: pick the source, then one analysis or an interval run; print and write; exit code."""
    from analysis.pipeline import analyze
    from analysis.cli.cmd_analyze import emit

    now = float(int(time.time()))  # whole seconds: windows print cleanly and land on whole-second grids
    if data and opts.prometheus_url:
        raise UsageError("give either --data or --prometheus-url, not both")
    default_window = None
    if data:
        from analysis.collectors.file import FileCollector

        for flag, value in (("--step", opts.step), ("--timeout", opts.timeout), ("--var", opts.variables or None)):
            if value is not None:
                raise UsageError(f"{flag} applies to Prometheus queries, not to --data")
        collector: Any = FileCollector(data)
        default_window = collector.window()
    else:
        cfg = with_prometheus_overrides(cfg, opts)
        if not cfg.prometheus.url:
            raise UsageError("give the data to judge: --data PATH, or --prometheus-url URL (or prometheus.url "
                             "in the config) with --start and --end")
        collector = prometheus_collector(cfg)
    try:
        if not opts.interval_run:
            result = analyze(cfg, collector, _window(opts, now, default_window), progress)
            emit(result, json_path, only_failed, json_data=json_data)
            return result.exit_code
        return _run_intervals(cfg, collector, opts, now, default_window, json_path, json_data, only_failed)
    finally:
        close = getattr(collector, "close", None)
        if close is not None:
            close()


def _run_intervals(cfg: CanaryConfig, collector: Any, opts: SourceOptions, now: float,
                   default_window: Window | None, json_path: str | None, json_data: bool, only_failed: bool) -> int:
    from analysis.runs.intervals import Mode, parse_instant, plan, run_intervals
    from analysis.cli.terminal import render

    mode = Mode(opts.mode or "retrospective")
    if opts.start is not None:
        start = parse_instant(opts.start, now, "--start")
    elif default_window is not None:
        start = default_window.start
    elif mode is Mode.REALTIME:
        start = now
    else:
        raise UsageError("a retrospective interval run needs --start (and --end or --lifetime)")
    end = parse_instant(opts.end, now, "--end") if opts.end is not None else None
    if end is None and opts.lifetime is None and default_window is not None:
        end = default_window.end
    schedule = plan(start, end, _duration(opts.lifetime, "--lifetime"), _duration(opts.interval, "--interval"),
                    _duration(opts.warmup, "--warmup") or 0.0, _duration(opts.lookback, "--lookback") or 0.0)
    last_end = schedule.windows[-1].end
    if mode is Mode.RETROSPECTIVE and default_window is None and last_end > now:
        raise UsageError(f"the last interval ends in the future ({Window(last_end, last_end).to_dict()['end']}); "
                         f"use --mode realtime to wait for it, or an earlier --start")
    to_stderr = json_path == "-"

    def on_interval(i: int, total: int, result, stop: str | None) -> None:
        w = result.window.to_dict()
        line = (f"interval {i}/{total}  {w['start']} .. {w['end']}  {result.verdict.value.value.upper():<8} "
                f"score {result.score.score:g}")
        click.echo(line + (f"  (stopping: {stop})" if stop else ""), err=to_stderr)

    def on_wait(i: int, total: int, until: float) -> None:
        click.echo(f"interval {i}/{total}: waiting until {Window(until, until).to_dict()['end']} "
                   f"({max(0.0, until - time.time()):.0f}s)", err=True)

    run = run_intervals(cfg, collector, schedule, mode, on_interval=on_interval, on_wait=on_wait)
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo("", err=to_stderr)
    click.echo(render(run.result, color=stream.isatty(), only_failed=only_failed), err=to_stderr)
    if json_path:
        write_atomic(json_path, run.to_json(include_data=json_data))
    from analysis.cli.cmd_report import write_requested

    write_requested(run.result)
    return run.exit_code


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@_prometheus_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: CSV, or Parquet when it ends in .parquet.")
def record(config: str, out: str, **options: Any) -> int:
    """Fetch every metric of CONFIG from Prometheus over --start..--end and save it for offline replay.

    The file is what `canary analyze CONFIG --data FILE` reads, with the window and the expanded queries as
    metadata. Exit codes: 0 written, 2 usage or config error, 4 a metric could not be fetched (nothing written).
    """
    from analysis.collectors.prometheus import display_url
    from analysis.runs.record import record as run

    opts = SourceOptions(**options)
    cfg = with_prometheus_overrides(load_config(config), opts)
    if not cfg.prometheus.url:
        raise UsageError("give the Prometheus to record from: --prometheus-url URL (or prometheus.url)")
    window = _window(opts, float(int(time.time())), None)
    collector = prometheus_collector(cfg)
    try:
        rec = run(cfg, collector, window, out, source={"type": "prometheus", "url": display_url(cfg.prometheus.url),
                                                       "step_s": cfg.prometheus.step})
    finally:
        collector.close()
    w = window.to_dict()
    click.echo(f"recorded {len(rec.points)} metric(s), {rec.rows} points, {w['start']} .. {w['end']} "
               f"at step {cfg.prometheus.step:g}s -> {out}")
    for name, scopes in rec.points.items():
        empty = [s for s, n in scopes.items() if n == 0]
        note = f"  (no data: {', '.join(empty)})" if empty else ""
        click.echo(f"  {name}: baseline {scopes['baseline']}, canary {scopes['canary']}{note}")
    return 0
