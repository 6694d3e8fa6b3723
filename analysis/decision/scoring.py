"""Kayenta's scoring (``ScoringHelper`` / ``WeightedSumScorer``), exact to the rule.

1. Muted results are left out.
2. Group score = 100 * #pass / (#pass + #high + #low + #inconclusive + #nodata-that-must-have-data); nodata and
   error are not in the denominator (an inconclusive metric has been judged, but not shown within its allowed
   effect, so it does not count as a pass); a group with an empty denominator has no data and scores 100 in the sum (shown as 0).
3. A non-pass result flagged critical zeroes the score (Kayenta: ``critical == true and classification != Pass``;
   a critical metric that is high below its ``critical_increase``, or in error, is not flagged critical).
4. 50 % or more nodata among the scored results zeroes it.
5. Otherwise the weighted sum over groups: configured weights as given, unweighted groups share 100 - sum(weights);
   rounded half-up to 2 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping, Sequence

from judges import Classification

NODATA_THRESHOLD = 50.0


@dataclass(frozen=True, slots=True)
class Scored:
    """What scoring needs to know about one metric result."""

    name: str
    group: str
    classification: Classification
    critical_metric: bool = False
    must_have_data: bool = False
    muted: bool = False
    # the judge's critical flag (Kayenta's result ``critical``): a critical failure, or a critical metric without
    # data or inconclusive; None reads ``critical_metric``
    critical: bool | None = None

    @property
    def zeroes_score(self) -> bool:
        flag = self.critical_metric if self.critical is None else self.critical
        return flag and self.classification is not Classification.PASS


@dataclass(frozen=True, slots=True)
class Score:
    """Run score 0-100, per-group scores, and why the score was overridden (if it was)."""

    total: float
    groups: Mapping[str, float] = field(default_factory=dict)
    groups_nodata: Mapping[str, bool] = field(default_factory=dict)
    override: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.total, "groups": dict(self.groups), "override": self.override or None}


def round_half_up(x: float, places: int = 2) -> float:
    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _counts_in_denominator(r: Scored) -> bool:
    if r.classification in (Classification.PASS, Classification.HIGH, Classification.LOW,
                            Classification.INCONCLUSIVE):
        return True
    # Kayenta's NodataFailMetric: must-have-data on a non-critical metric counts as a failure
    return r.classification is Classification.NODATA and r.must_have_data and not r.critical_metric


def score(results: Sequence[Scored], weights: Mapping[str, float]) -> Score:
    """Score ``results`` with group ``weights`` by Kayenta's rules (see the module docstring)."""
    scored = [r for r in results if not r.muted]
    groups: dict[str, list[Scored]] = {}
    for r in scored:
        groups.setdefault(r.group, []).append(r)
    group_scores: dict[str, float] = {}
    group_nodata: dict[str, bool] = {}
    for g, rs in groups.items():
        denom = [r for r in rs if _counts_in_denominator(r)]
        passed = sum(r.classification is Classification.PASS for r in denom)
        group_nodata[g] = not denom
        group_scores[g] = 100.0 * passed / len(denom) if denom else 0.0

    for r in scored:
        if r.zeroes_score:
            return Score(0.0, group_scores, group_nodata,
                         f"critical metric {r.name} is {r.classification.value}")
    n_nodata = sum(r.classification is Classification.NODATA for r in scored)
    if scored and 100.0 * n_nodata / len(scored) >= NODATA_THRESHOLD:
        return Score(0.0, group_scores, group_nodata,
                     f"{n_nodata} of {len(scored)} metrics returned no data (50% or more)")
    if not scored:
        return Score(0.0, group_scores, group_nodata, "no metric is scored (all are muted)")

    configured = sum(weights.values())
    unweighted = [g for g in groups if g not in weights]
    share = (100.0 - configured) / len(unweighted) if unweighted else 0.0
    total = 0.0
    for g in groups:
        w = weights.get(g, share)
        total += (100.0 if group_nodata[g] else group_scores[g]) * w / 100.0
    return Score(round_half_up(total), group_scores, group_nodata)
