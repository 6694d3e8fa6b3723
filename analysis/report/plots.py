"""Matplotlib views of results for notebooks: built with the object API (no pyplot state), returned as Figures.

The HTML report draws the same three views as inline SVG (``analysis.report.svg``): the series over time, their
distributions (ECDF), and the shift's confidence interval against the tolerance band that decided the metric.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from analysis.report import _view
from analysis.report._format import fmt
from analysis.series import SamplePair

if TYPE_CHECKING:
    from analysis.results import MetricResult
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BASELINE, CANARY = "#2563eb", "#ea580c"
_STATUS = {"fail": "#b91c1c", "pass": "#15803d", "warn": "#6b7280", "muted": "#6b7280", "inconclusive": "#3730a3"}


def _timeseries(ax: "Axes", pair: SamplePair | None) -> None:
    ax.set_title("values over time", fontsize=10, loc="left")
    if pair is None or not (len(pair.baseline) or len(pair.canary)):
        ax.text(0.5, 0.5, "no series saved" if pair is None else "no data points", ha="center", va="center",
                transform=ax.transAxes, color="#6b7280")
        return
    import datetime as dt

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for s, color, name in ((pair.baseline, BASELINE, "baseline"), (pair.canary, CANARY, "canary")):
        if len(s):
            when = (np.asarray(s.timestamps, dtype=float) * 1000).astype("datetime64[ms]")  # wall clock, UTC
            ax.plot(when, s.values, color=color, lw=1.1, label=f"{name} (n={len(s)})")
    locator = AutoDateLocator(tz=dt.timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=dt.timezone.utc))
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.grid(alpha=0.25)


def _ecdf(ax: "Axes", pair: SamplePair | None) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title("distribution (ECDF)", fontsize=10, loc="left")
    drawn = False
    for s, color in ((pair.baseline, BASELINE), (pair.canary, CANARY)) if pair is not None else ():
        v = np.sort(s.values[np.isfinite(s.values)])
        if v.size:
            ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, lw=1.3)
            ax.axvline(float(np.median(v)), color=color, ls="--", lw=0.9)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no data points", ha="center", va="center", transform=ax.transAxes, color="#6b7280")
        return
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.grid(alpha=0.25)


def _interval(ax: "Axes", m: MetricResult) -> None:
    s = m.statistics
    ax.set_title("estimate and tolerance", fontsize=10, loc="left")
    ax.set_yticks([])
    points = [v for v in (s.estimate, s.ci_lower, s.ci_upper) if math.isfinite(v)]
    if not points:
        ax.text(0.5, 0.5, "no interval", ha="center", va="center", transform=ax.transAxes, color="#6b7280")
        return
    sc = _view.scale(m)
    band, (up, down) = sc.band, sc.gates
    ref = [sc.reference] if math.isfinite(sc.reference) else []
    finite_band = [v for v in (band or ()) if math.isfinite(v)]
    lo, hi = min(points + finite_band + ref), max(points + finite_band + ref)
    pad = (hi - lo) * 0.12 or (abs(lo) * 0.1 or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    if band is not None:
        b0, b1 = max(band[0], lo - pad), min(band[1], hi + pad)
        ax.axvspan(b0, b1, color="#dcfce7", label="tolerated")
        if up and math.isfinite(band[1]):
            ax.axvspan(band[1], hi + pad, color="#fee2e2", label="regression")
        if down and math.isfinite(band[0]):
            ax.axvspan(lo - pad, band[0], color="#fee2e2")
    if ref:
        ax.axvline(sc.reference, color="#9ca3af", ls=":", lw=1)
    color = _STATUS.get(_view.status(m), "#6b7280")
    if math.isfinite(s.ci_lower) and math.isfinite(s.ci_upper):
        a, b = sorted((s.ci_lower, s.ci_upper))
        ax.errorbar([s.estimate if math.isfinite(s.estimate) else (a + b) / 2], [0.5],
                    xerr=[[max((s.estimate if math.isfinite(s.estimate) else a) - a, 0)],
                          [max(b - (s.estimate if math.isfinite(s.estimate) else b), 0)]],
                    fmt="o", color=color, mfc="white", ms=7, capsize=6, lw=3)
    elif math.isfinite(s.estimate):
        ax.plot([s.estimate], [0.5], "o", color=color, mfc="white", ms=7)
    ax.set_ylim(0, 1)
    ax.set_xlabel(sc.caption)
    if band is not None:
        ax.legend(fontsize=8, loc="upper left", frameon=False)


def metric_figure(metric: MetricResult, pair: SamplePair | None = None) -> "Figure":
    """One metric as a figure: series over time, ECDF, and the interval against the tolerance band.

    Parameters
    ----------
    metric : MetricResult
        The judged metric (classification, reason, statistics).
    pair : SamplePair, optional
        Its collected series (``result.pairs[name]``); without it only the interval is drawn.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure, not registered with pyplot (display it in Jupyter, or ``fig.savefig(path)``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[2.2, 1, 1.2])
    _timeseries(fig.add_subplot(grid[0]), pair)
    _ecdf(fig.add_subplot(grid[1]), pair)
    _interval(fig.add_subplot(grid[2]), metric)
    title = f"{metric.name}: {_view.label(metric)}"
    if metric.reason:
        title += "\n" + textwrap.shorten(metric.reason, 200)
    fig.suptitle(title, fontsize=11, color=_STATUS.get(_view.status(metric), "#111827"), x=0.01, ha="left")
    return fig


def sweep_figure(frame: "pd.DataFrame", x: str, y: str, value: str = "score") -> "Figure":
    """A heat map of ``value`` (e.g. the score) over two swept parameters, from :func:`analysis.runs.tuning.sweep`.

    Each cell is annotated with the verdict, so the parameter region where the verdict flips is visible.
    """
    from matplotlib.figure import Figure

    grid = frame.pivot_table(index=y, columns=x, values=value, aggfunc="first").sort_index(ascending=False)
    verdicts = frame.pivot_table(index=y, columns=x, values="verdict", aggfunc="first").reindex_like(grid)
    fig = Figure(figsize=(1.2 + 1.1 * grid.shape[1], 1.0 + 0.55 * grid.shape[0]), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [fmt(c, 3) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [fmt(r, 3) for r in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{verdicts.iat[i, j]}\n{fmt(grid.iat[i, j], 3)}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label=value)
    return fig
