"""Small inline SVG charts for the HTML report, drawn by hand so a 200-metric report stays fast and small.

Every chart is a string of SVG markup holding numbers and fixed labels only (user text never goes in here; the
template escapes it elsewhere). Long series are reduced to a min/max envelope per pixel bucket, so a chart costs
a few kilobytes whatever the length of the series. Colours come from CSS classes in ``report.css``.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np


MAX_POINTS = 480
ECDF_POINTS = 160


class _Scale:
    """Linear map from a data domain to pixels; a degenerate domain is widened so it still has a middle."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float):
        if not hi > lo:
            pad = abs(lo) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1
        self.k = (p1 - p0) / (hi - lo)

    def __call__(self, v):
        return self.p0 + (v - self.lo) * self.k


def tick(v: float) -> str:
    """A short axis label: plain integers below 10,000, SI suffixes above, 3 significant digits otherwise."""
    if not math.isfinite(v):
        return ""
    a = abs(v)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= limit:
            return f"{v / limit:.3g}{suffix}"
    if a >= 1 and v == int(v):
        return str(int(v))
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values inside ``[lo, hi]`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo] if math.isfinite(lo) else []
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag * 10
    for m in (1, 2, 2.5, 5, 10):
        if span / (m * mag) <= n:
            step = m * mag
            break
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(start: float, end: float, n: int = 5) -> list[float]:
    """About ``n`` wall-clock ticks (epoch seconds) in ``[start, end]`` on round UTC times (:00, :15, ...)."""
    span = end - start
    if not (math.isfinite(span) and span > 0):
        return [start] if math.isfinite(start) else []
    step = next((s for s in _TIME_STEPS if span / s <= n), _TIME_STEPS[-1] * math.ceil(span / (n * _TIME_STEPS[-1])))
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def clock(t: float, span: float = 0.0, seconds: bool | None = None) -> str:
    """A UTC wall-clock label: ``14:05``, ``14:05:30`` when seconds matter, with the date past a day's span."""
    import datetime as dt

    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    with_s = d.second != 0 if seconds is None else seconds
    text = d.strftime("%H:%M:%S" if with_s else "%H:%M")
    return d.strftime("%m-%d ") + text if span > 86400 else text


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """An SVG path through the points; a NaN in either coordinate breaks the line."""
    parts = []
    pen_up = True
    for x, y in zip(np.round(xs, 1).tolist(), np.round(ys, 1).tolist()):
        if x != x or y != y:
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{x:g} {y:g}")
        pen_up = False
    return "".join(parts)


def with_gaps(ts: np.ndarray, vs: np.ndarray, factor: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN where consecutive timestamps are more than ``factor`` median steps apart (a gap)."""
    if ts.size < 3:
        return ts, vs
    dt = np.diff(ts)
    med = float(np.median(dt))
    if not med > 0:
        return ts, vs
    cut = np.flatnonzero(dt > factor * med) + 1
    if not cut.size:
        return ts, vs
    mids = (ts[cut - 1] + ts[cut]) / 2
    return np.insert(ts.astype(float), cut, mids), np.insert(vs.astype(float), cut, np.nan)


def envelope(ts: np.ndarray, vs: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a long series to the min and max of each of ``max_points / 2`` buckets, in time order."""
    n = ts.size
    if n <= max_points:
        return ts, vs
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(int)[:-1]
    with np.errstate(invalid="ignore"):
        lo = np.fmin.reduceat(vs, edges)
        hi = np.fmax.reduceat(vs, edges)
    t = np.fmax.reduceat(ts, edges)
    return np.repeat(t, 2), np.column_stack([lo, hi]).ravel()


def _finite(*arrays: np.ndarray) -> np.ndarray:
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.zeros(0)
    return vals[np.isfinite(vals)]


def _open(width: int, height: int, cls: str, label: str) -> str:
    return (f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{label}" preserveAspectRatio="xMinYMin meet">')


_NOT_FINITE = re.compile(r'[="MLHV ,-](?:nan|inf)\b')


def _checked(svg: str, width: int, height: int, cls: str) -> str:
    """``svg``, or a placeholder when some coordinate came out NaN or infinite (values beyond float range)."""
    if _NOT_FINITE.search(svg):
        return empty(width, height, "values out of drawable range", cls)
    return svg


def _rect(cls: str, x0: float, x1: float, y: float, h: float) -> str:
    """A horizontal span from ``x0`` to ``x1``; nothing when it is empty or not finite (SVG rejects those)."""
    if not (math.isfinite(x0) and math.isfinite(x1)) or x1 - x0 < 0.05:
        return ""
    return f'<rect class="{cls}" x="{x0:.1f}" y="{y:g}" width="{x1 - x0:.1f}" height="{h:g}"/>'


def empty(width: int, height: int, text: str, cls: str = "") -> str:
    """A placeholder chart with a centred note (``text`` must be a fixed, trusted label)."""
    return (_open(width, height, f"empty {cls}", text)
            + f'<rect class="frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}"/>'
            + f'<text class="note" x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle">{text}</text></svg>')


def _y_axis(ys: _Scale, ticks: Sequence[float], x0: float, x1: float) -> list[str]:
    out = []
    for v in ticks:
        y = round(ys(v), 1)
        out.append(f'<line class="grid" x1="{x0:g}" x2="{x1:g}" y1="{y:g}" y2="{y:g}"/>'
                   f'<text class="tick" x="{x0 - 4:g}" y="{y + 3:g}" text-anchor="end">{tick(v)}</text>')
    return out


def _nearest(ts: np.ndarray, vs: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each time in ``at``, the index of the finite sample of ``(ts, vs)`` (time-sorted) nearest to it; -1
    when the series has no finite value."""
    ok = np.flatnonzero(np.isfinite(vs))
    if not ok.size:
        return np.full(at.size, -1)
    t = ts[ok]
    i = np.clip(np.searchsorted(t, at), 1, max(t.size - 1, 1))
    left = np.clip(i - 1, 0, t.size - 1)
    right = np.clip(i, 0, t.size - 1)
    pick = np.where(np.abs(t[left] - at) <= np.abs(t[right] - at), left, right)
    return ok[pick]


def _hover(sides: list, origin: list[float], xs: _Scale, ys: _Scale, span: float, top: float, bottom: float,
           strips: int) -> list[str]:
    """Hover targets: the plot is cut into vertical strips; hovering one shows the baseline and canary samples
    nearest its middle (a CSS ``:hover`` label and an SVG ``<title>`` tooltip, no script)."""
    n = min(strips, max(len(s[0]) for _, s in sides))
    width = (xs.p1 - xs.p0) / n
    centres = span * (np.arange(n) + 0.5) / n
    picks = [_nearest(ts - o, vs, centres) for (_, (ts, vs)), o in zip(sides, origin)]
    out = []
    for k in range(n):
        marks, words, tips, when = [], [], [], ""
        for (cls, (ts, vs)), o, pick in zip(sides, origin, picks):
            j = int(pick[k])
            if j < 0:
                continue
            who = "baseline" if cls == "s-b" else "canary"
            marks.append(f'<circle class="{cls}" cx="{xs(ts[j] - o):.1f}" cy="{ys(vs[j]):.1f}" r="3"/>')
            words.append(f"{who} {vs[j]:.4g}")
            at = clock(ts[j], seconds=True)
            tips.append(f"{who} {vs[j]:.6g}" + (f" at {at}" if at != when and when else ""))
            when = when or at
        if not marks:
            continue
        x0 = xs.p0 + k * width
        out.append(f'<g class="hit"><rect x="{x0:.1f}" y="{top:g}" width="{width:.1f}" height="{bottom - top:g}"/>'
                   f'{"".join(marks)}<text class="hv" x="{xs.p0:g}" y="{top - 4:g}">{when} · {" · ".join(words)}'
                   f'</text><title>{when} UTC&#10;{"&#10;".join(tips)}</title></g>')
    return out


def timeseries(baseline: tuple[np.ndarray, np.ndarray] | None, canary: tuple[np.ndarray, np.ndarray] | None,
               width: int = 560, height: int = 190, strips: int = 32) -> str:
    """Baseline and canary values over time, overlaid, on a wall-clock (UTC) axis, with hover values.

    When the two series do not overlap in time (a retrospective baseline), each is drawn from its own start and
    the axis shows the canary's clock; a note says so.
    """
    sides = []
    for cls, s in (("s-b", baseline), ("s-c", canary)):
        if s is not None:
            t_all = np.asarray(s[0], dtype=float)
            keep = np.isfinite(t_all)
            if keep.any():
                order = np.argsort(t_all[keep], kind="stable")
                sides.append((cls, (t_all[keep][order], np.asarray(s[1], dtype=float)[keep][order])))
    if not sides or not _finite(*(s[1] for _, s in sides)).size:
        return empty(width, height, "no data points", "ts")
    starts = [float(s[0].min()) for _, s in sides]
    ends = [float(s[0].max()) for _, s in sides]
    overlap = min(ends) >= max(starts)
    origin = [min(starts)] * len(sides) if overlap else starts
    span = max(e - o for e, o in zip(ends, origin)) or 1.0
    clock0 = origin[-1]  # the canary's (or the only series') clock
    ml, mr, mt, mb = 52, 8, 20, 20
    xs = _Scale(0.0, span, ml, width - mr)
    vals = _finite(*(s[1] for _, s in sides))
    lo, hi = float(vals.min()), float(vals.max())
    pad = (hi - lo) * 0.06
    ys = _Scale(lo - pad, hi + pad, height - mb, mt)
    out = [_open(width, height, "ts", "baseline and canary over time")]
    out += _y_axis(ys, nice_ticks(ys.lo, ys.hi, 4), ml, width - mr)
    for at in time_ticks(clock0, clock0 + span):
        out.append(f'<text class="tick" x="{xs(at - clock0):.1f}" y="{height - 6}" '
                   f'text-anchor="middle">{clock(at, span)}</text>')
    out.append(f'<line class="axis" x1="{ml}" x2="{width - mr}" y1="{height - mb}" y2="{height - mb}"/>')
    for (cls, (ts, vs)), o in zip(sides, origin):
        t, v = envelope(*with_gaps(ts - o, vs))
        out.append(f'<path class="{cls}" d="{_path(xs(t), ys(v))}"/>')
        if np.isfinite(vs).sum() <= 30:
            keep = np.isfinite(vs)
            out += [f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'
                    for x, y in zip(xs(ts[keep] - o).tolist(), ys(vs[keep]).tolist())]
    if not overlap:
        out.append(f'<text class="note" x="{width - mr}" y="{mt + 10}" text-anchor="end">'
                   f'baseline from its own start, {clock(origin[0], seconds=False)} UTC</text>')
    out += _hover(sides, origin, xs, ys, span, mt, height - mb, strips)
    out.append("</svg>")
    return _checked("".join(out), width, height, "ts")


def _ecdf_points(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.sort(v[np.isfinite(v)])
    if v.size <= ECDF_POINTS:
        return v, np.arange(1, v.size + 1) / v.size
    p = np.linspace(0.0, 1.0, ECDF_POINTS)
    return np.quantile(v, p, method="inverted_cdf"), p


def ecdf(baseline: np.ndarray | None, canary: np.ndarray | None, width: int = 260, height: int = 180) -> str:
    """Empirical CDFs of baseline and canary values, with each median as a dashed line."""
    sides = [(cls, np.asarray(v, dtype=float)) for cls, v in (("s-b", baseline), ("s-c", canary))
             if v is not None and np.isfinite(np.asarray(v, dtype=float)).any()]
    if not sides:
        return empty(width, height, "no data points", "ecdf")
    vals = _finite(*(v for _, v in sides))
    ml, mr, mt, mb = 30, 10, 8, 20
    xs = _Scale(float(vals.min()), float(vals.max()), ml, width - mr)
    ys = _Scale(0.0, 1.0, height - mb, mt)
    out = [_open(width, height, "ecdf", "distribution of baseline and canary values")]
    for q in (0.0, 0.5, 1.0):
        y = round(ys(q), 1)
        out.append(f'<line class="grid" x1="{ml}" x2="{width - mr}" y1="{y:g}" y2="{y:g}"/>'
                   f'<text class="tick" x="{ml - 4}" y="{y + 3:g}" text-anchor="end">{q:g}</text>')
    for t in nice_ticks(xs.lo, xs.hi, 3):
        out.append(f'<text class="tick" x="{xs(t):.1f}" y="{height - 6}" text-anchor="middle">{tick(t)}</text>')
    for cls, v in sides:
        x, p = _ecdf_points(v)
        px, py = np.round(xs(x), 1).tolist(), np.round(ys(p), 1).tolist()
        d = [f"M{px[0]:g} {ys(0.0):g}"]
        for xi, yi in zip(px, py):
            d.append(f"H{xi:g}V{yi:g}")
        d.append(f"H{width - mr}")
        out.append(f'<path class="{cls} step" d="{"".join(d)}"/>')
        med = xs(float(np.median(v[np.isfinite(v)])))
        out.append(f'<line class="{cls} median" x1="{med:.1f}" x2="{med:.1f}" y1="{mt}" y2="{height - mb}"/>')
    out.append("</svg>")
    return _checked("".join(out), width, height, "ecdf")


def interval(estimate: float, lower: float, upper: float, band: tuple[float, float] | None,
             gates: tuple[bool, bool], status: str, width: int = 300, height: int = 180,
             label: str = "canary − baseline", reference: float = 0.0) -> str:
    """The estimate and its confidence interval drawn against the band that decides the metric.

    ``band`` is ``(lower edge, upper edge)`` of what is tolerated; ``gates`` says which side counts as a
    regression (above, below): only those sides are shaded as failing. ``reference`` is the no-change value
    (0 for a shift, 1 for a ratio), drawn dashed. ``status`` picks the colour; ``label`` must be a fixed caption.
    """
    lo, hi = (min(lower, upper), max(lower, upper)) if math.isfinite(lower) and math.isfinite(upper) \
        else (lower, upper)
    pts = [v for v in (estimate, lo, hi, reference) if math.isfinite(v)]
    if not any(math.isfinite(v) for v in (estimate, lo, hi)):
        return empty(width, height, "no interval", "iv")
    if band:
        pts += [v for v in band if math.isfinite(v)]
    dlo, dhi = min(pts), max(pts)
    pad = (dhi - dlo) * 0.12 or (abs(dlo) * 0.1 or 1.0)
    ml, mr = 12, 12
    xs = _Scale(dlo - pad, dhi + pad, ml, width - mr)
    top, bottom, mid = 26, height - 38, (26 + height - 38) / 2
    out = [_open(width, height, "iv", "confidence interval against the tolerance band")]
    out.append(f'<rect class="frame" x="{ml}" y="{top}" width="{width - ml - mr}" height="{bottom - top}"/>')
    if band:
        b0 = max(band[0], xs.lo) if math.isfinite(band[0]) else xs.lo
        b1 = min(band[1], xs.hi) if math.isfinite(band[1]) else xs.hi
        out.append(_rect("band-ok", xs(b0), xs(b1), top, bottom - top))
        if gates[0] and math.isfinite(band[1]):
            out.append(_rect("band-bad", xs(max(band[1], xs.lo)), xs(xs.hi), top, bottom - top))
        if gates[1] and math.isfinite(band[0]):
            out.append(_rect("band-bad", xs(xs.lo), xs(min(band[0], xs.hi)), top, bottom - top))
        edges = [(v, a) for v, a in ((band[0], "end"), (band[1], "start")) if math.isfinite(v)]
        if band[0] == band[1]:
            edges = [(band[0], "middle")]
        for v, anchor in edges:
            x = xs(v)
            out.append(f'<line class="edge" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>'
                       f'<text class="tick" x="{x + {"end": -3, "start": 3}.get(anchor, 0):.1f}" y="{top - 6}" '
                       f'text-anchor="{anchor}">{tick(v)}</text>')
        if xs(b1) - xs(b0) >= 44:
            out.append(f'<text class="note" x="{(xs(b0) + xs(b1)) / 2:.1f}" y="{bottom - 6}" '
                       f'text-anchor="middle">tolerated</text>')
    if math.isfinite(reference):
        x0 = xs(reference)
        out.append(f'<line class="zero" x1="{x0:.1f}" x2="{x0:.1f}" y1="{top}" y2="{bottom}"/>'
                   f'<text class="tick" x="{x0:.1f}" y="{bottom + 12}" text-anchor="middle">{tick(reference)}</text>')
    tip = [f"estimate {estimate:.6g}" if math.isfinite(estimate) else "no estimate"]
    if math.isfinite(lo) and math.isfinite(hi):
        tip.append(f"interval {lo:.6g} to {hi:.6g}")
    if band and (math.isfinite(band[0]) or math.isfinite(band[1])):
        tip.append("tolerated " + (f"{band[0]:.6g} to {band[1]:.6g}" if all(map(math.isfinite, band)) else
                                   f"at most {band[1]:.6g}" if math.isfinite(band[1]) else f"at least {band[0]:.6g}"))
    out.append(f"<g><title>{'; '.join(tip)}</title>")
    if math.isfinite(lo) and math.isfinite(hi):
        a, b = xs(lo), xs(hi)
        out.append(f'<line class="ci {status}" x1="{a:.1f}" x2="{max(b, a + 1):.1f}" y1="{mid:.1f}" y2="{mid:.1f}"/>'
                   f'<line class="cap {status}" x1="{a:.1f}" x2="{a:.1f}" y1="{mid - 8:.1f}" y2="{mid + 8:.1f}"/>'
                   f'<line class="cap {status}" x1="{b:.1f}" x2="{b:.1f}" y1="{mid - 8:.1f}" y2="{mid + 8:.1f}"/>')
    if math.isfinite(estimate):
        out.append(f'<circle class="est {status}" cx="{xs(estimate):.1f}" cy="{mid:.1f}" r="4.5"/>')
    out.append("</g>")
    out.append(f'<text class="caption" x="{width / 2:g}" y="{height - 6}" text-anchor="middle">{label}</text>')
    out.append("</svg>")
    return _checked("".join(out), width, height, "iv")


def sparkline(values: np.ndarray | None, other: np.ndarray | None, width: int = 120, height: int = 26) -> str:
    """A tiny overlay of baseline (``values``) and canary (``other``) by sample index, with inline colours."""
    sides = [(c, np.asarray(v, dtype=float)) for c, v in (("#2563eb", values), ("#ea580c", other))
             if v is not None and np.isfinite(np.asarray(v, dtype=float)).any()]
    if not sides:
        return ""
    vals = _finite(*(v for _, v in sides))
    ys = _Scale(float(vals.min()), float(vals.max()), height - 2, 2)
    out = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="sparkline">']
    for color, v in sides:
        idx = np.arange(v.size, dtype=float)
        t, y = envelope(idx, v, 2 * width)
        xs = _Scale(0.0, max(v.size - 1, 1), 1, width - 1)
        out.append(f'<path d="{_path(xs(t), ys(y))}" fill="none" stroke="{color}" stroke-width="1.2"/>')
    out.append("</svg>")
    svg = "".join(out)
    return "" if _NOT_FINITE.search(svg) else svg


def scorebar(score: float, pass_: float, marginal: float, status: str, width: int = 420, height: int = 34) -> str:
    """The run score on a 0-100 track with the marginal and pass thresholds marked."""
    xs = _Scale(0.0, 100.0, 6, width - 6)
    clamp = lambda v: min(max(v, 0.0), 100.0) if math.isfinite(v) else 0.0  # noqa: E731
    s, marginal = clamp(score), clamp(marginal)
    pass_ = max(clamp(pass_), marginal)
    y, h = 4, 12
    out = [_open(width, height, "scorebar", "score against the thresholds"),
           _rect("zone-fail", xs(0), xs(marginal), y, h), _rect("zone-marginal", xs(marginal), xs(pass_), y, h),
           _rect("zone-pass", xs(pass_), xs(100), y, h),
           f'<line class="marker" x1="{xs(s):.1f}" x2="{xs(s):.1f}" y1="{y - 3}" y2="{y + h + 3}"/>',
           f'<circle class="marker {status}" cx="{xs(s):.1f}" cy="{y + h / 2:g}" r="5"/>']
    labels = [(0.0, "start"), (marginal, "middle"), (pass_, "middle"), (100.0, "end")]
    # a threshold near an end (pass at 95+) takes the place of that end's label
    labels = [(v, a) for i, (v, a) in enumerate(labels)
              if not any(j != i and abs(v - w) < 7 and a != "middle" for j, (w, _) in enumerate(labels))]
    for v, anchor in labels:
        out.append(f'<text class="tick" x="{xs(v):.1f}" y="{height - 3}" text-anchor="{anchor}">{v:g}</text>')
    out.append("</svg>")
    return "".join(out)


def bar(value: float, pass_: float, marginal: float, width: int = 120, height: int = 8) -> str:
    """A 0-100 bar for a group score, coloured by the run's thresholds."""
    v = min(max(value, 0.0), 100.0) if math.isfinite(value) else 0.0
    cls = "pass" if v >= pass_ else "warn" if v >= marginal else "fail"
    return (f'<svg class="bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{v:g} of 100"><rect class="track" width="{width}" height="{height}" rx="2"/>'
            f'<rect class="fill {cls}" width="{width * v / 100:.1f}" height="{height}" rx="2"/></svg>')


def swatch(cls: str) -> str:
    return f'<svg class="swatch" viewBox="0 0 18 8" width="18" height="8"><line class="{cls}" x1="0" x2="18" ' \
           f'y1="4" y2="4"/></svg>'
