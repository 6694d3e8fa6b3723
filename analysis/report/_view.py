"""What every report format says about a result, decided once: order, labels, warnings and the tolerance band.

The HTML, Markdown and JUnit writers only lay these out; none of them re-decides anything about a metric.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, TYPE_CHECKING

from judges import Classification

from analysis.report._format import fmt
from analysis.series import SamplePair

if TYPE_CHECKING:
    from analysis.results import AnalysisResult, MetricResult

# by value, so outcomes a newer judge adds (``inconclusive``) sort and render without a code change here
_RANK = {"high": 0, "low": 0, "error": 1, "inconclusive": 2, "nodata": 3, "pass": 4}
VERDICT_MARK = {"pass": "✅", "marginal": "⚠️", "fail": "❌", "nodata": "❔", "error": "⛔",
                "inconclusive": "❔"}


def ordered(metrics: Iterable[MetricResult]) -> list[MetricResult]:
    """Most severe first: failing metrics (critical failures ahead), then other non-passes, then passes; muted
    metrics after unmuted ones."""
    return sorted(metrics, key=lambda m: (not m.failed, m.muted, not m.critical,
                                          _RANK.get(m.classification.value, 9)))


def status(m: MetricResult) -> str:
    """CSS-level status of one metric: ``fail``, ``inconclusive``, ``warn`` (nodata that may be missing),
    ``pass`` or ``muted``."""
    if m.muted:
        return "muted"
    if m.failed:
        return "fail"
    if m.classification.value == "inconclusive":
        return "inconclusive"
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
    """The estimate with its interval, on the metric's scale: ``+12.3 [8.1, 16]``, ``×1.25 [1.1, 1.4]``, ``830``."""
    s = m.statistics
    if not math.isfinite(s.estimate):
        return "-"
    kind = scale(m).kind
    head = {"shift": ("+" if s.estimate > 0 else "") + fmt(s.estimate), "ratio": f"×{fmt(s.estimate)}"}.get(
        kind, fmt(s.estimate))
    if math.isfinite(s.ci_lower) and math.isfinite(s.ci_upper):
        return f"{head} [{fmt(s.ci_lower)}, {fmt(s.ci_upper)}]"
    return head


def change(m: MetricResult) -> str:
    """The estimate alone, on its scale: ``+12.3`` (shift), ``×1.25`` (ratio), ``830`` (statistic), or ``-``."""
    e = m.statistics.estimate
    if not math.isfinite(e):
        return "-"
    kind = scale(m).kind
    return {"shift": ("+" if e > 0 else "") + fmt(e, 3), "ratio": f"×{fmt(e, 3)}"}.get(kind, f"stat {fmt(e, 3)}")


def interval(m: MetricResult) -> str:
    """The estimate's confidence interval ``[lo, hi]``; for a statistic judged against fixed bounds (threshold),
    the accepted range (``limit ≤ 900``); ``-`` when there is neither."""
    s = m.statistics
    sc = scale(m)
    if sc.kind == "value":
        if sc.band is None:
            return "-"
        lo, hi = sc.band
        if math.isinf(lo):
            return f"limit ≤ {fmt(hi, 3)}"
        return f"limit ≥ {fmt(lo, 3)}" if math.isinf(hi) else f"limit {fmt(lo, 3)} to {fmt(hi, 3)}"
    if math.isfinite(s.ci_lower) and math.isfinite(s.ci_upper):
        return f"[{fmt(s.ci_lower, 3)}, {fmt(s.ci_upper, 3)}]"
    return "-"


def detectability(m: MetricResult) -> str:
    """The smallest change this metric's data could detect (``mde``, a relative change), when the judge says."""
    mde = m.statistics.extra.get("mde")
    detect = getattr(m, "detectability", None)
    if mde is None and callable(detect):
        mde = (detect() or {}).get("mde")
    if not isinstance(mde, (int, float)) or math.isnan(mde):
        return "-"
    return "unbounded" if math.isinf(mde) else f"±{abs(mde):.1%}"


# what readers see of the judges' extra statistics; anything else stays in the JSON result
READABLE_EXTRA = {
    "mean_ratio": ("mean ratio (canary / baseline)", 4), "vif": ("variance inflation (autocorrelation)", 3),
    "n_effective": ("effective points", 4), "ci_confidence": ("interval confidence", 4),
    "baseline_statistic": ("baseline statistic", 4), "baseline_events": ("baseline events", 6),
    "canary_events": ("canary events", 6), "baseline_exposure": ("baseline exposure", 6),
    "canary_exposure": ("canary exposure", 6), "mde": ("smallest detectable change", 3),
    "extra_points": ("more points needed", 4), "log_e_value": ("evidence (log e-value)", 4),
    "looks": ("looks", 4), "n_nan_baseline": ("NaN values, baseline", 4), "n_nan_canary": ("NaN values, canary", 4),
    "n_outliers_baseline": ("outliers removed, baseline", 4), "n_outliers_canary": ("outliers removed, canary", 4),
}


