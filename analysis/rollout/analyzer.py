"""The analysis a rollout runs at each stage: the config's metrics from its collector over the stage's windows.

The baseline and the canary are usually judged over one window. Blue-green's post-promotion analysis judges
green after the switch against blue before it, so the two scopes are fetched over two windows and paired.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from analysis.config import CanaryConfig
from analysis.series import SamplePair, Window

MIN_POINTS = 20


def query_step(config: CanaryConfig, interval: float) -> float:
    """``prometheus.step``, made finer when it would give fewer than ``MIN_POINTS`` points per analysis interval
    (never below 1 s, Prometheus' usual scrape resolution): a 60 s step over a 20 s step window is one point."""
    return min(config.prometheus.step, max(1.0, interval / MIN_POINTS))


def _side(pair: SamplePair, scope: str) -> str | None:
    """The error of one side; a collector that only gives a summary (``error``) fails both sides with it."""
    if pair.errors:
        return pair.side_error(scope)
    return pair.error


def pair_windows(baseline: dict[str, SamplePair], canary: dict[str, SamplePair]) -> dict[str, SamplePair]:
    """Baseline series from one collection and canary series from another, per metric."""
    out = {}
    for name, b in baseline.items():
        c = canary.get(name)
        if c is None:
            out[name] = dataclasses.replace(b, error="the collector returned nothing for the canary window")
            continue
        paired = SamplePair.of(name, b.baseline, c.canary, _side(b, "baseline"), _side(c, "canary"),
                               notes=tuple(n for n in b.notes if n.startswith("baseline"))
                               + tuple(n for n in c.notes if n.startswith("canary")))
        out[name] = paired
    return out


def make_analyzer(config: CanaryConfig, collector: Any) -> Callable[[Window, Window], Any]:
    """``analyze(baseline_window, canary_window) -> AnalysisResult`` with ``collector`` (any ``Collector``)."""
    from analysis.pipeline import judge_pairs

    def analyze(baseline: Window, canary: Window):
        if baseline == canary:
            pairs = collector.collect(config.metrics, canary)
        else:
            pairs = pair_windows(collector.collect(config.metrics, baseline),
                                 collector.collect(config.metrics, canary))
        return judge_pairs(config, pairs, canary)

    return analyze


def source_analyzer(config: CanaryConfig) -> Callable[[Window, Window], Any]:
    """The analyzer for ``canary rollout``: the config's collector (Prometheus unless ``collector:`` names
    another), with Prometheus queried at ``query_step``. A missing or bad source is a config error before any
    weight moves."""
    from analysis.collectors import open_collector

    step = query_step(config, config.rollout.interval)
    cfg = config.with_overrides(prometheus=dataclasses.replace(config.prometheus, step=step))
    chosen = cfg.collector
    collector = open_collector(chosen.name if chosen else "prometheus", cfg, chosen.options if chosen else {})
    return make_analyzer(cfg, collector)
