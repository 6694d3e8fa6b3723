"""What every report format says about a result, decided once: order, labels, warnings and the tolerance band.

The HTML, Markdown and JUnit writers only lay these out; none of them re-decides anything about a metric.
"""

from __future__ import annotations

import math
from typing import Iterable

from judges import Classification

from ..results import AnalysisResult, MetricResult, fmt
from ..series import SamplePair

_RANK = {Classification.HIGH: 0, Classification.LOW: 0, Classification.ERROR: 1, Classification.NODATA: 2,
         Classification.PASS: 3}
VERDICT_MARK = {"pass": "✅", "marginal": "⚠️", "fail": "❌", "nodata": "❔", "error": "⛔"}


def ordered(metrics: Iterable[MetricResult]) -> list[MetricResult]:
    """Failing metrics first (critical failures ahead), then other non-passes, then passes; muted after unmuted."""
    return sorted(metrics, key=lambda m: (not m.failed, m.muted, not m.critical, _RANK.get(m.classification, 9)))


def status(m: MetricResult) -> str:
    """CSS-level status of one metric: ``fail``, ``warn`` (nodata that may be missing), ``pass`` or ``muted``."""
    if m.muted:
        return "muted"
    if m.failed:
        return "fail"
    return "pass" if m.classification is Classification.PASS else "warn"


def label(m: MetricResult) -> str:
    text = m.classification.value.upper()
    if m.critical:
        text += " · critical"
    elif m.critical_metric:
        text += " · critical metric"
    if m.muted:
        text += " · muted"
    return text


def shift(m: MetricResult) -> str:
    s = m.statistics
    if not math.isfinite(s.estimate):
        return "-"
    sign = "+" if s.estimate > 0 else ""
    if math.isfinite(s.ci_lower) and math.isfinite(s.ci_upper):
        return f"{sign}{fmt(s.estimate)} [{fmt(s.ci_lower)}, {fmt(s.ci_upper)}]"
    return f"{sign}{fmt(s.estimate)}"


def p_value(m: MetricResult) -> str:
    p = fmt(m.statistics.p_value, 3)
    if math.isfinite(m.p_adjusted):
        p += f" (adj. {fmt(m.p_adjusted, 3)})"
    return p


def effect(m: MetricResult) -> str:
    es, ratio = m.statistics.effect_size, m.statistics.extra.get("mean_ratio", math.nan)
    if math.isfinite(es):
        return fmt(es, 3)
    return fmt(ratio, 3)


def warnings(m: MetricResult, pair: SamplePair | None) -> list[str]:
    """The metric's data-quality warnings, completed from its data and statistics when a writer left some out."""
    out = list(dict.fromkeys(m.warnings))
    if pair is not None:
        out += [w for w in pair.warnings() if w not in out]
    for scope in ("baseline", "canary"):
        n = m.statistics.extra.get(f"n_outliers_{scope}", 0) or 0
        if n and not any("outlier" in w and scope in w for w in out):
            out.append(f"{int(n)} {scope} outliers removed")
    return out


def warning_tags(ws: Iterable[str]) -> list[str]:
    """Short tags for the table: few points, NaN, gaps, outliers."""
    tags = []
    for w in ws:
        t = ("n<50" if "fewer than" in w else "NaN" if "NaN" in w else "gaps" if "gap" in w
             else "outliers" if "outlier" in w else "note")
        if t not in tags:
            tags.append(t)
    return tags


def band(m: MetricResult) -> tuple[float, float] | None:
    """The tolerated range of the shift, as the judge decided with it.

    Rank judges record ``bound`` (tolerance * |estimate|, Kayenta's rule): the band is ``[-bound, +bound]``.
    A judge may instead record explicit ``band_lower`` / ``band_upper`` (either may be missing, one-sided).
    """
    x = m.statistics.extra
    b = x.get("bound")
    if b is not None and math.isfinite(b):
        return (-abs(b), abs(b))
    lo, hi = x.get("band_lower", math.nan), x.get("band_upper", math.nan)
    if math.isfinite(lo) or math.isfinite(hi):
        return (lo if math.isfinite(lo) else -math.inf, hi if math.isfinite(hi) else math.inf)
    return None


def gates(m: MetricResult) -> tuple[bool, bool]:
    """Which shifts count as regressions: (increase, decrease)."""
    return m.direction in ("increase", "either"), m.direction in ("decrease", "either")


def counts(result: AnalysisResult) -> dict[str, int]:
    out = {c.value: 0 for c in Classification}
    for m in result.metrics:
        out[m.classification.value] += 1
    return {k: v for k, v in out.items() if v}


def window_text(result: AnalysisResult) -> str:
    w = result.window
    if w is None:
        return ""
    d = w.to_dict()
    mins = w.duration / 60
    return f"{d['start']} to {d['end']} ({mins:.0f} min)" if d["start"] else ""


def safe_text(text: str) -> str:
    """Drop what cannot be encoded (lone surrogates from hostile JSON) so writing UTF-8 never fails."""
    return text.encode("utf-8", "replace").decode("utf-8")
