"""Holm's family-wise correction applied to a release's metric results (``scoring: {holm: true, alpha: 0.05}``).

The family is the gating metrics: every metric that is not muted and whose judge reported a p-value (``kayenta``
and ``threshold`` report none and are left as they are). Each of them gets ``p_adjusted``. A gating metric that its
judge classified high or low but whose Holm-adjusted p-value is above ``alpha`` is turned into a pass, and no
longer a critical failure: its interval alone cleared the per-metric level, not the family-wise one. The pass
keeps the judge's numbers and says why in its reason. Holm never turns a pass into a failure. Muted metrics are
outside the family; they keep their own classification (they are not scored anyway).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from judges import Classification, Judgement
from judges.multiplicity import holm

from analysis.results import MetricResult

__all__ = ["apply_holm"]


def _g(v: float) -> str:
    return f"{v:.3g}"


def apply_holm(results: Sequence[MetricResult], alpha: float) -> tuple[MetricResult, ...]:
    """Set ``p_adjusted`` on the gating metrics and downgrade the high/low ones that Holm does not confirm."""
    family = [i for i, r in enumerate(results) if not r.muted and not math.isnan(r.statistics.p_value)]
    if not family:
        return tuple(results)
    adjusted = holm([results[i].statistics.p_value for i in family])
    out = list(results)
    m = len(family)
    for i, adj in zip(family, adjusted):
        r = results[i]
        adj = float(adj)
        if r.classification in (Classification.HIGH, Classification.LOW) and adj > alpha:
            j = r.judgement
            reason = (f"Not significant across {m} gating metric(s): Holm-adjusted p {_g(adj)} > alpha {alpha:g} "
                      f"(raw p {_g(r.statistics.p_value)}); alone it would be {r.classification.value}: {j.reason}")
            r = dataclasses.replace(r, judgement=Judgement(Classification.PASS, reason, critical=False,
                                                           statistics=j.statistics))
        out[i] = dataclasses.replace(r, p_adjusted=adj)
    return tuple(out)
