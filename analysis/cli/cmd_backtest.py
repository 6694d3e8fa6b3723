"""``canary backtest``: false-alarm and detection rates of a config over a history (parse, call, print, exit)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from analysis.errors import UsageError
from analysis.output import check_target, write_atomic
from analysis.cli._options import prometheus_options
from analysis.runs.source import SourceOptions, duration, with_prometheus_overrides


def _bar(stream: Any):
    """A progress bar on ``stream`` when it is a terminal; None otherwise (logs and pipes stay clean)."""
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = round(30 * done / total)
        stream.write(f"\rbacktest [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} windows")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def render(result: Any) -> str:
    """The terminal table: the release verdict and every metric, rates with intervals, and the MDE."""
    from analysis.report.backtest import mde_text, rate_text

    d = result.to_dict()
    lines = [f"backtest of {result.config_name}: {result.span_text()}, {d['range']['start']} .. {d['range']['end']}",
             f"source {result.source}; scheduler {result.scheduler}; rates over windows with a verdict, "
             f"[95% Wilson interval] in percent", ""]
    head = f"{'':<24} {'false alarms (A/A)':<28} {'detection at x' + format(result.effect, 'g'):<28} MDE (80%)"
    lines += [head, "-" * len(head)]
    lines.append(f"{'release verdict':<24} {rate_text(result.false_alarm):<28} {rate_text(result.detection):<28} "
                 f"{mde_text(result.mde)}")
    for m in result.metric_rates():
        name = m.name if len(m.name) <= 24 else m.name[:23] + "…"
        lines.append(f"{name:<24} {rate_text(m.false_alarm):<28} {rate_text(m.detection):<28} "
                     f"{mde_text(m.mde, m.degradation is not None)}")
    if result.no_verdict:
        lines += ["", f"{len(result.no_verdict)} of {d['windows']} windows reached no verdict and are not in the "
                      f"rates; first: {result.no_verdict[0].window.to_dict()['start']}: {result.no_verdict[0].reason}"]
    return "\n".join(lines)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Recorded history (CSV or Parquet) instead of Prometheus; --start and --end default to its span.")
@click.option("--every", default="1h", show_default=True, metavar="DURATION", help="Time between window starts.")
@click.option("--window", "window", default="30m", show_default=True, metavar="DURATION",
              help="Length of each window.")
@click.option("--effect", default=1.25, show_default=True, type=float, metavar="FACTOR",
              help="Degradation whose detection rate is reported: canary x FACTOR where higher is worse, / FACTOR "
                   "where lower is worse.")
@click.option("--scheduler", metavar="ADDRESS", help="Run the windows on this Dask scheduler (tcp://host:8786); "
              "default: an in-process cluster.")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the result as JSON ('-' for stdout).")
@click.option("--html", "html_path", metavar="PATH", help="Write the result as a self-contained HTML page.")
@prometheus_options
def backtest(config: str, data: str | None, every: str, window: str, effect: float, scheduler: str | None,
             json_path: str | None, html_path: str | None, **source: Any) -> int:
    """How often would CONFIG have raised a false alarm on this history, and what would it have caught?

    CONFIG's baseline and canary scopes select two groups of the same stable version. The range is cut into
    windows of --window every --every; each is judged as recorded (an alarm is a false alarm) and with the canary
    degraded by --effect and a grid of factors (an alarm is a detection), with the same judges, scoring and
    verdict as 'canary analyze'. Windows run as Dask tasks, fetched on the workers.

    Exit codes: 0 every window reached a verdict, 2 usage or config error, 4 some window reached no verdict
    (a fetch failed: never counted as 'no alarm'), or the Dask scheduler is unreachable.
    """
    from analysis.config import load_config
    from analysis.runs.intervals import parse_instant
    from analysis.runs.backtest import backtest as run

    opts = SourceOptions(**source)
    if data and opts.prometheus_url:
        raise UsageError("give either --data or --prometheus-url, not both")
    if json_path == "-" and html_path == "-":
        raise UsageError("only one output can go to stdout ('-')")
    for path in (json_path, html_path):
        check_target(path)
    cfg = load_config(config)
    if data:
        for flag, value in (("--step", opts.step), ("--timeout", opts.timeout), ("--var", opts.variables or None)):
            if value is not None:
                raise UsageError(f"{flag} applies to Prometheus queries, not to --data")
    else:
        cfg = with_prometheus_overrides(cfg, opts)
        if opts.prometheus_url:  # the flag wins over a collector: section, on the workers too
            cfg = cfg.with_overrides(collector=None)
    now = float(int(time.time()))
    start = parse_instant(opts.start, now, "--start") if opts.start is not None else None
    end = parse_instant(opts.end, now, "--end") if opts.end is not None else None
    every_s, window_s = duration(every, "--every"), duration(window, "--window")
    to_stderr = json_path == "-"
    result = run(cfg, data, start=start, end=end, every=every_s or 0.0, window=window_s or 0.0, effect=effect,
                 scheduler=scheduler, progress=_bar(sys.stderr))
    click.echo(render(result), err=to_stderr)
    if json_path:
        write_atomic(json_path, result.to_json())
    if html_path:
        from analysis.report.backtest import render_backtest_html

        write_atomic(html_path, render_backtest_html(result))
    return result.exit_code
