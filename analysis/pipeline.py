"""The one place where the arrows live: config -> collect -> judge -> score -> verdict -> result."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Mapping

import numpy as np

from judges import Classification, Judgement, JudgeParams, Statistics, get_plugin

from analysis.decision import scoring, verdict
from analysis.collectors import Collector
from analysis.config import CanaryConfig, MetricConfig
from analysis.results import AnalysisResult, MetricResult
from analysis.series import SamplePair, Series, Window

Progress = Callable[[int, int, str], None]
# judges that read baseline and canary step by step
ALIGNED_JUDGES = ("sequential-mean", "sequential-rate")
# outcomes of a critical metric that zero the score like a critical failure: nothing shown within the allowed effect
_OPEN = (Classification.INCONCLUSIVE, Classification.NODATA)


def engine_version() -> str:
    from analysis.version import __version__

    return __version__


def _judge_one(m: MetricConfig, pair: SamplePair, pairs: Mapping[str, SamplePair]) -> Judgement:
    params: JudgeParams = m.params
    if pair.error:
        return Judgement(Classification.ERROR, f"{m.name}: {pair.error}", critical=m.critical,
                         statistics=Statistics(n_baseline=len(pair.baseline), n_canary=len(pair.canary)))
    if m.denominator is not None:
        den = pairs.get(m.denominator)
        if den is None or den.error:
            why = den.error if den is not None else "the collector returned nothing"
            return Judgement(Classification.ERROR, f"{m.name}: denominator {m.denominator} failed: {why}",
                             critical=m.critical)
        params = dataclasses.replace(params, options={**params.options,
                                                      "baseline_denominator": den.baseline.values,
                                                      "canary_denominator": den.canary.values})
    try:
        return get_plugin(m.judge).judge(pair.baseline.values, pair.canary.values, params)
    except Exception as e:  # a judge bug must fail closed, never pass
        return Judgement(Classification.ERROR, f"Classification of {m.name} failed: {type(e).__name__}: {e}",
                         critical=m.critical)


def _judge_batches(config: CanaryConfig, pairs: Mapping[str, SamplePair]) -> dict[str, Judgement]:
    """Judgements of the metrics whose judge module also offers ``judge_many`` (equal, metric by metric, to its
    ``judge``), in one call per judge: at Prometheus sizes the per-call overhead dominates the judging time."""
    groups: dict[str, list[MetricConfig]] = {}
    for m in config.metrics:
        pair = pairs.get(m.name)
        if pair is not None and not pair.error and m.denominator is None:
            groups.setdefault(m.judge, []).append(m)
    out: dict[str, Judgement] = {}
    for name, ms in groups.items():
        try:
            many = get_plugin(name).judge_many
        except KeyError:
            continue
        if many is None or len(ms) < 2:
            continue
        try:
            judgements = many([pairs[m.name].baseline.values for m in ms], [pairs[m.name].canary.values for m in ms],
                              [m.params for m in ms])
        except Exception:  # judged one by one instead, where a failure becomes that metric's error
            continue
        out.update(zip((m.name for m in ms), judgements))
    return out


def _restrict(s: Series, keep: np.ndarray) -> Series:
    mask = np.isin(s.timestamps, keep)
    return dataclasses.replace(s, timestamps=s.timestamps[mask], values=s.values[mask])


def align(pairs: Mapping[str, SamplePair], metrics: Iterable[MetricConfig]) -> dict[str, SamplePair]:
    """Each pair restricted to the timestamps both scopes have (and, for a metric with a denominator, that the
    denominator has in both scopes too), so sequential judges can read them look by look."""
    out = dict(pairs)
    for m in metrics:
        p = pairs.get(m.name)
        if p is None or p.error:
            continue
        keep = np.intersect1d(p.baseline.timestamps, p.canary.timestamps)
        den = pairs.get(m.denominator) if m.denominator else None
        if den is not None and not den.error:
            keep = np.intersect1d(keep, np.intersect1d(den.baseline.timestamps, den.canary.timestamps))
        out[m.name] = dataclasses.replace(p, baseline=_restrict(p.baseline, keep), canary=_restrict(p.canary, keep))
    return out


def judge_pairs(config: CanaryConfig, pairs: Mapping[str, SamplePair], window: Window | None,
                progress: Progress | None = None, warnings: tuple[str, ...] = (),
                defer: Callable[[MetricResult], MetricResult] | None = None) -> AnalysisResult:
    """Judge already-collected pairs and score them (used by ``analyze`` and by interval runs). ``defer`` may
    rewrite each metric result before scoring (``watch`` defers judges that are not anytime-valid)."""
    # judges that pair steps must see the same timestamps on both sides, never positions (a canary that starts
    # 10 minutes later would otherwise be compared with another time of the baseline)
    pairs = align(pairs, [m for m in config.metrics if m.judge in ALIGNED_JUDGES])
    results = []
    total = len(config.metrics)
    batched = _judge_batches(config, pairs)
    for i, m in enumerate(config.metrics):
        pair = pairs.get(m.name) or SamplePair(m.name, Series.empty(), Series.empty(),
                                               error="the collector returned nothing")
        judgement = batched.get(m.name) or _judge_one(m, pair, pairs)
        query = {s: p.query for s, p in (("baseline", pair.baseline), ("canary", pair.canary)) if p.query}
        results.append(MetricResult(
            name=m.name, group=m.group, judge=m.judge, judgement=judgement, critical_metric=m.critical,
            must_have_data=m.must_have_data, muted=m.muted, direction=m.params.direction.value, query=query,
            warnings=pair.warnings() + _judge_warnings(judgement)))
        if progress is not None:
            progress(i + 1, total, m.name)
    if defer is not None:
        results = [defer(r) for r in results]
    return finish(config, tuple(results), window, dict(pairs), warnings)


def finish(config: CanaryConfig, results: tuple[MetricResult, ...], window: Window | None,
           pairs: Mapping[str, SamplePair], warnings: tuple[str, ...] = ()) -> AnalysisResult:
    """Score and decide a set of metric results, after Holm's correction across the gating metrics (if on), which
    judges them again at its step-down levels from ``pairs`` (``analysis.decision.family``)."""
    if config.holm:
        from analysis.decision.family import holm_by_level

        by_name = {m.name: m for m in config.metrics}

        def rejudge(i: int, confidence: float) -> Judgement:
            m = by_name[results[i].name]
            m = dataclasses.replace(m, params=dataclasses.replace(m.params, confidence=confidence))
            pair = pairs.get(m.name) or SamplePair(m.name, Series.empty(), Series.empty(),
                                                   error="the collector returned nothing")
            return _judge_one(m, pair, pairs)

        results = holm_by_level(results, config.alpha,
                                [by_name[r.name].params.confidence if r.name in by_name else 1.0 for r in results],
                                rejudge)
    scored = [scoring.Scored(r.name, r.group, r.classification, r.critical_metric, r.must_have_data, r.muted,
                             r.judgement.critical or (r.critical_metric and r.classification in _OPEN))
              for r in results]
    critical_failures = [r.name for r in results if r.critical and not r.muted]
    s, v = verdict.decide_run(scored, critical_failures, config.group_weights, config.thresholds)
    few = [r.name for r in results if r.name in pairs and pairs[r.name].few_points()]
    if few:
        warnings = warnings + (f"{len(few)} metric(s) returned fewer than 50 data points, which reduces confidence "
                               f"in the score: {', '.join(few[:5])}",)
    return AnalysisResult(config_name=config.name, window=window, metrics=results, scores=s, decision=v,
                          thresholds=config.thresholds, engine_version=engine_version(), warnings=warnings,
                          pairs=pairs)


def _judge_warnings(j: Judgement) -> tuple[str, ...]:
    out = []
    for scope in ("baseline", "canary"):
        n = j.statistics.extra.get(f"n_outliers_{scope}", 0) or 0
        if n:
            out.append(f"{int(n)} {scope} outliers removed")
    return tuple(out)


def analyze(config: CanaryConfig, collector: Collector, window: Window | None = None,
            progress: Progress | None = None) -> AnalysisResult:
    """Collect every metric of ``config`` for ``window`` from ``collector``, judge, score and decide.

    A metric the collector could not fetch becomes an ``error`` result, and the verdict fails closed.
    """
    if window is None and hasattr(collector, "window"):
        window = collector.window()
    pairs = collector.collect(config.metrics, window)
    return judge_pairs(config, pairs, window, progress)
