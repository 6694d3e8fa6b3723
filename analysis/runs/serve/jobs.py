"""One analysis as the HTTP adapters ask for it: a config, two scopes, a window and variables -> ``AnalysisResult``.

``prepare`` does everything that can be wrong with the request (scopes, variables, query templates) without any
network call, so the adapters can answer 400 before an execution is accepted; ``run`` then collects and judges
through the library (``analysis.pipeline.analyze`` with the Prometheus collector).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from analysis.collectors.promql import LABEL_NAME
from analysis.config import CanaryConfig, Thresholds
from analysis.errors import CanaryError
from analysis.results import AnalysisResult
from analysis.decision.verdict import Verdict
from analysis.runs.source import SourceOptions
from analysis.runs.serve.configs import Entry
from analysis.runs.serve.scopes import ScopeError, parse_scope

__all__ = ["BadRequest", "Job", "fail_closed_score", "prepare", "result_document", "run", "scopes_for"]

NO_VERDICT = (Verdict.NODATA, Verdict.ERROR)


class BadRequest(ValueError):
    """The request cannot be run as given (400, with this one-line message)."""


class ServerConfigError(RuntimeError):
    """The server or its config is at fault, not the request (500)."""


@dataclass(frozen=True)
class Job:
    """What to analyse: normalised from any adapter's request; JSON-safe through ``to_dict``."""

    config_id: str
    baseline: Mapping[str, str]
    canary: Mapping[str, str]
    start: float
    end: float
    step: float | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    thresholds: Thresholds | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"config_id": self.config_id, "baseline": dict(self.baseline), "canary": dict(self.canary),
                "start": self.start, "end": self.end, "step": self.step, "variables": dict(self.variables),
                "thresholds": self.thresholds.to_dict() if self.thresholds else None}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Job":
        th = d.get("thresholds")
        return Job(d["config_id"], d["baseline"], d["canary"], d["start"], d["end"], d.get("step"),
                   d.get("variables") or {}, Thresholds(th["pass"], th["marginal"]) if th else None)


def scopes_for(entry: Entry, baseline: str | None, canary: str | None,
               fields: tuple[str, str] = ("baseline", "canary")) -> tuple[dict[str, str], dict[str, str]]:
    """The two label sets from the request's scope strings, or the config's own when a string is not given.

    ``fields`` name the request's fields in messages.
    """
    out = []
    for scope, text, what in (("baseline", baseline, fields[0]), ("canary", canary, fields[1])):
        if text is None or (isinstance(text, str) and not text.strip()):
            labels = dict(entry.config.scopes.get(scope) or {})
            if not labels:
                raise BadRequest(f"{what}: no scope given and config {entry.id} defines none; give label "
                                 f"matchers such as app=shop,version=v2")
            out.append(labels)
            continue
        try:
            out.append(parse_scope(text, entry.default_scope(scope), what))
        except ScopeError as e:
            raise BadRequest(str(e)) from None
    return out[0], out[1]


def check_variables(variables: Mapping[str, Any], what: str) -> dict[str, str]:
    out = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not LABEL_NAME.match(name) or name == "scope":
            raise BadRequest(f"{what}: {name!r} is not a variable name (letters, digits and _, not scope)")
        if isinstance(value, (dict, list)) or value is None:
            raise BadRequest(f"{what}.{name}: expected a string")
        out[name] = str(value)
    return out


def _source(job: Job, prometheus_url: str | None) -> SourceOptions:
    return SourceOptions(prometheus_url=prometheus_url or None, start=repr(job.start), end=repr(job.end),
                         step=repr(job.step) if job.step else None)


def _configured(entry: Entry, job: Job, prometheus_url: str | None) -> CanaryConfig:
    cfg = entry.config
    if not prometheus_url and not cfg.prometheus.url and cfg.collector is None:
        raise ServerConfigError(f"config {entry.id} has no prometheus.url (nor collector:) and the server was "
                                f"started without --prometheus-url")
    return cfg.with_overrides(scopes={"baseline": dict(job.baseline), "canary": dict(job.canary)},
                              variables={**cfg.variables, **job.variables},
                              thresholds=job.thresholds or cfg.thresholds)


def prepare(entry: Entry, job: Job, prometheus_url: str | None) -> CanaryConfig:
    """The config the job runs with, its collector opened once (no network: every query is expanded);
    ``BadRequest`` when the request cannot be run."""
    from analysis.runs.source import open_source

    if not (job.end > job.start):
        raise BadRequest("end must be after start")
    cfg = _configured(entry, job, prometheus_url)
    try:
        with open_source(cfg, _source(job, prometheus_url)) as opened:
            cfg = opened.config
    except CanaryError as e:  # a query the request's scopes and variables cannot complete, a bad step
        raise BadRequest(str(e)) from None
    if (job.end - job.start) / cfg.prometheus.step > 11_000:
        raise BadRequest(f"the window holds more than 11000 steps of {cfg.prometheus.step:g}s (Prometheus' limit); "
                         f"use a longer step")
    return cfg


def run(entry: Entry, job: Job, prometheus_url: str | None) -> AnalysisResult:
    """Collect and judge ``job`` through ``analysis.runs.analyze`` (``BadRequest`` / ``ServerConfigError`` as
    ``prepare``)."""
    from analysis.runs.analyze import analyze_source

    prepare(entry, job, prometheus_url)
    return analyze_source(_configured(entry, job, prometheus_url), _source(job, prometheus_url),
                          now=float(int(time.time())))


def fail_closed_score(result: AnalysisResult) -> float:
    """The score to show: 0 when no verdict was reached, so no client can read a passing score from it."""
    if result.verdict in NO_VERDICT:
        return 0.0
    score = result.score
    return score if math.isfinite(score) else 0.0


def result_document(result: AnalysisResult) -> dict[str, Any]:
    """``canary analyze --json`` without series, with the fail-closed score (the web provider's and Flagger's body)."""
    doc = result.to_dict(include_data=False)
    shown = fail_closed_score(result)
    if shown != doc["score"]:
        doc["score_without_verdict"] = doc["score"]
        doc["score"] = shown
    return doc


def explain(result: AnalysisResult) -> str:
    """The verdict's reason on one line, with the first metric errors (e.g. the collector's message) when the
    run reached no verdict."""
    text = result.reason
    if result.verdict in NO_VERDICT:
        errors = [m.reason for m in result.metrics if m.classification.value == "error" and m.reason][:3]
        if errors:
            text += " (" + "; ".join(errors) + ")"
    return " ".join(text.split())


def one_line(result: AnalysisResult) -> str:
    """``FAIL score 0/100: critical metric error_ratio failed``: the halt reason Flagger shows."""
    return f"{result.verdict.value.upper()} score {fail_closed_score(result):g}/100: {explain(result)}"
