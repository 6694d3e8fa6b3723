"""The source options every data command shares (``--prometheus-url``, ``--start``, ...), ``canary analyze``'s
run and ``canary record``. The library does the work (``analysis.runs``); this module parses and prints.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import click

from analysis.config import CanaryConfig, load_config
from analysis.series import Window
from analysis.output import write_atomic
from analysis.runs.source import SourceOptions

_TIME_HELP = "ISO 8601 (2024-01-01T00:00:00Z), epoch seconds, now, or now-1h."


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


def emit_intervals(run: Any, json_path: str | None, json_data: bool, only_failed: bool) -> None:
    """Print an interval run's final table and write its JSON and reports."""
    from analysis.cli.cmd_report import write_requested
    from analysis.cli.terminal import render

    to_stderr = json_path == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo("", err=to_stderr)
    click.echo(render(run.result, color=stream.isatty(), only_failed=only_failed), err=to_stderr)
    if json_path:
        write_atomic(json_path, run.to_json(include_data=json_data))
    write_requested(run.result)


def run_analyze(cfg: CanaryConfig, opts: SourceOptions, json_path: str | None, json_data: bool,
                only_failed: bool, progress: Any = None) -> int:
    """``canary analyze``: one library call (one window, or interval by interval), then print and write."""
    from analysis.cli.cmd_analyze import emit
    from analysis.runs.analyze import analyze_intervals, analyze_source

    if not opts.interval_run:
        result = analyze_source(cfg, opts, progress)
        emit(result, json_path, only_failed, json_data=json_data)
        return result.exit_code
    to_stderr = json_path == "-"

    def on_interval(i: int, total: int, result: Any, stop: str | None) -> None:
        w = result.window.to_dict()
        line = f"interval {i}/{total}  {w['start']} .. {w['end']}  {result.verdict.value.upper():<8} score {result.score:g}"
        click.echo(line + (f"  (stopping: {stop})" if stop else ""), err=to_stderr)

    def on_wait(i: int, total: int, until: float) -> None:
        click.echo(f"interval {i}/{total}: waiting until {Window(until, until).to_dict()['end']} "
                   f"({max(0.0, until - time.time()):.0f}s)", err=True)

    run = analyze_intervals(cfg, opts, on_interval=on_interval, on_wait=on_wait)
    emit_intervals(run, json_path, json_data, only_failed)
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
    from analysis.runs.record import record_source

    opts = SourceOptions(**options)
    rec = record_source(load_config(config), opts, out)
    window, step = rec.window, rec.metadata.get("source", {}).get("step_s")
    w = window.to_dict()
    click.echo(f"recorded {len(rec.points)} metric(s), {rec.rows} points, {w['start']} .. {w['end']} "
               + (f"at step {step:g}s " if step else "") + f"-> {out}")
    for name, scopes in rec.points.items():
        empty = [s for s, n in scopes.items() if n == 0]
        note = f"  (no data: {', '.join(empty)})" if empty else ""
        click.echo(f"  {name}: baseline {scopes['baseline']}, canary {scopes['canary']}{note}")
    return 0
