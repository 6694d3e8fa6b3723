"""Kayenta's REST API as Argo Rollouts' ``kayenta`` provider and Spinnaker's Orca call it (integrations.md §1, §2, §6).

* ``GET /canaryConfig`` lists the configs (``id`` = file stem, ``name``, timestamps, ``applications``);
* ``POST /canary/{configId}`` takes a ``CanaryExecutionRequest`` and answers 200 ``{"canaryExecutionId"}``;
* ``GET /canary/{id}`` answers the ``CanaryExecutionStatusResponse``: ``complete``, ``status`` and, once succeeded,
  ``result.judgeResult.score`` classified with the request's thresholds. A run with no verdict ends ``terminal``
  with ``exception`` and no result, so no score is there to be read as a pass.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Mapping

from judges import Classification

from analysis.config import Thresholds
from analysis.results import AnalysisResult, MetricResult
from analysis.runs.serve.configs import Entry
from analysis.runs.serve.jobs import BadRequest, Job, check_variables, scopes_for
from analysis.runs.serve.store import SUCCEEDED, Execution

__all__ = ["judge_result", "parse_request", "status_response"]

JUDGE_NAME = "canary-engine"
_LABELS = {Classification.PASS: "Pass", Classification.HIGH: "High", Classification.LOW: "Low",
           Classification.NODATA: "Nodata", Classification.ERROR: "Error"}


def _instant(value: Any, where: str) -> float:
    """An RFC 3339 instant (Jackson's ``Instant``: a zone or offset is required)."""
    if not isinstance(value, str):
        raise BadRequest(f"{where}: expected an RFC 3339 time such as 2024-01-01T00:00:00Z, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise BadRequest(f"{where}: {value!r} is not an RFC 3339 time such as 2024-01-01T00:00:00Z") from None
    if dt.tzinfo is None or "T" not in value.upper():
        raise BadRequest(f"{where}: {value!r} is not an RFC 3339 time with a zone (2024-01-01T00:00:00Z)")
    return dt.timestamp()


def _scope_pair(scopes: Any) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(scopes, Mapping) or not scopes:
        raise BadRequest("scopes: required, e.g. {\"default\": {\"controlScope\": {...}, \"experimentScope\": {...}}}")
    if "default" in scopes:
        name = "default"
    elif len(scopes) == 1:
        (name,) = scopes
    else:
        raise BadRequest(f"scopes: give the scope 'default' or exactly one scope; got {', '.join(map(str, scopes))}")
    pair = scopes[name]
    if not isinstance(pair, Mapping):
        raise BadRequest(f"scopes.{name}: expected an object with controlScope and experimentScope")
    return str(name), pair


def _scope(pair: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    s = pair.get(key)
    if not isinstance(s, Mapping):
        raise BadRequest(f"{where}.{key}: required (an object with scope, start, end, step)")
    return s


def parse_request(entry: Entry, body: Any) -> Job:
    """A ``CanaryExecutionRequest`` as a ``Job``; ``BadRequest`` for what Kayenta answers 400 to."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object (a CanaryExecutionRequest)")
    th = body.get("thresholds")
    if not isinstance(th, Mapping):
        raise BadRequest("Execution request must contain thresholds")
    values = {}
    for key in ("pass", "marginal"):
        v = th.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise BadRequest(f"thresholds.{key}: expected a number, got {v!r}")
        values[key] = float(v)
    if values["marginal"] > values["pass"]:
        raise BadRequest(f"thresholds: marginal ({values['marginal']:g}) must not exceed pass ({values['pass']:g})")
    name, pair = _scope_pair(body.get("scopes"))
    where = f"scopes.{name}"
    control, experiment = _scope(pair, "controlScope", where), _scope(pair, "experimentScope", where)
    windows = []
    for key, s in (("controlScope", control), ("experimentScope", experiment)):
        start = _instant(s.get("start"), f"{where}.{key}.start")
        end = _instant(s.get("end"), f"{where}.{key}.end")
        if end <= start:
            raise BadRequest(f"{where}.{key}: end ({s.get('end')}) must be after start ({s.get('start')})")
        step = s.get("step", 0)
        if step is None:
            step = 0
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step < 0:
            raise BadRequest(f"{where}.{key}.step: expected seconds (a number >= 0), got {step!r}")
        windows.append((start, end, float(step)))
    if windows[0] != windows[1]:
        raise BadRequest(f"{where}: controlScope and experimentScope must cover the same start, end and step here "
                         f"(a baseline offset is not supported)")
    start, end, step = windows[1]
    variables: dict[str, str] = {}
    for s, key in ((control, "controlScope"), (experiment, "experimentScope")):
        extended = s.get("extendedScopeParams") or {}
        if not isinstance(extended, Mapping):
            raise BadRequest(f"{where}.{key}.extendedScopeParams: expected an object of strings")
        variables.update(check_variables(extended, f"{where}.{key}.extendedScopeParams"))
    location = experiment.get("location", experiment.get("region"))
    if isinstance(location, str) and location and any("${location}" in (m.query or "") for m in entry.config.metrics):
        variables.setdefault("location", location)
    for s, key in ((control, "controlScope"), (experiment, "experimentScope")):
        if not isinstance(s.get("scope", ""), str):
            raise BadRequest(f"{where}.{key}.scope: expected a string of label matchers")
    baseline, canary = scopes_for(entry, control.get("scope"), experiment.get("scope"),
                                  (f"{where}.controlScope.scope", f"{where}.experimentScope.scope"))
    return Job(entry.id, baseline, canary, start, end, step or None, variables,
               Thresholds(values["pass"], values["marginal"]))


def _classify(score: float, thresholds: Thresholds) -> str:
    # Kayenta's ThresholdScoreClassifier with the request's thresholds
    if score >= thresholds.pass_:
        return "Pass"
    return "Marginal" if score >= thresholds.marginal else "Fail"


def _stats(m: MetricResult, scope: str) -> dict[str, Any]:
    s = m.statistics
    n = s.n_baseline if scope == "baseline" else s.n_canary
    median = s.baseline_median if scope == "baseline" else s.canary_median
    return {"stats": {"count": int(n), "median": median if math.isfinite(median) else None}}


def _metric(m: MetricResult) -> dict[str, Any]:
    label = _LABELS[m.classification]
    if m.classification is Classification.NODATA and m.must_have_data and not m.critical_metric:
        label = "NodataFailMetric"
    effect = m.statistics.effect_size
    return {"name": m.name, "id": m.name, "classification": label, "classificationReason": m.reason or "",
            "groups": [m.group], "critical": m.critical, "muted": m.muted,
            "experimentMetadata": _stats(m, "canary"), "controlMetadata": _stats(m, "baseline"),
            "resultMetadata": {"ratio": effect if math.isfinite(effect) else None}}


def judge_result(result: AnalysisResult, thresholds: Thresholds) -> dict[str, Any]:
    """Kayenta's ``CanaryResult``: ``judgeResult`` (score, classification, metric and group results)."""
    score = result.score
    classification = _classify(score, thresholds)
    reason = "" if classification == "Pass" else result.reason
    groups = [{"name": g, "score": s, "classification": "", "classificationReason": ""}
              for g, s in result.group_scores.items()]
    duration = result.window.duration if result.window else 0.0
    return {"judgeResult": {"judgeName": JUDGE_NAME, "results": [_metric(m) for m in result.metrics],
                            "groupScores": groups,
                            "score": {"score": score, "classification": classification,
                                      "classificationReason": reason}},
            "canaryDuration": f"PT{duration:g}S", "verdict": result.verdict.value}


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                                          "Z")


def status_response(e: Execution) -> dict[str, Any]:
    """The ``CanaryExecutionStatusResponse`` of one stored execution."""
    request = e.request.get("request", {})
    accounts = e.request.get("accounts", {})
    out: dict[str, Any] = {
        "canaryExecutionId": e.id, "pipelineId": e.id, "complete": e.complete, "status": e.status,
        "stageStatus": {"canaryJudge": e.status}, "canaryConfigId": e.config_id,
        "application": accounts.get("application") or None, "canaryExecutionRequest": request,
        "buildTimeMillis": e.build_ms, "buildTimeIso": _iso(e.build_ms),
        "startTimeMillis": e.start_ms, "startTimeIso": _iso(e.start_ms),
        "endTimeMillis": e.end_ms, "endTimeIso": _iso(e.end_ms),
        "metricsAccountName": accounts.get("metricsAccountName") or None,
        "storageAccountName": accounts.get("storageAccountName") or None,
        "configurationAccountName": accounts.get("configurationAccountName") or None,
    }
    if e.complete and e.status == SUCCEEDED and e.result is not None:
        out["result"] = e.result
    if e.exception:
        out["exception"] = {"message": e.exception}
    return out
