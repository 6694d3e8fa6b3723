"""From a score and the metric results to the run verdict and its exit code.

Rules, in order:

1. a critical metric classified high or low (a critical failure) -> ``fail``;
2. a critical metric with no data -> ``nodata``; a critical metric in error -> ``error``;
3. 50 % or more of the scored metrics with no data (or every metric) -> ``nodata``;
4. otherwise the score against the thresholds: >= pass -> ``pass``, >= marginal -> ``marginal``, else ``fail``;
5. fail closed: a scored metric in error, or a must-have-data metric without data, turns ``pass`` and
   ``marginal`` into ``error`` / ``nodata`` (the missing evidence could have failed the run).

Inconclusive metrics (not enough data to tell, see ``judges._decision.non_inferiority``) are settled by
:func:`decide_run`: the rules above are applied twice, once with every inconclusive metric read as a failure (a
critical one as a critical failure) and once with each read as a pass. When both readings give the same verdict,
that is the verdict (a run that fails on its other metrics fails; one inconclusive metric among twenty that the
score tolerates either way still passes, and says so); otherwise more data could change it and the run is
``inconclusive`` (exit code 5). So a run with an inconclusive critical metric never passes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Mapping, Sequence

from judges import Classification

from analysis.config import Thresholds
from analysis.decision.scoring import Score, Scored, score as score_results


class Verdict(StrEnum):
    """The run's outcome."""

    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NODATA = "nodata"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]


EXIT_CODES = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.MARGINAL: 3,
              Verdict.NODATA: 4, Verdict.ERROR: 4, Verdict.INCONCLUSIVE: 5}


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



class Decided:
    """What reads a run's outcome from its ``decision``: ``verdict``, ``reason`` and ``exit_code``."""

    __slots__ = ()
    decision: Decision

    @property
    def verdict(self) -> Verdict:
        """``pass``, ``marginal``, ``fail``, ``inconclusive``, ``nodata`` or ``error``."""
        return self.decision.verdict

    @property
    def reason(self) -> str:
        """Why the run got its verdict, in one sentence."""
        return self.decision.reason

    @property
    def exit_code(self) -> int:
        return self.decision.exit_code

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


def decide_run(results: Sequence[Scored], critical_failures: Sequence[str], weights: Mapping[str, float],
               thresholds: Thresholds) -> tuple[Score, Decision]:
    """Score and verdict of a run, settling inconclusive metrics as the module docstring says.

    The score returned counts an inconclusive metric as not passing (what has been shown); the verdict is the one
    both readings agree on, else ``inconclusive``.
    """
    shown = score_results(results, weights)
    open_ = [r for r in results if not r.muted and r.classification is Classification.INCONCLUSIVE]
    if not open_:
        return shown, decide(results, critical_failures, shown, thresholds)
    critical_open = [r.name for r in open_ if r.critical_metric]
    worst = decide(results, list(critical_failures) + critical_open, shown, thresholds)
    as_pass = [replace(r, classification=Classification.PASS) if r in open_ else r for r in results]
    best = decide(as_pass, critical_failures, score_results(as_pass, weights), thresholds)
    names = ", ".join(r.name for r in open_[:5]) + (f" and {len(open_) - 5} more" if len(open_) > 5 else "")
    if best.verdict in (Verdict.NODATA, Verdict.ERROR) or best.verdict is worst.verdict:
        decision = best if best.verdict is not worst.verdict else worst
        if decision.verdict is Verdict.PASS:
            decision = Decision(decision.verdict, f"{decision.reason}; {len(open_)} inconclusive metric(s) do not "
                                                  f"change the verdict either way: {names}")
        return shown, decision
    what = f"critical metric {critical_open[0]}" if critical_open else f"{len(open_)} metric(s) ({names})"
    return shown, Decision(Verdict.INCONCLUSIVE,
                           f"not enough data to tell: {what} inconclusive; the verdict would be "
                           f"{best.verdict.value} if shown within the allowed effect, {worst.verdict.value} if "
                           "shown worse")
