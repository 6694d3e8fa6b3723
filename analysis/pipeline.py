"""The one place where the arrows live: config -> collect -> judge -> score -> verdict -> result."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from judges import Classification, Judgement, JudgeParams, JudgePlugin, Statistics, get_plugin

from analysis.decision import scoring, verdict
from analysis.collectors import Collector
from analysis.config import CanaryConfig, MetricConfig
from analysis.results import AnalysisResult, MetricResult
from analysis.series import SOURCE_WARNING, SamplePair, Series, Window, align

Progress = Callable[[int, int, str], None]
# judges that read baseline and canary step by step
ALIGNED_JUDGES = ("sequential-mean", "sequential-rate")
# outcomes of a critical metric that zero the score like a critical failure: nothing shown within the allowed effect
_OPEN = (Classification.INCONCLUSIVE, Classification.NODATA)
# judge -> (metric name -> row, rows of (estimate, points)): the release's pooled nuisance estimates (release_pool)
Pool = Mapping[str, tuple[Mapping[str, int], np.ndarray]]


def engine_version() -> str:
    from analysis.version import __version__

    return __version__


def _judge_one(m: MetricConfig, pair: SamplePair, pairs: Mapping[str, SamplePair],
               pool: Pool | None = None) -> Judgement:
    params: JudgeParams = m.params
    if pair.error:
        return Judgement(Classification.ERROR, f"{m.name}: {pair.error}", critical=m.critical,
                         statistics=Statistics(n_baseline=len(pair.baseline), n_canary=len(pair.canary)))
    if m.denominator is not None:
        den = pairs.get(m.denominator)
        if den is not None and not den.error and _infinite(den):
            return Judgement(Classification.ERROR, f"{m.name}: denominator {m.denominator} has infinite values",
                             critical=m.critical)
        if den is None or den.error:
            why = den.error if den is not None else "the collector returned nothing"
            return Judgement(Classification.ERROR, f"{m.name}: denominator {m.denominator} failed: {why}",
                             critical=m.critical)
        params = dataclasses.replace(params, options={**params.options,
                                                      "baseline_denominator": den.baseline.values,
                                                      "canary_denominator": den.canary.values})
    try:
        plugin = get_plugin(m.judge)
        params = _aligned(params, plugin, pair)
        if plugin.pool is not None and pool and m.judge in pool:
            rows, values = pool[m.judge]
            row = rows.get(m.name)
            peers = values if row is None else np.delete(values, row, axis=0)
            params = dataclasses.replace(params, options={**params.options, "peers": peers})
        return plugin.judge(pair.baseline.values, pair.canary.values, params)
    except Exception as e:  # a judge bug must fail closed, never pass
        return Judgement(Classification.ERROR, f"Classification of {m.name} failed: {type(e).__name__}: {e}",
                         critical=m.critical)


def release_pool(metrics: Iterable[MetricConfig], pairs: Mapping[str, SamplePair]) -> Pool:
    """Per judge that pools a nuisance estimate across the release (``JudgePlugin.pool``; the ``paired`` judge's
    residual autocorrelation): the metrics that have one (collected, finite, judged with data), as
    ``(name -> row, rows of (value, n))``. Each metric then sees the other rows (``options["peers"]``)."""
    found: dict[str, tuple[list[str], list[tuple[float, float]]]] = {}
    for m in metrics:
        pair = pairs.get(m.name)
        if pair is None or not _plain(m, pair):
            continue
        try:
            plugin = get_plugin(m.judge)
            if plugin.pool is None:
                continue
            value = plugin.pool(pair.baseline.values, pair.canary.values, _aligned(m.params, plugin, pair))
            if value is None:
                continue
            est, points = (float(x) for x in value)  # exactly two numbers, or this metric stays out
        except Exception:  # the metric's own judgement reports the problem; it only stays out of the pool
            continue
        if math.isfinite(est) and math.isfinite(points):
            names, values = found.setdefault(m.judge, ([], []))
            names.append(m.name)
            values.append((est, points))
    return {judge: ({name: i for i, name in enumerate(names)}, np.array(values, dtype=float).reshape(-1, 2))
            for judge, (names, values) in found.items()}


def _aligned(params: JudgeParams, plugin: JudgePlugin, pair: SamplePair) -> JudgeParams:
    """``params`` with the scopes' timestamp alignment in its options when the judge pairs them: a paired judge
    compares the two scopes timestamp by timestamp, never by position."""
    if not plugin.paired:
        return params
    return dataclasses.replace(params, options={**params.options, **align(pair.baseline, pair.canary).options()})


def _plain(m: MetricConfig, pair: SamplePair) -> bool:
    """Collected without error, finite, no denominator: a metric a batched or pooling judge reads on its own."""
    return not pair.error and m.denominator is None and not _infinite(pair)


def _infinite(pair: SamplePair) -> dict[str, int]:
    """Infinite values per scope (only the scopes that have some)."""
    out = {}
    for scope, s in (("baseline", pair.baseline), ("canary", pair.canary)):
        n = int(np.isinf(s.values).sum()) if len(s) else 0
        if n:
            out[scope] = n
    return out


def _nonfinite(m: MetricConfig, pair: SamplePair) -> Judgement | None:
    """The metric's outcome when its data holds infinities (PromQL's x/0, a number too large for a float).

    Policy ``nonfinite`` per metric: ``error`` (default; no verdict, the run fails closed) or ``fail`` (the metric
    fails: high when the canary has +inf or the baseline -inf, else low). Never a pass: an infinite value makes a
    tolerance bound infinite, which every canary value then satisfies.
    """
    counts = _infinite(pair)
    if not counts:
        return None
    where = ", ".join(f"{scope} has {n} infinite value(s)" for scope, n in counts.items())
    stats = Statistics(n_baseline=len(pair.baseline), n_canary=len(pair.canary))
    if m.nonfinite == "fail":
        up = bool(np.isposinf(pair.canary.values).any() or np.isneginf(pair.baseline.values).any())
        return Judgement(Classification.HIGH if up else Classification.LOW,
                         f"{m.name}: {where} (nonfinite: fail)", critical=m.critical, statistics=stats)
    return Judgement(Classification.ERROR, f"{m.name}: {where}; an infinite value cannot be judged "
                                           f"(nonfinite: error; e.g. a ratio divided by zero)",
                     critical=m.critical, statistics=stats)


def _same_series(pair: SamplePair) -> bool:
    """Both scopes hold the same samples (timestamps and values, NaN included)."""
    b, c = pair.baseline, pair.canary
    return len(b) > 0 and len(b) == len(c) and np.array_equal(b.timestamps, c.timestamps) and \
        np.array_equal(b.values, c.values, equal_nan=True)


def _judge_batches(config: CanaryConfig, pairs: Mapping[str, SamplePair]) -> dict[str, Judgement]:
    """Judgements of the metrics whose judge module also offers ``judge_many`` (equal, metric by metric, to its
    ``judge``), in one call per judge: at Prometheus sizes the per-call overhead dominates the judging time."""
    groups: dict[str, list[MetricConfig]] = {}
    for m in config.metrics:
        pair = pairs.get(m.name)
        if pair is not None and _plain(m, pair):
            groups.setdefault(m.judge, []).append(m)
    out: dict[str, Judgement] = {}
    for name, ms in groups.items():
        try:
            plugin = get_plugin(name)
        except KeyError:
            continue
        many = plugin.judge_many
        if many is None or len(ms) < 2 or plugin.pool is not None:  # pooled judges see their peers
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


def align_pairs(pairs: Mapping[str, SamplePair], metrics: Iterable[MetricConfig]) -> dict[str, SamplePair]:
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
    pairs = align_pairs(pairs, [m for m in config.metrics if m.judge in ALIGNED_JUDGES])
    results = []
    total = len(config.metrics)
    batched = _judge_batches(config, pairs)
    pool = release_pool(config.metrics, pairs)
    for i, m in enumerate(config.metrics):
        pair = pairs.get(m.name) or SamplePair(m.name, Series.empty(), Series.empty(),
                                               error="the collector returned nothing")
        judgement = (None if pair.error else _nonfinite(m, pair)) or batched.get(m.name) \
            or _judge_one(m, pair, pairs, pool)
        if not pair.error and pair.baseline.labels and pair.baseline.labels == pair.canary.labels \
                and _same_series(pair):
            judgement = Judgement(Classification.ERROR, f"{m.name}: baseline and canary are the same series "
                                                        f"(labels {dict(pair.baseline.labels)}); check the scopes",
                                  critical=m.critical, statistics=judgement.statistics)
        query = {s: p.query for s, p in (("baseline", pair.baseline), ("canary", pair.canary)) if p.query}
        results.append(MetricResult(
            name=m.name, group=m.group, judge=m.judge, judgement=judgement, critical_metric=m.critical,
            must_have_data=m.must_have_data, muted=m.muted, direction=m.params.direction.value, query=query,
            warnings=pair.warnings() + _judge_warnings(judgement)))
        if progress is not None:
            progress(i + 1, total, f"judged {m.name}")
    if defer is not None:
        results = [defer(r) for r in results]
    source = tuple(dict.fromkeys(f"{name}: {n}" for name, p in pairs.items() for n in p.notes
                                 if SOURCE_WARNING in n))
    return finish(config, tuple(results), window, dict(pairs), warnings + source, pool)


def _identical_run(config: CanaryConfig, pairs: Mapping[str, SamplePair]) -> bool:
    """Every judged metric has the same samples on both sides, and nothing shows they are different series: their
    labels are equal (or unknown, as in file data and aggregated queries) and so are their queries (or unknown):
    the scopes almost surely select one series. Distinct series with equal values (a deterministic A/A pair,
    labels v1 and v2; zero errors on both sides of an aggregated query with other scope matchers) are judged as
    usual."""
    judged = [pairs[m.name] for m in config.metrics
              if not m.muted and m.name in pairs and not pairs[m.name].error and len(pairs[m.name].baseline)]
    return bool(judged) and all(_same_series(p) and dict(p.baseline.labels) == dict(p.canary.labels)
                                and p.baseline.query == p.canary.query for p in judged)


def finish(config: CanaryConfig, results: tuple[MetricResult, ...], window: Window | None,
           pairs: Mapping[str, SamplePair], warnings: tuple[str, ...] = (),
           pool: Pool | None = None) -> AnalysisResult:
    """Score and decide a set of metric results, after Holm's correction across the gating metrics (if on), which
    judges them again at its step-down levels from ``pairs`` (``analysis.decision.family``)."""
    if config.holm:
        from analysis.decision.family import holm_by_level

        if pool is None:  # the rejudged metrics see the same peers as their first judgement
            pool = release_pool(config.metrics, pairs)

        by_name = {m.name: m for m in config.metrics}

        def rejudge(i: int, confidence: float) -> Judgement:
            m = by_name[results[i].name]
            m = dataclasses.replace(m, params=dataclasses.replace(m.params, confidence=confidence))
            pair = pairs.get(m.name) or SamplePair(m.name, Series.empty(), Series.empty(),
                                                   error="the collector returned nothing")
            return _judge_one(m, pair, pairs, pool)

        results = holm_by_level(results, config.alpha,
                                [by_name[r.name].params.confidence if r.name in by_name else 1.0 for r in results],
                                rejudge)
    scored = [scoring.Scored(r.name, r.group, r.classification, r.critical_metric, r.must_have_data, r.muted,
                             r.judgement.critical or (r.critical_metric and r.classification in _OPEN))
              for r in results]
    critical_failures = [r.name for r in results if r.critical and not r.muted]
    s, v = verdict.decide_run(scored, critical_failures, config.group_weights, config.thresholds)
    if v.verdict in (verdict.Verdict.PASS, verdict.Verdict.MARGINAL) and _identical_run(config, pairs):
        v = verdict.Decision(verdict.Verdict.ERROR,
                            "baseline and canary data are identical for every metric: the scopes select the same "
                            "series, so nothing was compared (check scopes and queries)")
    if v.verdict in (verdict.Verdict.NODATA, verdict.Verdict.ERROR):
        # no verdict, no passing score: a client that reads only the score (Argo's kayenta provider) must not
        # promote; the groups keep their scores, the override says why the run's score is 0
        s = scoring.Score(0.0, s.groups, s.groups_nodata, f"no verdict ({v.verdict.value}): {v.reason}", s.total)
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


def collect(collector: Collector, metrics: Sequence[MetricConfig], window: Window | None,
            progress: Progress | None = None) -> dict[str, SamplePair]:
    """``collector.collect(metrics, window)``; with ``progress``, in slices of metrics so it can be told as
    ``progress(done, total, "fetched NAME")`` (each slice still fetched concurrently by the collector)."""
    if progress is None or len(metrics) < 2:
        return dict(collector.collect(metrics, window))
    size = max(4, math.ceil(len(metrics) / 50))
    pairs: dict[str, SamplePair] = {}
    for i in range(0, len(metrics), size):
        part = metrics[i:i + size]
        pairs.update(collector.collect(part, window))
        progress(min(i + size, len(metrics)), len(metrics), f"fetched {part[-1].name}")
    return pairs


def analyze(config: CanaryConfig, collector: Collector, window: Window | None = None,
            progress: Progress | None = None) -> AnalysisResult:
    """Collect every metric of ``config`` for ``window`` from ``collector``, judge, score and decide.

    A metric the collector could not fetch becomes an ``error`` result, and the verdict fails closed.
    ``progress(done, total, what)`` is told of each metric fetched, then of each judged.
    """
    if window is None and hasattr(collector, "window"):
        window = collector.window()
    pairs = collect(collector, config.metrics, window, progress)
    return judge_pairs(config, pairs, window, progress)
