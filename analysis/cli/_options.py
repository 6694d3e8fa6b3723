"""The source options every data command shares (``--prometheus-url``, ``--start``, ``--lifetime``, ...)."""

from __future__ import annotations

from typing import Callable

import click


_TIME_HELP = "ISO 8601 (2024-01-01T00:00:00Z), epoch seconds, now, or now-1h."


def prometheus_options(f: Callable) -> Callable:
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
    return prometheus_options(f)
