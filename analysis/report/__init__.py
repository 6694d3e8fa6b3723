"""Reports people read: a self-contained HTML file, a Markdown summary for CI, and JUnit XML.

    >>> from analysis.report import render_html, render_markdown, render_junit, write_reports
    >>> write_reports(result, html="report.html", markdown="summary.md", junit="junit.xml")

Every format shows failing metrics first and prints the reasons the judges and the verdict wrote; none of them
decides anything. Jinja2 and matplotlib are imported only when a report is rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

if TYPE_CHECKING:
    from analysis.results import AnalysisResult



def render_html(result: AnalysisResult, title: str | None = None) -> str:
    """One self-contained HTML document (see :func:`analysis.report.html.render_html`)."""
    from analysis.report.html import render_html as render

    return render(result, title)


def render_markdown(result: AnalysisResult, max_rows: int = 100) -> str:
    """A Markdown summary for a GitHub Actions step summary (see :mod:`analysis.report.markdown`)."""
    from analysis.report.markdown import render_markdown as render

    return render(result, max_rows)


def render_junit(result: AnalysisResult) -> str:
    """JUnit XML with one test case per metric (see :mod:`analysis.report.junit`)."""
    from analysis.report.junit import render_junit as render

    return render(result)


def write_reports(result: AnalysisResult, html: str | Path | None = None, markdown: str | Path | None = None,
                  junit: str | Path | None = None, title: str | None = None) -> list[str]:
    """Write each requested report whole or not at all (``-`` is stdout); returns the paths written.

    A Markdown summary is appended to an existing file, as GitHub Actions expects of ``$GITHUB_STEP_SUMMARY``
    (several steps or analyses of one job each add theirs); the HTML and JUnit files are replaced.

    Raises
    ------
    UsageError
        If a target directory does not exist or a file cannot be written (the message names the path).
    """
    from analysis.output import write_atomic

    written = []
    for path, render in ((html, lambda: render_html(result, title)), (markdown, lambda: _appended(markdown,
                                                                                            render_markdown(result))),
                         (junit, lambda: render_junit(result))):
        if path:
            write_atomic(path, render())
            written.append(str(path))
    return written


def _appended(path: str | Path | None, text: str) -> str:
    """``text`` after what ``path`` already holds (a blank line between), or ``text`` for a new file or stdout."""
    if path is None or str(path) == "-" or not Path(path).is_file():
        return text
    try:
        before = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        from ..errors import UsageError

        raise UsageError(f"{path}: cannot read to append: {e.strerror or e}") from None
    if not before.strip():
        return text
    return before.rstrip("\n") + "\n\n" + text


__all__ = ["render_html", "render_junit", "render_markdown", "write_reports"]
