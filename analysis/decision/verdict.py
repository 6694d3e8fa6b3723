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


class Verdict(StrEnum):
    """The run's outcome."""

    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    NODATA = "nodata"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]


EXIT_CODES = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.MARGINAL: 3,
              Verdict.NODATA: 4, Verdict.ERROR: 4}


@dataclass(frozen=True, slots=True)
class Decision:
    """The run verdict and why."""

    verdict: Verdict
    reason: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "reason": self.reason, "exit_code": self.exit_code}


def decide(results: Sequence[Scored], critical_failures: Sequence[str], score: Score,
           thresholds: Thresholds) -> Decision:
    """The verdict for one analysis (see the module docstring for the rules)."""
    scored = [r for r in results if not r.muted]
    if critical_failures:
        return Decision(Verdict.FAIL, f"critical metric {critical_failures[0]} failed; score set to 0")
    for r in scored:
        if r.critical_metric and r.classification is Classification.NODATA:
            return Decision(Verdict.NODATA, f"critical metric {r.name} has no data")
        if r.critical_metric and r.classification is Classification.ERROR:
            return Decision(Verdict.ERROR, f"critical metric {r.name} could not be judged")
    nodata = [r.name for r in scored if r.classification is Classification.NODATA]
    if not scored or (score.override and nodata and len(nodata) * 2 >= len(scored)):
        return Decision(Verdict.NODATA, score.override or "no metric is scored")
    errors = [r.name for r in scored if r.classification is Classification.ERROR]
    if len(errors) == len(scored):  # nothing was judged (e.g. the source is down): no score to speak of
        return Decision(Verdict.ERROR, f"no metric could be judged: {', '.join(errors[:5])}"
                                           + (f" and {len(errors) - 5} more" if len(errors) > 5 else ""))
    s = score.total
    if s >= thresholds.pass_:
        value, reason = Verdict.PASS, f"score {s:g} >= pass threshold {thresholds.pass_:g}"
    elif s >= thresholds.marginal:
        value, reason = Verdict.MARGINAL, \
            f"score {s:g} is below the pass threshold {thresholds.pass_:g} (marginal >= {thresholds.marginal:g})"
    else:
        return Decision(Verdict.FAIL, f"score {s:g} < marginal threshold {thresholds.marginal:g}")
    if errors:
        return Decision(Verdict.ERROR, f"{value.value} on the rest, but {len(errors)} metric(s) could not be "
                                           f"judged: {', '.join(errors[:5])}")
    missing = [r.name for r in scored if r.classification is Classification.NODATA and r.must_have_data]
    if missing:
        return Decision(Verdict.NODATA, f"must-have-data metric(s) without data: {', '.join(missing[:5])}")
    if nodata:
        reason += f"; {len(nodata)} metric(s) without data were not scored: {', '.join(nodata[:5])}"
    return Decision(value, reason)
