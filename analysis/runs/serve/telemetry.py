"""``/metrics`` of ``canary serve``: Prometheus exposition through ``prometheus_client``, one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from analysis.results import AnalysisResult
from analysis.runs.serve.jobs import fail_closed_score

__all__ = ["Telemetry"]

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Telemetry:
    """The server's own metrics: verdicts by config and outcome, last score, analysis duration, collector errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.verdicts = Counter("canary_serve_verdicts", "Analyses finished, by config and verdict.",
                                ["config", "verdict"], registry=self.registry)
        self.score = Gauge("canary_serve_score", "Score of the config's last analysis (0 when it reached no "
                           "verdict).", ["config"], registry=self.registry)
        self.duration = Histogram("canary_serve_analysis_duration_seconds", "Time to collect, judge and score one "
                                  "analysis.", buckets=_BUCKETS, registry=self.registry)
        self.collector_errors = Counter("canary_serve_collector_errors", "Metrics whose data could not be fetched "
                                        "(per metric and analysis).", registry=self.registry)
        self.queued = Gauge("canary_serve_executions_queued", "Kayenta executions accepted and not finished.",
                            registry=self.registry)
        self.rejected = Counter("canary_serve_rejected", "Requests refused with 429 (too many analyses).",
                                registry=self.registry)

    def observe(self, config_id: str, result: AnalysisResult, seconds: float) -> None:
        self.verdicts.labels(config_id, result.verdict.value).inc()
        self.score.labels(config_id).set(fail_closed_score(result))
        self.duration.observe(seconds)
        errors = sum(1 for p in result.pairs.values() if p.error)
        if errors:
            self.collector_errors.inc(errors)

    def failed(self, config_id: str, seconds: float) -> None:
        """An analysis that raised before it had a result (counted as verdict error)."""
        self.verdicts.labels(config_id, "error").inc()
        self.score.labels(config_id).set(0.0)
        self.duration.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
