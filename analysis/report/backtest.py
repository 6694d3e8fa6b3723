"""The backtest as a self-contained HTML page: the rates with their intervals and, per metric, which windows
alarmed over time (inline SVG, inline CSS, no script, no network requests; Jinja2 autoescapes every name)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from analysis.report._format import fmt

if TYPE_CHECKING:
    from analysis.runs._backtest_result import BacktestResult, Rate

_CSS = """\
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #111827; background: #f9fafb; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #4b5563; margin: 0 0 16px; } .meta b { color: #111827; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e5e7eb; vertical-align: middle; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: #6b7280; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: #6b7280; font-size: 12px; } .muted { color: #9ca3af; }
.bad { color: #b91c1c; font-weight: 600; } .warn { background: #fef3c7; padding: 8px 12px; margin: 12px 0; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.ok { fill: #86efac; background: #86efac; } .alarm { fill: #dc2626; background: #dc2626; }
.hit { fill: #15803d; background: #15803d; } .miss { fill: #f59e0b; background: #f59e0b; }
.none { fill: #d1d5db; background: #d1d5db; } svg text { font: 10px system-ui, sans-serif; fill: #6b7280; }
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<title>Backtest {{ d.config }}</title>
<style>{{ css }}</style>
</head>
<body><main>
<h1>Backtest of <bdi>{{ d.config }}</bdi></h1>
<p class="meta"><b>{{ span }}</b> from <b>{{ d.range.start }}</b>
to <b>{{ d.range.end }}</b> &middot; source <b><bdi>{{ d.source }}</bdi></b> &middot; scheduler <b>{{ d.scheduler }}</b>
&middot; degradation &times;<b>{{ d.effect | num }}</b></p>
{% if d.no_verdict %}<p class="warn">{{ d.no_verdict }} window(s) reached no verdict and are left out of the rates
(first: {{ first_failure }}).</p>{% endif %}
<table>
<thead><tr><th>what</th><th>false alarms (A/A)</th><th>detection at &times;{{ d.effect | num }}</th>
<th>MDE ({{ power }}% detected)</th></tr></thead>
<tbody>
<tr><td><b>release verdict</b> <span class="ci">(fail or marginal)</span></td>
<td class="num">{{ release.fa }}</td><td class="num">{{ release.det }}</td><td class="num">{{ release.mde }}</td></tr>
{% for m in metrics %}
<tr><td><a href="#m-{{ loop.index }}"><bdi>{{ m.name }}</bdi></a>
<span class="ci">{{ m.direction }}{% if m.muted %}, muted{% endif %}</span></td>
<td class="num">{{ m.fa }}</td><td class="num">{{ m.det }}</td><td class="num">{{ m.mde }}</td></tr>
{% endfor %}
</tbody></table>
<h2>Which windows alarmed</h2>
<p class="legend"><span><i class="sw ok"></i>no alarm</span>
<span><i class="sw alarm"></i>false alarm (as recorded)</span>
<span><i class="sw hit"></i>detected (degraded)</span><span><i class="sw miss"></i>missed (degraded)</span>
<span><i class="sw none"></i>no verdict</span></p>
<h2 id="m-0">release verdict</h2>{{ release.chart }}
{% for m in metrics %}<h2 id="m-{{ loop.index }}"><bdi>{{ m.name }}</bdi></h2>{{ m.chart }}{% endfor %}
<p class="ci">Rates are over the windows with a verdict; intervals are {{ confidence }}% Wilson score intervals.
The MDE is
the smallest factor of {{ factors }} that was detected in at least {{ power }}% of the windows.</p>
</main></body></html>
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def rate_text(rate: Rate | None) -> str:
    """``3/24  12.5% [4.3, 31.0]``: alarms over judged windows, the rate and its interval in percent."""
    if rate is None:
        return "not degraded"
    if not rate.n:
        return "no verdict"
    lo, hi = rate.interval
    return f"{rate.k}/{rate.n}  {100 * rate.value:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def mde_text(mde: float | None, degraded: bool = True) -> str:
    if not degraded:
        return "-"
    return f"×{mde:g}" if mde is not None else "not reached"


def _strip(rows: list[tuple[str, list[str]]], starts: list[str]) -> str:
    """One row of cells per run (as recorded, degraded), one cell per window, classes from ``_CSS``."""
    n = max(1, len(starts))
    left, width, cell_h, gap = 96, 960, 14, 4
    cw = width / n
    height = len(rows) * (cell_h + gap) + 16
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width}" height="{height}" role="img" '
           f'aria-label="alarms per window">']
    for r, (label, classes) in enumerate(rows):
        y = r * (cell_h + gap)
        out.append(f'<text x="0" y="{y + 11}">{label}</text>')
        for i, cls in enumerate(classes):
            out.append(f'<rect class="{cls}" x="{left + i * cw:.2f}" y="{y}" width="{max(cw - 1, 0.5):.2f}" '
                       f'height="{cell_h}"><title>{starts[i]}</title></rect>')
    y = len(rows) * (cell_h + gap) + 10
    if starts:
        out.append(f'<text x="{left}" y="{y}">{starts[0]}</text>')
        out.append(f'<text x="{left + width}" y="{y}" text-anchor="end">{starts[-1]}</text>')
    out.append("</svg>")
    return "".join(out)


def render_backtest_html(result: BacktestResult) -> str:
    """The page for ``result`` (see the module docstring)."""
    import jinja2
    from markupsafe import Markup

    d = result.to_dict()
    starts = [w["start"] for w in d["window_results"]]
    (_, release_runs), *metric_runs = result.timelines()
    release = {"fa": rate_text(result.false_alarm), "det": rate_text(result.detection), "mde": mde_text(result.mde),
               "chart": Markup(_strip(release_runs, starts))}
    metrics: list[dict[str, Any]] = []
    for mr, (_, runs) in zip(result.metric_rates(), metric_runs):
        metrics.append({"name": mr.name, "direction": mr.direction, "muted": mr.muted,
                        "fa": rate_text(mr.false_alarm), "det": rate_text(mr.detection),
                        "mde": mde_text(mr.mde, mr.degradation is not None), "chart": Markup(_strip(runs, starts))})
    first = result.no_verdict[0].reason if result.no_verdict else ""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = fmt
    csp = f"default-src 'none'; style-src '{_sha256(_CSS)}'; img-src data:; base-uri 'none'; form-action 'none'"
    return env.from_string(_PAGE).render(
        d=d, css=Markup(_CSS), csp=csp, release=release, metrics=metrics, span=result.span_text(),
        power=round(100 * d["mde_power"]), confidence=round(100 * d["interval_confidence"]), first_failure=first,
        factors=", ".join(f"×{f:g}" for f in d["factors"]))


def rates_figure(result: BacktestResult) -> Any:
    """False-alarm rate (as recorded) and detection rate (degraded by the effect) per metric, with their Wilson
    intervals as error bars: a matplotlib ``Figure`` built with the object API."""
    import numpy as np
    from matplotlib.figure import Figure

    metrics = result.metric_rates()
    names = ["release"] + [m.name for m in metrics]
    fa: list[Rate | None] = [result.false_alarm, *(m.false_alarm for m in metrics)]
    det: list[Rate | None] = [result.detection, *(m.detection for m in metrics)]
    series = [("false alarms (A/A)", fa, "#dc2626"), (f"detected at ×{result.effect:g}", det, "#15803d")]
    fig = Figure(figsize=(max(6.0, 1.1 * len(names)), 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(names))
    for i, (label, rates, colour) in enumerate(series):
        values = np.array([r.value if r is not None else np.nan for r in rates])
        lows = np.array([r.interval[0] if r is not None else np.nan for r in rates])
        highs = np.array([r.interval[1] if r is not None else np.nan for r in rates])
        err = np.vstack([values - lows, highs - values])
        ax.bar(x + (i - 0.5) * 0.38, values, 0.38, yerr=np.nan_to_num(err), capsize=3, color=colour, label=label)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of windows")
    ax.set_title(f"{result.config_name}: {len(result.outcomes)} windows (95% Wilson intervals)")
    ax.legend(fontsize=8, loc="upper left")
    return fig
