"""Holm's family-wise correction applied to a release's metric results (``scoring: {holm: true, alpha: 0.05}``).

Holm adjusts the *level of each metric's interval*, never a p-value that overrides the interval, so one interval
decides every metric and the test and the interval agree by construction:

1. The family is the gating metrics whose judge takes a level (every metric that is not muted and whose judge
   reported a p-value; ``kayenta`` and ``threshold`` report none and are left as they are). Let m be its size.
2. Step k (k = m, m - 1, ...): every metric of the family not yet flagged, and flagged high or low at its own
   level, is judged again at confidence ``max(its own confidence, 1 - alpha / k)``; those flagged high or low at
   that level leave the family.
3. Stop when a step flags nothing. A flagged metric keeps the judgement of the step that flagged it; one flagged
   at its own level but not at Holm's keeps the (inconclusive) judgement of the last step; the others keep their
   own judgement.

Only the "shown worse" decision needs the family-wise level: a run passes only when every gating metric passes,
so a pass at each metric's own level keeps the chance of passing a regressed release at most that level
(the intersection-union principle, Berger 1982, Technometrics 24(4):295-300). Each result's interval is labelled
with the confidence it was judged at (``statistics.extra.ci_confidence``).

This is Holm's step-down procedure (reject the smallest p while ``p_(i) <= alpha / (m - i + 1)``) read on the
intervals: a metric is flagged at level ``alpha / k`` exactly when its test rejects there. A wider interval can
only move a metric from high or low to inconclusive, or from pass to inconclusive; it never passes a metric whose
interval lies beyond its allowed effect, and never turns an under-powered critical metric into a pass.
Muted metrics are outside the family.

References: S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6 (1979) 65-70.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from judges import Classification, Judgement

from analysis.results import MetricResult

__all__ = ["holm_by_level"]

Rejudge = Callable[[int, float], Judgement]
_FLAGGED = (Classification.HIGH, Classification.LOW)


def holm_by_level(results: Sequence[MetricResult], alpha: float, confidences: Sequence[float],
                  rejudge: Rejudge) -> tuple[MetricResult, ...]:
    """Judge the gating metrics of ``results`` at Holm's step-down levels (see the module docstring).

    Parameters
    ----------
    results : the metric results judged at their own confidence.
    alpha : family-wise error rate.
    confidences : each metric's own confidence, in the order of ``results``.
    rejudge : ``rejudge(i, confidence)`` judges metric i again at ``confidence``.
    """
    family = [i for i, r in enumerate(results) if not r.muted and not math.isnan(r.statistics.p_value)]
    out = list(results)
    flagged: set[int] = set()
    while len(flagged) < len(family):
        k = len(family) - len(flagged)
        new = []
        for i in family:
            if i in flagged:
                continue
            own = results[i].judgement
            level = max(confidences[i], 1.0 - alpha / k)
            # not flagged at its own level, it cannot be flagged at a stricter one; a pass at its own level stands
            j = own if own.classification not in _FLAGGED or level == confidences[i] else rejudge(i, level)
            out[i] = dataclasses.replace(results[i], judgement=j)
            if j.classification in _FLAGGED:
                new.append(i)
        if not new:
            break
        flagged.update(new)
    return tuple(out)
