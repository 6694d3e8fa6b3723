"""Plain-text views of a result for the terminal: the metric table, group scores and the verdict line."""

from __future__ import annotations

import shutil
from typing import Iterable

from judges._decision import pct

from analysis.report._format import fmt
from analysis.results import AnalysisResult, MetricResult

_COLORS = {"pass": "green", "high": "red", "low": "red", "nodata": "yellow", "error": "magenta",
           "marginal": "yellow", "fail": "red", "inconclusive": "cyan"}


def _table(headers: list[str], rows: list[list[str]], aligns: str) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Iterable[str]) -> str:
        out = []
        for c, w, a in zip(cells, widths, aligns):
            out.append(c.rjust(w) if a == "r" else c.ljust(w))
        return "  ".join(out).rstrip()

    return [line(headers), line("-" * w for w in widths)] + [line(r) for r in rows]


def _order(metrics: Iterable[MetricResult]) -> list[MetricResult]:
    rank = {"high": 0, "low": 0, "error": 1, "inconclusive": 2, "nodata": 3, "pass": 4}
    return sorted(metrics, key=lambda m: (not m.critical, rank.get(m.classification.value, 9)))


def render(result: AnalysisResult, color: bool = False, only_failed: bool = False) -> str:
    """The full report: metric table (failures first), reasons, group scores and the verdict."""
    import click

    style = (lambda text, key: click.style(text, fg=_COLORS.get(key), bold=True)) if color else \
        (lambda text, key: text)
    lines = []
    w = result.window
    window = f"  window {w.to_dict()['start']} .. {w.to_dict()['end']}" if w else ""
    lines.append(f"canary analysis: {result.config_name}{window}  (engine {result.engine_version})")
    lines.append("")
    headers = ["metric", "group", "result", "baseline med", "canary med", "shift [CI]", "conf", "p", "effect",
               "detectable", "n b/c"]
    rows, reasons = [], []
    metrics = _order(result.metrics)
    if only_failed:
        metrics = [m for m in metrics if m.classification.value != "pass"]
    for m in metrics:
        s = m.statistics
        label = m.classification.value.upper() + (" (critical)" if m.critical else "") + \
            (" (muted)" if m.muted else "")
        if s.estimate != s.estimate:
            ci = "-"
        elif s.ci_lower != s.ci_lower and s.ci_upper != s.ci_upper:  # a statistic without an interval
            ci = fmt(s.estimate)
        else:
            ci = f"{fmt(s.estimate)} [{fmt(s.ci_lower)}, {fmt(s.ci_upper)}]"
        d = m.detectability()
        conf = "-" if d["confidence"] is None else pct(d["confidence"])
        detect = "-" if d["mde"] is None else f"{d['mde']:+.0%}"
        if d["extra_points"] is not None:
            detect += f" (+{d['extra_points']:.0f} pts)"
        elif m.classification.value == "inconclusive" and d["mde"] is not None:
            detect += " (more data won't tell)"
        rows.append([m.name, m.group, label, fmt(s.baseline_median), fmt(s.canary_median), ci, conf,
                     fmt(s.p_value, 3), fmt(s.effect_size, 3), detect, f"{s.n_baseline}/{s.n_canary}"])
        notable_pass = m.reason and not m.reason.startswith(("no shift", "The canary and baseline data are identical"))
        if m.classification.value != "pass" or m.warnings or notable_pass:
            note = m.reason or ""
            if m.warnings:
                note = (note + "; " if note else "") + "; ".join(m.warnings)
            reasons.append((m, note))
    table = _table(headers, rows, "lllrrrrrrrr")
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
            text = f"  {m.name} [{m.classification.value}]: {note}"
            lines.append(text if len(text) <= width * 3 else text[: width * 3 - 1] + "…")
    lines.append("")
    weights = {g: result.group_scores[g] for g in result.group_scores}
    if weights:
        lines.append("groups: " + ", ".join(f"{g} {fmt(v, 4)}" for g, v in weights.items()))
    for wmsg in result.warnings:
        lines.append(f"warning: {wmsg}")
    v = result.verdict.value
    lines.append(f"verdict: {style(v.upper(), v)}  score {result.score:g}/100  "
                 f"(pass >= {result.thresholds.pass_:g}, marginal >= {result.thresholds.marginal:g})  "
                 f"exit {result.exit_code}")
    lines.append(f"reason: {result.reason}")
    return "\n".join(lines)
