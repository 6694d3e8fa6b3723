"""Re-judging recorded data with other parameters: how the verdict moves with confidence, tolerance and effect size.

    >>> from analysis.runs.tuning import with_params, sweep, compare
    >>> stricter = with_params(cfg, confidence=0.9, allowed_increase=1.02)
    >>> compare(result, judge_pairs(stricter, result.pairs, result.window))
    >>> sweep(cfg, result.pairs, confidence=[0.9, 0.95, 0.98], tolerance=[0.1, 0.25])

Nothing here changes a judge; it only builds configs and runs the same pipeline (``judge_pairs``) on the same data.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from judges import Direction, available as available_judges

from analysis.config import CanaryConfig
from analysis.pipeline import judge_pairs
from analysis.results import AnalysisResult
from analysis.series import SamplePair, Window

if TYPE_CHECKING:
    import pandas as pd

_PARAMS = ("confidence", "tolerance", "direction", "critical", "must_have_data", "outlier_factor", "upper", "lower",
           "max_ratio", "min_ratio", "statistic")
_EFFECT = ("allowed_increase", "allowed_decrease", "critical_increase", "critical_decrease")
TUNABLE = ("judge",) + _PARAMS + _EFFECT


def with_params(config: CanaryConfig, metrics: Iterable[str] | None = None, **changes: Any) -> CanaryConfig:
    """A copy of ``config`` with judge parameters changed for ``metrics`` (default: every metric).

    Parameters
    ----------
    config : CanaryConfig
    metrics : iterable of str, optional
        Names of the metrics to change; unknown names raise ``KeyError`` listing the known ones.
    **changes
        Any of ``TUNABLE``: ``judge`` (a registered judge name), the ``JudgeParams`` fields (``confidence``,
        ``tolerance``, ``direction``, ...) and the effect-size thresholds (``allowed_increase``,
        ``allowed_decrease``, ``critical_increase``, ``critical_decrease``).

    Raises
    ------
    ValueError
        For a parameter name that is not tunable, or an unknown judge (the message lists the known ones).
    """
    unknown = sorted(set(changes) - set(TUNABLE))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; tunable: {', '.join(TUNABLE)}")
    names = {m.name for m in config.metrics}
    chosen = set(names if metrics is None else metrics)
    missing = sorted(chosen - names)
    if missing:
        raise KeyError(f"no metric named {', '.join(missing)}; metrics: {', '.join(sorted(names))}")
    judge = changes.get("judge")
    if judge is not None and judge not in available_judges():
        raise ValueError(f"unknown judge {judge!r}; known judges: {', '.join(available_judges())}")
    params = {k: v for k, v in changes.items() if k in _PARAMS}
    if "direction" in params:
        params["direction"] = Direction(params["direction"])
    effect = {k: v for k, v in changes.items() if k in _EFFECT}
    out = []
    for m in config.metrics:
        if m.name in chosen:
            p = dataclasses.replace(m.params, **params)
            if effect:
                p = dataclasses.replace(p, effect_size=dataclasses.replace(p.effect_size, **effect))
            m = dataclasses.replace(m, params=p, judge=judge or m.judge)
        out.append(m)
    return dataclasses.replace(config, metrics=tuple(out))


def _summary(result: AnalysisResult) -> dict[str, Any]:
    counts = {f"n_{c}": 0 for c in ("pass", "high", "low", "nodata", "error")}
    for m in result.metrics:
        counts[f"n_{m.classification.value}"] += 1
    failing = [m.name for m in result.metrics if m.failed and not m.muted]
    return {"verdict": result.verdict.value, "score": result.score, **counts,
            "failing": ", ".join(failing), "reason": result.reason}


def sweep(config: CanaryConfig, pairs: Mapping[str, SamplePair], window: Window | None = None,
          metrics: Sequence[str] | None = None, **grid: Sequence[Any]) -> "pd.DataFrame":
    """Judge the same recorded ``pairs`` once per combination of ``grid`` values.

    Parameters
    ----------
    config : CanaryConfig
    pairs : mapping of str to SamplePair
        The collected data, e.g. ``result.pairs`` of an earlier run or ``FileCollector(path).collect(...)``.
    window : Window, optional
    metrics : sequence of str, optional
        Change only these metrics (default: all).
    **grid : sequences
        Parameter name (see ``TUNABLE``) -> values to try.

    Returns
    -------
    pandas.DataFrame
        One row per combination: the parameter values, ``verdict``, ``score``, counts per classification
        (``n_pass``, ``n_high``, ...), the failing metrics and the verdict's reason.
    """
    import pandas as pd

    if not grid:
        raise ValueError("give at least one parameter to sweep, e.g. confidence=[0.9, 0.95, 0.98]")
    keys = list(grid)
    rows = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        changes = dict(zip(keys, values))
        result = judge_pairs(with_params(config, metrics, **changes), pairs, window)
        rows.append({**changes, **_summary(result)})
    return pd.DataFrame(rows)


def compare(before: AnalysisResult, after: AnalysisResult) -> "pd.DataFrame":
    """Per metric, the classification and interval before and after, and whether the classification changed."""
    import pandas as pd

    rows = []
    later = {m.name: m for m in after.metrics}
    for m in before.metrics:
        n = later.get(m.name)
        rows.append({"name": m.name, "before": m.classification.value,
                     "after": n.classification.value if n else None,
                     "changed": n is None or n.classification is not m.classification,
                     "ci_before": (m.statistics.ci_lower, m.statistics.ci_upper),
                     "ci_after": (n.statistics.ci_lower, n.statistics.ci_upper) if n else None,
                     "reason_after": n.reason if n else "missing"})
    return pd.DataFrame(rows).set_index("name")
