"""From a score and the metric results to the run verdict and its exit code.

Rules, in order:

1. a critical metric classified high or low (a critical failure) -> ``fail``;
2. a critical metric with no data -> ``nodata``; a critical metric in error -> ``error``;
3. 50 % or more of the scored metrics with no data (or every metric) -> ``nodata``;
4. otherwise the score against the thresholds: >= pass -> ``pass``, >= marginal -> ``marginal``, else ``fail``;
5. fail closed: a scored metric in error, or a must-have-data metric without data, turns ``pass`` and
   ``marginal`` into ``error`` / ``nodata`` (the missing evidence could have failed the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Sequence

from judges import Classification

from analysis.config import Thresholds
from analysis.decision.scoring import Score, Scored


class VerdictValue(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    NODATA = "nodata"
    ERROR = "error"


EXIT_CODES = {VerdictValue.PASS: 0, VerdictValue.FAIL: 1, VerdictValue.MARGINAL: 3,
              VerdictValue.NODATA: 4, VerdictValue.ERROR: 4}


@dataclass(frozen=True, slots=True)
class Verdict:
    value: VerdictValue
    reason: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.value]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.value.value, "reason": self.reason, "exit_code": self.exit_code}


def decide(results: Sequence[Scored], critical_failures: Sequence[str], score: Score,
           thresholds: Thresholds) -> Verdict:
    """The verdict for one analysis (see the module docstring for the rules)."""
    scored = [r for r in results if not r.muted]
    if critical_failures:
        return Verdict(VerdictValue.FAIL, f"critical metric {critical_failures[0]} failed; score set to 0")
    for r in scored:
        if r.critical_metric and r.classification is Classification.NODATA:
            return Verdict(VerdictValue.NODATA, f"critical metric {r.name} has no data")
        if r.critical_metric and r.classification is Classification.ERROR:
            return Verdict(VerdictValue.ERROR, f"critical metric {r.name} could not be judged")
    nodata = [r.name for r in scored if r.classification is Classification.NODATA]
    if not scored or (score.override and nodata and len(nodata) * 2 >= len(scored)):
        return Verdict(VerdictValue.NODATA, score.override or "no metric is scored")
    errors = [r.name for r in scored if r.classification is Classification.ERROR]
    if len(errors) == len(scored):  # nothing was judged (e.g. the source is down): no score to speak of
        return Verdict(VerdictValue.ERROR, f"no metric could be judged: {', '.join(errors[:5])}"
                                           + (f" and {len(errors) - 5} more" if len(errors) > 5 else ""))
    s = score.score
    if s >= thresholds.pass_:
        value, reason = VerdictValue.PASS, f"score {s:g} >= pass threshold {thresholds.pass_:g}"
    elif s >= thresholds.marginal:
        value, reason = VerdictValue.MARGINAL, \
            f"score {s:g} is below the pass threshold {thresholds.pass_:g} (marginal >= {thresholds.marginal:g})"
    else:
        return Verdict(VerdictValue.FAIL, f"score {s:g} < marginal threshold {thresholds.marginal:g}")
    if errors:
        return Verdict(VerdictValue.ERROR, f"{value.value} on the rest, but {len(errors)} metric(s) could not be "
                                           f"judged: {', '.join(errors[:5])}")
    missing = [r.name for r in scored if r.classification is Classification.NODATA and r.must_have_data]
    if missing:
        return Verdict(VerdictValue.NODATA, f"must-have-data metric(s) without data: {', '.join(missing[:5])}")
    if nodata:
        reason += f"; {len(nodata)} metric(s) without data were not scored: {', '.join(nodata[:5])}"
    return Verdict(value, reason)
