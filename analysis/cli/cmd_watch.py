"""``canary watch``: judge again at every step as data arrives and stop as soon as the evidence is conclusive."""

from __future__ import annotations

import sys
import time

import click

from analysis.config import load_config
from analysis.errors import UsageError
from analysis.output import check_target, write_atomic
from analysis.cli.cmd_source import _duration, _prometheus_options


def _file_step(collector) -> float:
    ts = collector.frame["timestamp"].to_numpy()
    import numpy as np

    diffs = np.diff(np.unique(ts))
    return float(np.median(diffs)) if diffs.size else 60.0


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Replay recorded data (CSV or Parquet) in time order instead of querying Prometheus.")
@_prometheus_options
@click.option("--duration", metavar="DURATION", help="How long to watch from --start when --end is not given.")
@click.option("--margin", type=float, metavar="FRACTION",
              help="Also stop with a pass once every gating metric rules out a regression larger than this "
                   "relative change (e.g. 0.05).")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the last look's result and the watch history "
              "as JSON ('-' for stdout).")
@click.option("--json-no-data", is_flag=True, help="Leave the collected series out of the JSON result.")
@click.option("--quiet", is_flag=True, help="Print only the final result, not a line per look.")
def watch(config: str, data: str | None, duration: str | None, margin: float | None, json_path: str | None,
          json_no_data: bool, quiet: bool, **source: object) -> int:
    """Watch CONFIG's canary: judge at every step with anytime-valid judges, stop when conclusive.

    rate metrics are judged by sequential-rate and rank metrics by sequential-mean, so looking at every step keeps
    the false-alarm rate at most alpha. Data comes from a recorded file (--data, replayed step by step) or from
    Prometheus (--prometheus-url or prometheus.url, --start, and --end or --duration; looks wait for real time).

    Exit codes: 0 pass, 1 fail, 2 usage or config error, 3 marginal, 4 nodata or error.
    """
    from analysis.runs.intervals import parse_instant
    from analysis.cli.terminal import render
    from analysis.runs.watch import watch as run
    from analysis.cli.cmd_source import SourceOptions, prometheus_collector, with_prometheus_overrides

    opts = SourceOptions(**{k: v for k, v in source.items()})  # type: ignore[arg-type]
    check_target(json_path)
    cfg = load_config(config)
    now = time.time()
    if margin is not None and not 0 < margin < 10:
        raise UsageError("--margin must be a relative change in (0, 10), e.g. 0.05")
    if data:
        if opts.prometheus_url:
            raise UsageError("give either --data or --prometheus-url, not both")
        from analysis.collectors.file import FileCollector

        collector = FileCollector(data)
        recorded = collector.window()
        start = parse_instant(opts.start, now, "--start") if opts.start else recorded.start
        if opts.end:
            end = parse_instant(opts.end, now, "--end")
        elif duration:
            end = start + (_duration(duration, "--duration") or 0.0)
        else:
            end = recorded.end
        step = _duration(opts.step, "--step") or _file_step(collector)
        sleep = None
    else:
        cfg = with_prometheus_overrides(cfg, opts)
        if not cfg.prometheus.url:
            raise UsageError("give the data to watch: --data PATH, or --prometheus-url URL (or prometheus.url) "
                             "with --start and --end or --duration")
        start = parse_instant(opts.start, now, "--start") if opts.start else now
        if opts.end:
            end = parse_instant(opts.end, now, "--end")
        elif duration:
            end = start + (_duration(duration, "--duration") or 0.0)
        else:
            raise UsageError("say how long to watch: --end TIME or --duration DURATION")
        step = cfg.prometheus.step
        collector = prometheus_collector(cfg)
        sleep = time.sleep
    if end <= start:
        raise UsageError("the watch must end after it starts (--start, --end, --duration)")
    to_stderr = json_path == "-"

    def on_look(look, result) -> None:
        if quiet:
            return
        flagged = f"  flagged: {', '.join(look.flagged)}" if look.flagged else ""
        click.echo(f"look {len(seen) + 1:>4}  {look.to_dict()['time']}  {look.verdict.upper():<8} "
                   f"score {look.score:g}{flagged}", err=to_stderr)
        seen.append(look)

    seen: list = []
    try:
        out = run(cfg, collector, start, end, step, margin=margin, sleep=sleep, on_look=on_look)
    finally:
        close = getattr(collector, "close", None)
        if close is not None:
            close()
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo(f"\nwatch: {out.reason}\n", err=to_stderr)
    click.echo(render(out.result, color=stream.isatty()), err=to_stderr)
    if json_path:
        write_atomic(json_path, out.to_json(include_data=not json_no_data))
    return out.exit_code
