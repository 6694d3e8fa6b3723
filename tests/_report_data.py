"""Results for the report tests: the demo scenarios, a hostile one, and a large synthetic one (seeded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis import AnalysisResult, SamplePair, Series, Window, analyze_file, judge_pairs, parse_config

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo"
T0 = 1767225600.0

# Names, labels and queries that would break out of HTML, attributes, Markdown tables or XML if not escaped.
HOSTILE_NAMES = (
    '<script>window.PWNED="name"</script>',
    "quote\"s and 'apostrophes' & ampersands",
    "</style><img src=x onerror=\"window.PWNED='img'\">",
    "λ-latência-延迟-🚀 \u202eRTL",
    "pipe | star * under_score `tick` [link](https://evil.example/x)",
)
HOSTILE_QUERY = 'rate(x{job="<script>window.PWNED=1</script>",path=~"a|b"}[1m]) > 0 & "quoted" \'single\''
HOSTILE_LABELS = {"pod": '"><script>window.PWNED="label"</script>', "zone": "eu-west-1 & <b>bold</b>",
                  "url": "https://evil.example/track.png"}


def demo_config(judge: str = "kayenta"):
    import yaml

    data = yaml.safe_load((DEMO / "canary.yaml").read_text())
    data["defaults"] = {"judge": judge}
    for m in data["metrics"]:
        if m.get("judge") == "threshold":
            m["judge"] = judge
            for k in ("statistic", "max_ratio"):
                m.pop(k, None)
    return parse_config(data, "demo.yaml")


def demo_result(scenario: str = "regression") -> AnalysisResult:
    return analyze_file(demo_config(), DEMO / f"{scenario}.csv")


def _series(rng: np.random.Generator, n: int, loc: float, scale: float, query: str = "",
            labels: dict | None = None, nan: int = 0, gap: bool = False) -> Series:
    ts = T0 + 15.0 * np.arange(n)
    if gap:
        ts = np.concatenate([ts[: n // 2], ts[n // 2:] + 600.0])
    vs = rng.normal(loc, scale, n)
    if nan:
        vs[rng.choice(n, nan, replace=False)] = np.nan
    return Series(ts, vs, query, labels or {}, missing=40 if gap else 0)


def hostile_result() -> AnalysisResult:
    """Five metrics with hostile names, groups, queries and labels: failing, passing, few points, NaN, gaps."""
    rng = np.random.default_rng(7)
    metrics = []
    for i, name in enumerate(HOSTILE_NAMES):
        metrics.append({"name": name, "judge": "kayenta", "group": f"<g{i % 2}> & \"grp\"",
                        "direction": "increase", "critical": i == 0, "nan_strategy": "remove",
                        "outliers": {"strategy": "remove"} if i == 3 else {"strategy": "keep"}})
    cfg = parse_config({"name": '<script>window.PWNED="config"</script> & co', "metrics": metrics}, "hostile.yaml")
    pairs = {}
    for i, name in enumerate(HOSTILE_NAMES):
        n = 30 if i == 2 else 240
        shift = 25.0 if i in (0, 1) else 0.0
        pairs[name] = SamplePair(
            name,
            _series(rng, n, 100.0, 5.0, HOSTILE_QUERY.replace("x{", "base{"), HOSTILE_LABELS, nan=5 * (i == 3)),
            _series(rng, n, 100.0 + shift, 5.0, HOSTILE_QUERY, HOSTILE_LABELS, gap=i == 4))
    return judge_pairs(cfg, pairs, Window(T0, T0 + 3600.0))


def big_result(n_metrics: int = 200, n_points: int = 360, seed: int = 1, groups: int = 5,
               prefix: str = "svc") -> AnalysisResult:
    """``n_metrics`` kayenta metrics over ``n_points`` per side in ``groups`` groups; about one in ten shifted
    upwards."""
    rng = np.random.default_rng(seed)
    metrics = [{"name": f"{prefix}_{i:03d}_latency_ms", "judge": "kayenta", "group": f"group{i % groups}",
                "direction": "increase", "query": f'histogram_quantile(0.99, rate(h{{metric="{i}"}}[1m]))'}
               for i in range(n_metrics)]
    cfg = parse_config({"name": "big", "metrics": metrics}, "big.yaml")
    pairs = {}
    for i, m in enumerate(metrics):
        shift = 12.0 if i % 10 == 3 else 0.0
        pairs[m["name"]] = SamplePair(m["name"], _series(rng, n_points, 100.0, 8.0, m["query"]),
                                      _series(rng, n_points, 100.0 + shift, 8.0, m["query"]))
    return judge_pairs(cfg, pairs, Window(T0, T0 + 15.0 * n_points))


def mixed_result() -> AnalysisResult:
    """One metric per judge kind: rate (ratio scale), mann-whitney, threshold (value scale), sequential-mean, a
    muted metric and a must-have-data metric without canary data."""
    rng = np.random.default_rng(11)
    n = 240
    ts = T0 + 15.0 * np.arange(n)
    metrics = [
        {"name": "errors", "judge": "rate", "denominator": "requests", "group": "errors", "direction": "increase"},
        {"name": "requests", "judge": "mann-whitney", "group": "traffic", "muted": True},
        {"name": "latency_p99_ms", "judge": "mann-whitney", "group": "latency", "direction": "increase"},
        {"name": "memory_mb", "judge": "threshold", "statistic": "max", "max_ratio": 1.2, "upper": 900,
         "group": "saturation", "direction": "increase"},
        {"name": "cpu", "judge": "sequential-mean", "group": "saturation"},
        {"name": "empty_metric", "judge": "mann-whitney", "group": "latency", "must_have_data": True},
    ]
    cfg = parse_config({"name": "mixed-judges", "metrics": metrics}, "mixed.yaml")

    def s(values, query=""):
        return Series(ts, np.asarray(values, dtype=float), query)

    q = 'sum(increase(http_requests_total{{code=~"5..",version="{}"}}[15s]))'
    pairs = {
        "errors": SamplePair("errors", s(rng.poisson(0.5, n), q.format("baseline")),
                             s(rng.poisson(1.5, n), q.format("canary"))),
        "requests": SamplePair("requests", s(rng.poisson(200, n)), s(rng.poisson(200, n))),
        "latency_p99_ms": SamplePair("latency_p99_ms", s(rng.normal(480, 30, n)), s(rng.normal(490, 30, n))),
        "memory_mb": SamplePair("memory_mb", s(rng.normal(800, 5, n)),
                                s(np.linspace(800, 990, n) + rng.normal(0, 3, n))),
        "cpu": SamplePair("cpu", s(rng.normal(0.45, 0.02, n)), s(rng.normal(0.45, 0.02, n))),
        "empty_metric": SamplePair("empty_metric", s(rng.normal(1, 0.1, n)), Series(np.zeros(0), np.zeros(0))),
    }
    return judge_pairs(cfg, pairs, Window(ts[0], ts[-1]))


def odd_result() -> AnalysisResult:
    """A saved result with everything odd a hidden file might hold: empty, all-NaN, single-point, constant and
    enormous series, unbreakable 300-character names and queries, NaN statistics, reversed thresholds, a
    half-open window and an unknown judge with an inverted band."""
    from analysis.results.io import result_from_dict

    long = "x" * 300
    ts = [T0 + 15.0 * i for i in range(5)]

    def metric(name, cls, data=None, **stats):
        d = {"name": name, "classification": cls, "group": long if name == "long" else "odd",
             "judge": stats.pop("judge", "mann-whitney"), "reason": f"{name}: {cls}",
             "statistics": {"n_baseline": 5, "n_canary": 5, **stats}, "query": {"canary": long + "{a=\"b\"}"}}
        if data is not None:
            d["data"] = data
        return d

    series = lambda vs, tss=None: {"timestamps": tss or ts[:len(vs)], "values": vs}  # noqa: E731
    metrics = [
        metric("empty", "nodata", {"baseline": series([]), "canary": series([])}),
        metric("all-nan", "nodata", {"baseline": series([None] * 5), "canary": series([None] * 5)}),
        metric("single", "pass", {"baseline": series([1.0]), "canary": series([2.0])}, estimate=1.0),
        metric("constant", "pass", {"baseline": series([3.0] * 5), "canary": series([3.0] * 5)},
               estimate=0.0, ci_lower=0.0, ci_upper=0.0, extra={"bound": 0.0}),
        metric("huge", "high", {"baseline": series([-1.7e308, 1.7e308]), "canary": series([1e308, 1.7e308])},
               estimate=1.7e308, ci_lower=-1.7e308, ci_upper=1.7e308, extra={"bound": 1e308}),
        metric("inverted", "pass", {"baseline": series([1.0, 2.0])}, judge="custom", estimate=1.0, ci_lower=2.0,
               ci_upper=0.5, extra={"band_lower": 3.0, "band_upper": -3.0, "note": "text is ignored"}),
        metric("long", "high", None, estimate=float("nan")),
        metric(long, "error", None),
    ]
    return result_from_dict({"verdict": "error", "reason": long, "score": None,
                             "thresholds": {"pass": 50.0, "marginal": 90.0}, "groups": {long: 0.0, "odd": None},
                             "window": {"start": "2026-01-01T00:00:00Z", "end": None}, "metrics": metrics},
                            "odd.json")
