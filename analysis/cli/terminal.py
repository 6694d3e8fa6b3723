"""Plain-text views of a result for the terminal: the metric table, group scores and the verdict line.

Each column means one thing for every judge: ``change [CI]`` is canary against baseline on the judge's scale
(``+12.3`` a shift, ``×1.25`` a ratio) with its confidence interval, ``p`` the p-value, ``mean ratio`` canary mean
over baseline mean. A threshold metric has no such comparison: its statistic and the limit it was held to are in
a ``threshold`` column of their own (shown only when the config has threshold metrics). Colour is used only on a
terminal and never when ``NO_COLOR`` is set (https://no-color.org).
"""

from __future__ import annotations

import math
import os
import shutil
from typing import IO, Iterable

from judges._decision import pct

from analysis.report import _view
from analysis._text import printable
from analysis.report._format import fmt
from analysis.results import AnalysisResult, MetricResult

_COLORS = {"pass": "green", "high": "red", "low": "red", "nodata": "yellow", "error": "magenta",
           "marginal": "yellow", "fail": "red", "inconclusive": "blue"}


def use_color(stream: IO[str]) -> bool:
    """Colour for ``stream``: only a terminal, and not when ``NO_COLOR`` is set to anything but empty."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _table(headers: list[str], rows: list[list[str]], aligns: str) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Iterable[str]) -> str:
        out = []
        for c, w, a in zip(cells, widths, aligns):
            out.append(c.rjust(w) if a == "r" else c.ljust(w))
        return "  ".join(out).rstrip()

    return [line(headers), line("-" * w for w in widths)] + [line(r) for r in rows]


def _change(m: MetricResult) -> str:
    """Canary against baseline with its interval; ``-`` for a threshold metric (no comparison is made)."""
    if _view.scale(m).kind == "value":
        return "-"
    return _view.shift(m)


def _threshold(m: MetricResult) -> str:
    """A threshold metric's statistic and the limit it was held to: ``991.5 (limit ≤ 900)``."""
    if _view.scale(m).kind != "value":
        return "-"
    s = m.statistics
    value = fmt(s.estimate) if math.isfinite(s.estimate) else "-"
    limit = _view.interval(m)
    return value if limit == "-" else f"{value} ({limit})"


def _detectable(m: MetricResult) -> tuple[str, str]:
    """The confidence the interval was judged at, and the smallest detectable change (with the extra points an
    inconclusive metric needs): ``+12% (+40 pts)``."""
    d = m.detectability()
    conf = "-" if d["confidence"] is None else pct(d["confidence"])
    detect = "-" if d["mde"] is None else f"{d['mde']:+.0%}"
    if d["extra_points"] is not None:
        detect += f" (+{d['extra_points']:.0f} pts)"
    elif m.classification.value == "inconclusive" and d["mde"] is not None:
        detect += " (more data won't tell)"
    return conf, detect


def _mean_ratio(m: MetricResult) -> str:
    if _view.scale(m).kind == "value":
        return "-"
    r = m.statistics.extra.get("mean_ratio")
    if r is None and _view.scale(m).kind == "ratio":
        r = m.statistics.effect_size  # the rate judges' effect size is the rate ratio of the means
    return fmt(r, 3) if isinstance(r, (int, float)) else "-"


def render(result: AnalysisResult, color: bool = False, only_failed: bool = False) -> str:
    """The full report: metric table (failures first), reasons, group scores and the verdict."""
    import click

    style = (lambda text, key: click.style(text, fg=_COLORS.get(key), bold=True)) if color else \
        (lambda text, key: text)
    lines = []
    w = result.window
    window = f"  window {w.to_dict()['start']} .. {w.to_dict()['end']}" if w else ""
    lines.append(f"canary analysis: {printable(result.config_name)}{window}  "
                 f"(engine {printable(result.engine_version)})")
    lines.append("")
    metrics = _view.ordered(result.metrics)
    if only_failed:
        metrics = [m for m in metrics if m.classification.value != "pass"]
    thresholds = any(_view.scale(m).kind == "value" for m in metrics)
    headers = ["metric", "group", "result", "baseline med", "canary med", "change [CI]", "conf", "p", "mean ratio",
               "detectable", "n b/c"]
    headers += ["threshold stat (limit)"] if thresholds else []
    rows, reasons = [], []
    for m in metrics:
        s = m.statistics
        label = m.classification.value.upper() + (" (critical)" if m.critical else "") + \
            (" (muted)" if m.muted else "")
        conf, detect = _detectable(m)
        row = [printable(m.name), printable(m.group), label, fmt(s.baseline_median), fmt(s.canary_median),
               _change(m), conf, fmt(s.p_value, 3), _mean_ratio(m), detect, f"{s.n_baseline}/{s.n_canary}"]
        rows.append(row + ([_threshold(m)] if thresholds else []))
        notable_pass = m.reason and not m.reason.startswith(("no shift", "The canary and baseline data are identical"))
        if m.classification.value != "pass" or m.warnings or notable_pass:
            note = m.reason or ""
            if m.warnings:
                note = (note + "; " if note else "") + "; ".join(m.warnings)
            reasons.append((m, note))
    table = _table(headers, rows, "lllrrrrrrrr" + ("r" if thresholds else ""))
    for i, m in enumerate(metrics):  # colour only the result cell, after widths are known
        if color:
            label = rows[i][2]
            table[i + 2] = table[i + 2].replace(label, style(label, m.classification.value), 1)
    lines.extend(table)
    if reasons:
        lines.append("")
        lines.append("reasons:")
        width = max(60, shutil.get_terminal_size((120, 20)).columns - 4)
        for m, note in reasons:
            text = printable(f"  {m.name} [{m.classification.value}]: {note}")
            lines.append(text if len(text) <= width * 3 else text[: width * 3 - 1] + "…")
    lines.append("")
    weights = {g: result.group_scores[g] for g in result.group_scores}
    if weights:
        lines.append("groups: " + ", ".join(f"{printable(g)} {fmt(v, 4)}" for g, v in weights.items()))
    for wmsg in result.warnings:
        lines.append(f"warning: {printable(wmsg)}")
    v = result.verdict.value
    lines.append(f"verdict: {style(v.upper(), v)}  score {result.score:g}/100  "
                 f"(pass >= {result.thresholds.pass_:g}, marginal >= {result.thresholds.marginal:g})  "
                 f"exit {result.exit_code}")
    lines.append(f"reason: {printable(result.reason)}")
    return "\n".join(lines)