def short_names(names: Iterable[str], limit: int = 23) -> dict[str, str]:
    """Display names of at most ``limit`` characters, the full name going in a tooltip. Names often share a long
    prefix (``checkout_service_payment_…``) and differ after it, so a prefix common to all (cut at a ``_ . : - /``)
    is replaced by ``…``; what is still too long is cut in the middle, keeping both ends."""
    names = list(names)
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = max((prefix.rfind(c) for c in "_.:-/"), default=-1) + 1
    out = {}
    for name in names:
        rest = name[cut:] if len(name) > limit and cut >= 8 else name
        short = rest if rest == name else "…" + rest
        if len(short) > limit:
            head = (limit - 1) // 2
            short = short[:head] + "…" + short[len(short) - (limit - 1 - head):]
        out[name] = short
    return out


def short_reason(m: MetricResult) -> str:
    """The reason without the metric's name in front (the name stands beside it)."""
    r = m.reason
    return r[len(m.name):].lstrip(" :") if m.name and r.startswith(m.name + " ") else r


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


@dataclass(frozen=True, slots=True)
class Scale:
    """How to draw a metric's estimate: against what reference, and which range the judge tolerated.

    ``kind`` is ``shift`` (canary - baseline, reference 0), ``ratio`` (canary / baseline, reference 1) or
    ``value`` (a canary statistic against fixed bounds, reference the baseline's statistic).
    """

    kind: str
    reference: float
    caption: str
    band: tuple[float, float] | None
    band_label: str
    gates: tuple[bool, bool]


RATIO_JUDGES = ("rate", "sequential-rate")
_BOUND_KEYS = ("upper", "lower", "max_ratio", "min_ratio")


def scale(m: MetricResult) -> Scale:
    """The scale and tolerated range of ``m``'s estimate, from what its judge recorded.

    Judges deciding by the three-way rule (``judges._decision.non_inferiority``) record ``allowed_lower`` /
    ``allowed_upper``: the band is the allowed effect. ``kayenta`` records ``bound`` (tolerance * |estimate|,
    Kayenta's rule): the band is ``[-bound, +bound]``. Rate judges without an allowed effect decide on a rate
    ratio whose interval must exclude 1. The threshold judge records its ``upper``,
    ``lower``, ``max_ratio`` and ``min_ratio``; ratio bounds become values through the baseline statistic. Any
    judge may instead record ``band_lower`` / ``band_upper`` (and ``reference``) explicitly.
    """
    x = m.statistics.extra
    up, down = m.direction in ("increase", "either"), m.direction in ("decrease", "either")
    finite = lambda k: x.get(k) is not None and math.isfinite(x[k])  # noqa: E731
    band: tuple[float, float] | None
    if finite("band_lower") or finite("band_upper"):
        band = (x["band_lower"] if finite("band_lower") else -math.inf,
                x["band_upper"] if finite("band_upper") else math.inf)
        return Scale("shift", x["reference"] if finite("reference") else 0.0, "estimate", band, "tolerated range",
                     (up, down))
    if m.judge == "threshold" or (m.judge not in RATIO_JUDGES and any(finite(k) for k in _BOUND_KEYS)
                                  and not finite("bound")):
        base = x.get("baseline_statistic", math.nan)
        his = [x["upper"]] if finite("upper") else []
        los = [x["lower"]] if finite("lower") else []
        if base is not None and math.isfinite(base) and base > 0:
            his += [x["max_ratio"] * base] if finite("max_ratio") else []
            los += [x["min_ratio"] * base] if finite("min_ratio") else []
        band = (max(los) if los else -math.inf, min(his) if his else math.inf) if (his or los) else None
        ref = base if base is not None and math.isfinite(base) else math.nan
        return Scale("value", ref, "canary statistic (dashed: baseline)", band, "accepted range", (True, True))
    # the three-way rule of every judge but kayenta records the allowed effect it decided against
    allowed = (x["allowed_lower"] if finite("allowed_lower") else -math.inf,
               x["allowed_upper"] if finite("allowed_upper") else math.inf) \
        if finite("allowed_lower") or finite("allowed_upper") else None
    if m.judge in RATIO_JUDGES:
        if allowed is not None:
            return Scale("ratio", 1.0, "canary / baseline rate ratio", allowed, "allowed effect", (up, down))
        return Scale("ratio", 1.0, "canary / baseline rate ratio", (1.0, 1.0), "no change", (up, down))
    if allowed is not None:
        return Scale("shift", 0.0, "canary − baseline", allowed, "allowed effect", (up, down))
    b = x.get("bound")
    band = (-abs(b) or 0.0, abs(b)) if b is not None and math.isfinite(b) else None
    return Scale("shift", 0.0, "canary − baseline", band, "tolerated shift", (up, down))


def band(m: MetricResult) -> tuple[float, float] | None:
    """The tolerated range of the estimate (see :func:`scale`)."""
    return scale(m).band


def gates(m: MetricResult) -> tuple[bool, bool]:
    """Which side of the band counts as a regression: (above, below)."""
    return scale(m).gates


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
