"""``canary watch``: judge again at every step as data arrives and stop as soon as the evidence is conclusive."""

from __future__ import annotations

import sys

import click

from analysis.config import load_config
from analysis.output import check_target, write_atomic
from analysis.cli._options import prometheus_options
from analysis.runs.source import SourceOptions


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Replay recorded data (CSV or Parquet) in time order instead of querying Prometheus.")
@prometheus_options
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
    from analysis.cli.terminal import render, use_color
    from analysis.runs.watch import watch_source

    check_target(json_path)
    opts = SourceOptions(data=data, **source)  # type: ignore[arg-type]
    to_stderr = json_path == "-"

    def on_look(look, result) -> None:
        if quiet:
            return
        flagged = f"  flagged: {', '.join(look.flagged)}" if look.flagged else ""
        click.echo(f"look {len(seen) + 1:>4}  {look.to_dict()['time']}  {look.verdict.upper():<8} "
                   f"score {look.score:g}{flagged}", err=to_stderr)
        seen.append(look)

    seen: list = []
    out = watch_source(load_config(config), opts, duration=duration, margin=margin, on_look=on_look)
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo(f"\nwatch: {out.reason}\n", err=to_stderr)
    click.echo(render(out.result, color=use_color(stream)), err=to_stderr)
    if json_path:
        write_atomic(json_path, out.to_json(include_data=not json_no_data))
    return out.exit_code
