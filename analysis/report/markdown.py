"""A Markdown summary of a result, fit for a GitHub Actions step summary (``$GITHUB_STEP_SUMMARY``).

GitHub renders Markdown with inline HTML, so user text is escaped twice over: HTML specials become entities and
Markdown punctuation is backslash-escaped, so a metric name can neither open a tag nor break a table cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re

from analysis.report._format import fmt
from analysis.report import _view

if TYPE_CHECKING:
    from analysis.results import AnalysisResult, MetricResult

# inline Markdown only: a table cell never starts a block ('#', '-', '+', '.' are safe), and with '[' and ']'
# escaped no '(' or '!' can make a link or an image; ':' breaks GitHub's bare-URL autolinks
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~:])")
_MAX_CELL = 300
# bidirectional overrides and isolates would reorder the rest of a table row on GitHub
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], "\N{REPLACEMENT CHARACTER}")


def md(text: object, limit: int = _MAX_CELL) -> str:
    """Escape ``text`` for a Markdown table cell (one line, no HTML, no Markdown syntax)."""
    s = " ".join(str(text).translate(_BIDI).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _row(m: MetricResult) -> str:
    s = m.statistics
    notes = [m.reason] if m.reason else []
    notes += _view.warnings(m, None)
    cells = [md(m.name), md(m.group), f"**{md(_view.label(m))}**", fmt(s.baseline_median), fmt(s.canary_median),
             md(_view.shift(m)), md(_view.p_value(m)), f"{s.n_baseline}/{s.n_canary}", md("; ".join(notes))]
    return "| " + " | ".join(cells) + " |"


_HEAD = ("| Metric | Group | Result | Baseline median | Canary median | Shift [CI] | p | n b/c | Reason |\n"
         "|---|---|---|--:|--:|--:|--:|--:|---|")


def render_markdown(result: AnalysisResult, max_rows: int = 100) -> str:
    """The verdict, score, group scores and a metric table, failing metrics first.

    Parameters
    ----------
    result : AnalysisResult
    max_rows : int
        Non-passing metrics are always listed; passing ones fill up to ``max_rows`` rows inside a collapsed
        ``<details>`` block, and the rest are counted, so the summary stays well under GitHub's 1 MiB limit.
    """
    v = result.verdict.value
    th = result.thresholds
    metrics = _view.ordered(result.metrics)
    bad = [m for m in metrics if m.classification.value != "pass" or m.failed]
    good = [m for m in metrics if m not in bad]
    counts = ", ".join(f"{n} {k}" for k, n in _view.counts(result).items())
    out = [f"## {_view.VERDICT_MARK.get(v, '')} Canary analysis: **{v.upper()}** · {md(result.config_name)}", "",
           f"**Score {fmt(result.score)} / 100** (pass ≥ {th.pass_:g}, marginal ≥ {th.marginal:g}) · "
           f"{len(result.metrics)} metrics: {counts or 'none'} · exit code {result.exit_code}", "",
           f"> {md(result.reason, 2000)}", ""]
    w = _view.window_text(result)
    if w:
        out += [f"Window: {w}", ""]
    if result.group_scores:
        out += ["| Group | Score |", "|---|--:|"]
        out += [f"| {md(g)} | {fmt(s)} |" for g, s in result.group_scores.items()]
        out.append("")
    if result.warnings:
        out += [f"- ⚠️ {md(x, 2000)}" for x in result.warnings] + [""]
    if bad:
        out += [f"### Not passing ({len(bad)})", "", _HEAD, *(_row(m) for m in bad), ""]
    if good:
        shown = good[: max(max_rows - len(bad), 0)]
        out += [f"<details><summary>Passing ({len(good)})</summary>", ""]
        if shown:
            out += [_HEAD, *(_row(m) for m in shown)]
        if len(good) > len(shown):
            out += ["", f"… and {len(good) - len(shown)} more passing metrics (see the HTML report)."]
        out += ["", "</details>", ""]
    return _view.safe_text("\n".join(out))
