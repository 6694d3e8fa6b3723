"""The self-contained HTML report: one file, inline CSS, inline SVG, no network requests.

Rendered with Jinja2 and autoescaping, so metric names, label values, queries and reasons are always text. A
Content-Security-Policy in the page admits only the report's own style and script (by hash) and forbids every
fetch, so even a value that slipped past escaping could neither run nor call out.
"""

from __future__ import annotations

import base64
import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, TYPE_CHECKING

import numpy as np

from analysis.report._format import fmt
from analysis.series import SamplePair
from analysis.report import _view, svg

if TYPE_CHECKING:
    from analysis.results import AnalysisResult, MetricResult

_HERE = Path(__file__).resolve().parent
_WHY_SHOWN = 6  # failing metrics quoted with their reasons on the first screen; the rest are one click away

# Progressive enhancement only: the report reads the same without it (filtering, opening cards, printing all).
_SCRIPT = """\
(function () {
  var root = document.documentElement;
  root.classList.add('js');
  var q = document.getElementById('filter'), only = document.getElementById('only-failed');
  function apply() {
    var t = q.value.trim().toLowerCase(), f = only.checked, shown = 0;
    document.querySelectorAll('details.card').forEach(function (d) {
      var ok = (!t || d.textContent.toLowerCase().indexOf(t) >= 0) && (!f || d.getAttribute('data-status') !== 'pass');
      d.hidden = !ok;
      if (ok) { shown++; }
    });
    document.getElementById('shown').textContent = shown;
  }
  q.addEventListener('input', apply);
  only.addEventListener('change', apply);
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') { el.hidden = false; el.open = true; }
  }
  window.addEventListener('hashchange', reveal);
  reveal();
  var closed = [];
  window.addEventListener('beforeprint', function () {
    closed = [];
    document.querySelectorAll('details:not([open])').forEach(function (d) { closed.push(d); d.open = true; });
  });
  window.addEventListener('afterprint', function () { closed.forEach(function (d) { d.open = false; }); });
})();
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt
    return env


@lru_cache(maxsize=1)
def _css() -> str:
    return (_HERE / "report.css").read_text(encoding="utf-8")


def _series_arrays(pair: SamplePair | None, scope: str) -> tuple[np.ndarray, np.ndarray] | None:
    if pair is None:
        return None
    s = getattr(pair, scope)
    return (s.timestamps, s.values) if len(s) else None


def _stats_rows(m: MetricResult) -> list[tuple[str, str]]:
    s = m.statistics
    sc = _view.scale(m)
    what = {"shift": "shift (canary − baseline)", "ratio": "rate ratio (canary / baseline)"}.get(
        sc.kind, "canary statistic")
    rows = [("n baseline / canary", f"{s.n_baseline} / {s.n_canary}"),
            ("baseline median", fmt(s.baseline_median)), ("canary median", fmt(s.canary_median)),
            (what, _view.shift(m)), ("p-value", _view.p_value(m)), ("effect size", fmt(s.effect_size, 4))]
    rows = [(k, v) for k, v in rows if v != "-"]
    if sc.band is not None:
        rows.append((sc.band_label, _range_text(*sc.band)))
    for k, v in s.extra.items():
        label = _view.READABLE_EXTRA.get(k)
        if label is None or (k.startswith(("n_nan_", "n_outliers_")) and not v):
            continue
        rows.append((label[0], _view.detectability(m) if k == "mde" else fmt(v, label[1])))
    return rows


def _range_text(lo: float, hi: float) -> str:
    if lo == hi:
        return f"{fmt(lo)} (the interval must exclude it)"
    if lo == -float("inf"):
        return f"≤ {fmt(hi)}"
    if hi == float("inf"):
        return f"≥ {fmt(lo)}"
    return f"{fmt(lo)} to {fmt(hi)}"


def _queries(m: MetricResult) -> list[tuple[str, str]]:
    q = {k: v for k, v in m.query.items() if v}
    if len(q) == 2 and len(set(q.values())) == 1:
        return [("baseline and canary", next(iter(q.values())))]
    return sorted(q.items())


def _labels(pair: SamplePair | None) -> list[tuple[str, str]]:
    if pair is None:
        return []
    out = []
    for scope in ("baseline", "canary"):
        labels = getattr(pair, scope).labels
        if labels:
            out.append((scope, ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))))
    return out


def _charts(m: MetricResult, pair: SamplePair | None, st: str) -> list[str]:
    """Series over time, ECDF, and the estimate against its band; numpy's float warnings are expected at the
    extremes (values near the float limit) and the charts fall back to placeholders there."""
    s = m.statistics
    base, can = _series_arrays(pair, "baseline"), _series_arrays(pair, "canary")
    with np.errstate(all="ignore"):
        if pair is None:
            drawn = [svg.empty(560, 180, "series not saved with this result", "ts"),
                     svg.empty(260, 180, "no data points", "ecdf")]
        else:
            drawn = [svg.timeseries(base, can), svg.ecdf(base[1] if base else None, can[1] if can else None)]
        sc = _view.scale(m)
        drawn.append(svg.interval(s.estimate, s.ci_lower, s.ci_upper, sc.band, sc.gates, st, label=sc.caption,
                                  reference=sc.reference))
    return drawn


def _metric_view(i: int, m: MetricResult, pair: SamplePair | None, charts: bool = True) -> dict[str, Any]:
    from markupsafe import Markup

    st = _view.status(m)
    ws = _view.warnings(m, pair)
    s = m.statistics
    base, can = _series_arrays(pair, "baseline"), _series_arrays(pair, "canary")
    drawn = _charts(m, pair, st) if charts else []
    return {
        "id": f"m-{i}", "m": m, "status": st, "label": _view.label(m), "warnings": ws,
        "outcome": m.classification.value, "change": _view.change(m), "interval": _view.interval(m),
        "detect": _view.detectability(m), "why": _view.short_reason(m), "short": m.name,
        "tags": _view.warning_tags(ws), "shift": _view.shift(m), "p": _view.p_value(m), "effect": _view.effect(m),
        "stats": _stats_rows(m), "queries": _queries(m), "labels": _labels(pair),
        "charts": [Markup(c) for c in drawn], "open": st in ("fail", "warn"),
        "spark": Markup("" if charts else _spark(base, can)),  # the notebook table shows sparklines instead
        "n": f"{s.n_baseline}/{s.n_canary}",
        "iv_title": {"shift": "Shift and tolerance", "ratio": "Rate ratio and tolerance"}.get(
            _view.scale(m).kind, "Statistic and bounds"),
    }


def _spark(base, can) -> str:
    with np.errstate(all="ignore"):
        return svg.sparkline(base[1] if base else None, can[1] if can else None)


def _context(result: AnalysisResult, title: str | None, charts: bool = True) -> dict[str, Any]:
    from markupsafe import Markup

    th = result.thresholds
    verdict = result.verdict.value
    metrics = [_metric_view(i, m, result.pairs.get(m.name), charts)
               for i, m in enumerate(_view.ordered(result.metrics))]
    short = _view.short_names(m.name for m in result.metrics)
    for v in metrics:
        v["short"] = short[v["m"].name]
    groups = []
    for g, score in result.group_scores.items():
        members = [m for m in result.metrics if m.group == g]
        c: dict[str, int] = {}
        for m in members:
            c[m.classification.value] = c.get(m.classification.value, 0) + 1
        no_data = bool(result.scores.groups_nodata.get(g)) or (members and all(
            m.classification.value in ("nodata", "error") or m.muted for m in members))
        groups.append({"name": g, "score": score, "bar": Markup(svg.bar(score, th.pass_, th.marginal)),
                       "counts": sorted(c.items()), "nodata": no_data})
    status = {"pass": "pass", "marginal": "warn", "fail": "fail", "inconclusive": "inconclusive"}.get(verdict, "warn")
    why = [v for v in metrics if v["status"] in ("fail", "inconclusive")] or \
        [v for v in metrics if v["status"] == "warn"]
    per_column = max(12, math.ceil(len(metrics) / 3))
    return {
        "title": title or f"{verdict.upper()} · {result.config_name} · canary analysis",
        "result": result, "verdict": verdict, "mark": _view.VERDICT_MARK.get(verdict, ""),
        "score": fmt(result.score), "thresholds": th, "window": _view.window_text(result),
        "scorebar": Markup(svg.scorebar(result.score, th.pass_, th.marginal, status)),
        "groups": groups, "counts": _view.counts(result), "metrics": metrics,
        "n_failed": sum(v["status"] == "fail" for v in metrics),
        "why": why[:_WHY_SHOWN], "why_more": max(len(why) - _WHY_SHOWN, 0),
        "columns": [metrics[i:i + per_column] for i in range(0, len(metrics), per_column)],
        "detectability": any(v["detect"] != "-" for v in metrics),
        "swatch_b": Markup(svg.swatch("s-b")), "swatch_c": Markup(svg.swatch("s-c")),
    }


def render_html(result: AnalysisResult, title: str | None = None) -> str:
    """The whole report as one self-contained HTML document.

    Parameters
    ----------
    result : AnalysisResult
        A result from ``analyze`` or ``load_result``; its ``pairs`` (the collected series) feed the charts.
    title : str, optional
        The document title; by default the verdict and config name.

    Returns
    -------
    str
        HTML with inline CSS and SVG, no external references, failing metrics first.
    """
    from markupsafe import Markup

    css, script = _css(), _SCRIPT
    csp = (f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; "
           "base-uri 'none'; form-action 'none'")
    ctx = _context(result, title)
    ctx.update(css=Markup(css), script=Markup(script), csp=csp)
    return _view.safe_text(_environment().get_template("report.html").render(**ctx))


def notebook_html(result: AnalysisResult, max_rows: int = 200) -> str:
    """A compact rich table for Jupyter (``AnalysisResult._repr_html_``): verdict, groups, metrics with sparklines."""
    ctx = _context(result, None, charts=False)
    ctx["metrics"] = ctx["metrics"][:max_rows]
    ctx["hidden"] = max(len(result.metrics) - max_rows, 0)
    return _view.safe_text(_environment().get_template("notebook.html").render(**ctx))
