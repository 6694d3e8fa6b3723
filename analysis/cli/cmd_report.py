"""``canary report RESULT.json -o report.html``: render a saved result as HTML, Markdown and JUnit XML."""

from __future__ import annotations

import functools

import click

from analysis.errors import UsageError
from analysis.results import AnalysisResult
from analysis.output import check_target

# where ``report_options`` leaves the requested paths for ``write_requested`` (click's slot for extensions)
_META_KEY = "canary_engine.reports"


def report_options(f):
    """Add ``--report``, ``--summary-md`` and ``--junit`` to a command that ends in ``emit()``.

    The paths are kept in the click context rather than passed down, so the command's own signature and the
    functions it calls stay as they are; ``emit()`` writes the reports with :func:`write_requested`.
    """
    @functools.wraps(f)
    def command(*args, report_path=None, summary_md=None, junit_path=None, **kwargs):
        if sum(p == "-" for p in (report_path, summary_md, junit_path, kwargs.get("json_path"))) > 1:
            raise UsageError("only one output can go to stdout ('-')")
        for path in (kwargs.get("json_path"), report_path, summary_md, junit_path):
            check_target(path)
        click.get_current_context().meta[_META_KEY] = {"html": report_path, "markdown": summary_md,
                                                       "junit": junit_path}
        return f(*args, **kwargs)

    command = click.option("--junit", "junit_path", metavar="PATH",
                           help="Write JUnit XML: one test case per metric; high, low and failing nodata are "
                                "failures.")(command)
    command = click.option("--summary-md", "summary_md", metavar="PATH",
                           help="Write a Markdown summary (e.g. to $GITHUB_STEP_SUMMARY); appended when the "
                                "file exists.")(command)
    return click.option("--report", "report_path", metavar="PATH",
                        help="Write a self-contained HTML report (no network requests).")(command)


def write_requested(result: AnalysisResult) -> None:
    """Write the reports asked for with ``report_options`` on the running command, if any."""
    ctx = click.get_current_context(silent=True)
    targets = ctx.meta.get(_META_KEY) if ctx is not None else None
    if targets and any(targets.values()):
        from analysis.report import write_reports

        write_reports(result, **targets)


@click.command()
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "html_path", metavar="PATH|-", help="Write the HTML report here ('-' for stdout).")
@click.option("--summary-md", "summary_md", metavar="PATH|-", help="Write a Markdown summary here; appended when "
              "the file exists "
              "(as $GITHUB_STEP_SUMMARY expects).")
@click.option("--junit", "junit_path", metavar="PATH|-", help="Write JUnit XML here.")
@click.option("--title", help="Title of the HTML document (default: verdict and config name).")
def report(result: str, html_path: str | None, summary_md: str | None, junit_path: str | None,
           title: str | None) -> int:
    """Render RESULT (JSON from 'canary analyze --json') as an HTML report, a Markdown summary or JUnit XML.

    The HTML file is self-contained (inline CSS and SVG, no network requests) and shows the verdict, group
    scores, every metric (failing first) with its reason, query and charts. Exits 0 once written.
    """
    from analysis.report import write_reports
    from analysis.results.io import load_result

    if not (html_path or summary_md or junit_path):
        raise UsageError("nothing to write: give -o PATH (HTML), --summary-md PATH or --junit PATH")
    if sum(p == "-" for p in (html_path, summary_md, junit_path)) > 1:
        raise UsageError("only one output can go to stdout ('-')")
    for path in (html_path, summary_md, junit_path):
        check_target(path)
    loaded = load_result(result)
    written = write_reports(loaded, html=html_path, markdown=summary_md, junit=junit_path, title=title)
    for path in written:
        if path != "-":
            click.echo(f"wrote {path}", err=True)
    return 0
