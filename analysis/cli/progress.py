"""Progress bars for long work on a terminal (record, analyze over many metrics, backtest), with rich.

A library function that takes long accepts a plain callback ``progress(done, total, what)`` (see
``analysis.pipeline.Progress``) and knows nothing of terminals; a command turns it into a bar:

    >>> from analysis.cli.progress import progress_bar
    >>> with progress_bar("recording", quiet=quiet) as progress:
    ...     record(cfg, collector, window, out, progress=progress)

The bar goes to stderr and only when stderr is a terminal and ``quiet`` is false; otherwise the callback is
``None`` and nothing is printed, so logs and pipes stay clean. It disappears when the work is done (the command's
own output follows). rich is imported only when a bar is shown, and it honours ``NO_COLOR``.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import IO, Callable, Iterator

Progress = Callable[[int, int, str], None]


def enabled(stream: IO[str] | None = None, quiet: bool = False) -> bool:
    """Whether a progress display belongs on ``stream`` (stderr by default): a terminal, and not ``quiet``."""
    stream = sys.stderr if stream is None else stream
    if quiet:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(label: str, *, quiet: bool = False, stream: IO[str] | None = None) -> Iterator[Progress | None]:
    """A transient progress bar labelled ``label``; yields its ``progress(done, total, what)`` callback, or
    ``None`` when no bar belongs here (not a terminal, or ``quiet``).

    ``what`` names the item just done (a metric, a window); a new ``total`` starts a new phase on the same bar.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled(stream, quiet):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

    console = Console(file=stream, stderr=stream is sys.stderr)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, what: str = "") -> None:
            bar.update(task, completed=done, total=total, description=f"{label} {what}".rstrip())

        yield update


__all__ = ["Progress", "enabled", "progress_bar"]
