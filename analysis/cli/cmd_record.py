"""``canary record``: fetch a window of every metric and save it for offline replay."""

from __future__ import annotations

from typing import Any

import click

from analysis._text import printable
from analysis.cli._options import prometheus_options
from analysis.config import load_config
from analysis.runs.source import SourceOptions


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@prometheus_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: CSV, or Parquet when it ends in .parquet.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal).")
def record(config: str, out: str, quiet: bool, **options: Any) -> int:
    """Fetch every metric of CONFIG from Prometheus over --start..--end and save it for offline replay.

    The file is what `canary analyze CONFIG --data FILE` reads, with the window and the expanded queries as
    metadata. Exit codes: 0 written, 2 usage or config error, 4 a metric could not be fetched (nothing written).
    """
    from analysis.cli.progress import progress_bar
    from analysis.runs.record import record_source

    opts = SourceOptions(**options)
    cfg = load_config(config)
    with progress_bar("recording", quiet=quiet) as progress:
        rec = record_source(cfg, opts, out, progress=progress)
    window, step = rec.window, rec.metadata.get("source", {}).get("step_s")
    w = window.to_dict()
    click.echo(f"recorded {len(rec.points)} metric(s), {rec.rows} points, {w['start']} .. {w['end']} "
               + (f"at step {step:g}s " if step else "") + f"-> {out}")
    for name, scopes in rec.points.items():
        empty = [s for s, n in scopes.items() if n == 0]
        note = f"  (no data: {', '.join(empty)})" if empty else ""
        click.echo(f"  {printable(name)}: baseline {scopes['baseline']}, canary {scopes['canary']}{note}")
    return 0
