"""Scenario families of ``decision_quality.py`` for the paired default judge (issue 12): shared drift, mid-window step,
misaligned start, a 16-metric slow code path, a 3-point step with a catastrophic canary.

Each release is a set of metrics sampled on one-minute timestamps for both scopes and goes through the library's
own pipeline (``analysis.pipeline.judge_pairs``: timestamp alignment, the judge, the multiplicity step, the
verdict), once with the default config (no judge named: ``paired``) and once with ``judge: mann-whitney`` (the
previous default, unpaired). A paired oracle sits beside them: a t-test on the log ratios whose variance inflation
uses the true AR coefficient of the per-scope noise (unknowable in practice), Holm over the metrics at 0.05.

Generator: every metric is ``base * exp(load_k * L_t + cv_k * e_{scope,t})`` where ``L`` is a load signal both scopes
share (AR(1), phi 0.95, unit variance: slow swings of traffic) and ``e`` per-scope AR(1) noise at ``phi`` (Student
t(3) innovations for heavy-tailed metrics); queue depth is a Poisson count around that level (zeros happen, so it
is judged on plain differences).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from unittest import mock

import numpy as np

from analysis.config import parse_config
from analysis.pipeline import judge_pairs
from analysis.series import SamplePair, Series
from judges import Classification
from judges.autocorrelation import ar1_vif
from judges.multiplicity import holm

ALPHA = 0.05
CONFIDENCE = 0.98
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FLAGGED = (Classification.HIGH, Classification.LOW)


@dataclass(frozen=True)
class Spec:
    name: str
    base: float
    cv: float
    load: float
    heavy: bool = False
    direction: str = "increase"
    count: bool = False


# the 16 metrics of a service release; the first twelve are the smaller releases
SERVICE = (
    Spec("latency_p50_ms", 120.0, 0.05, 0.3),
    Spec("latency_p90_ms", 250.0, 0.07, 0.35),
    Spec("latency_p99_ms", 600.0, 0.12, 0.4, heavy=True),
    Spec("upstream_latency_ms", 40.0, 0.06, 0.3, heavy=True),
    Spec("db_latency_ms", 8.0, 0.08, 0.3, heavy=True),
    Spec("cpu_cores", 2.0, 0.05, 0.6),
    Spec("memory_mb", 800.0, 0.02, 0.05),
    Spec("gc_pause_ms", 15.0, 0.15, 0.3, heavy=True),
    Spec("queue_depth", 5.0, 0.2, 0.5, count=True),
    Spec("cache_hit_ratio", 0.9, 0.01, -0.02, direction="decrease"),
    Spec("search_latency_p90_ms", 300.0, 0.08, 0.35),
    Spec("search_latency_p99_ms", 700.0, 0.13, 0.4, heavy=True),
    Spec("checkout_latency_p90_ms", 400.0, 0.07, 0.35),
    Spec("checkout_latency_p99_ms", 900.0, 0.12, 0.4, heavy=True),
    Spec("threads", 120.0, 0.03, 0.2),
    Spec("heap_used_mb", 500.0, 0.04, 0.1),
)
SLOW_PATH = {s.name: 0.25 for s in SERVICE if s.name.endswith(("p90_ms", "p99_ms"))} | {"cpu_cores": 0.10}


def ar1(rng: np.random.Generator, phi: float, n: int, heavy: bool = False) -> np.ndarray:
    """Stationary AR(1) with unit variance (Student t(3) innovations when ``heavy``)."""
    e = rng.standard_t(3, n) / math.sqrt(3.0) if heavy else rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    s = math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + s * e[i]
    return x


def simulate(rng: np.random.Generator, specs: tuple[Spec, ...], n: int, phi: float | tuple[float, ...],
             effects: dict[str, float], start: int = 0, late: int = 0, drift: float = 1.0
             ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (baseline timestamps, baseline values, canary timestamps, canary values).

    ``phi``: the per-scope noise's AR coefficient, one for all metrics or one per metric; ``effects``: relative
    change of the canary per metric from point ``start`` on; ``late``: the canary's first ``late`` points are
    missing (it started later); ``drift`` scales the shared load signal.
    """
    load = drift * ar1(rng, 0.95, n)
    ts = T0 + 60.0 * np.arange(n)
    phis = phi if isinstance(phi, tuple) else (phi,) * len(specs)
    out = {}
    for s, p in zip(specs, phis, strict=True):
        arms = []
        for arm in (0, 1):
            level = s.base * np.exp(s.load * load + s.cv * ar1(rng, p, n, s.heavy))
            if arm and s.name in effects:
                level = level * np.where(np.arange(n) >= start, 1 + effects[s.name], 1.0)
            arms.append(rng.poisson(level).astype(float) if s.count else level)
        out[s.name] = (ts, arms[0], ts[late:], arms[1][late:])
    return out


def _config(specs: tuple[Spec, ...], judge: str | None):
    metrics = [{"name": s.name, "direction": s.direction, **({"judge": judge} if judge else {})} for s in specs]
    return parse_config({"name": "sim", "metrics": metrics}, "<benchmark>")


_CONFIGS: dict = {}


def run_pipeline(rel: dict, specs: tuple[Spec, ...], judge: str | None, pool: bool = True
                 ) -> tuple[dict[str, bool], bool]:
    """(name -> flagged high/low after the pipeline's multiplicity step, verdict is pass); ``pool=False``: each
    paired metric calibrated at its own autocorrelation estimate alone (the pipeline's release pool left empty)."""
    key = (tuple(s.name for s in specs), judge)
    config = _CONFIGS.get(key) or _CONFIGS.setdefault(key, _config(specs, judge))
    pairs = {name: SamplePair(name, Series(tb, b), Series(tc, c)) for name, (tb, b, tc, c) in rel.items()}
    if pool:
        result = judge_pairs(config, pairs, None)
    else:
        with mock.patch("analysis.pipeline.release_pool", return_value={}):
            result = judge_pairs(config, pairs, None)
    flagged = {m.name: m.classification in FLAGGED for m in result.metrics}
    return flagged, str(result.verdict) == "pass"


def oracle(rel: dict, specs: tuple[Spec, ...], phi: float) -> dict[str, bool]:
    """Paired t on the timestamp-matched differences with the true AR(1) variance inflation; Holm at ``ALPHA``."""
    from scipy.stats import t as student_t

    p, sign = [], []
    for s in specs:
        tb, b, tc, c = rel[s.name]
        _, ib, ic = np.intersect1d(tb, tc, return_indices=True)
        x, y = b[ib], c[ic]
        d = np.log(y) - np.log(x) if (x > 0).all() and (y > 0).all() else y - x
        n = d.size
        se = math.sqrt(d.var(ddof=1) * ar1_vif(phi, n) / n) if n > 1 else math.inf
        t = d.mean() / se if se > 0 else 0.0
        p.append(float(2 * student_t.sf(abs(t), max(n - 1, 1))))
        sign.append(t > 0 if s.direction == "increase" else t < 0)
    adj = holm(p)
    return {s.name: bool(adj[i] <= ALPHA and p[i] <= 1 - CONFIDENCE and sign[i]) for i, s in enumerate(specs)}


# --- families: (name, specs, n, phi, effects, start, late, drift) ---------------------------------------------------

def families() -> list[tuple]:
    """Every (family, scenario) cell: A/A and the regression each family is about."""
    twelve = SERVICE[:12]
    p50 = {"latency_p50_ms": 0.25}
    return [
        ("shared drift", "A/A", twelve, 60, 0.5, {}, 0, 0, 1.0),
        ("shared drift", "p50 +25 %", twelve, 60, 0.5, p50, 0, 0, 1.0),
        ("shared drift", "p50 +10 %", twelve, 60, 0.5, {"latency_p50_ms": 0.10}, 0, 0, 1.0),
        ("AR noise, 30 points", "A/A", twelve, 30, 0.5, {}, 0, 0, 0.3),
        ("AR noise, 30 points", "p50 +20 %", twelve, 30, 0.5, {"latency_p50_ms": 0.20}, 0, 0, 0.3),
        ("AR noise phi 0.8", "A/A", twelve, 60, 0.8, {}, 0, 0, 1.0),
        ("mid-window step", "A/A", twelve, 60, 0.5, {}, 0, 0, 1.0),
        ("mid-window step", "p50 +30 % from minute 30", twelve, 60, 0.5, {"latency_p50_ms": 0.30}, 30, 0, 1.0),
        ("misaligned start", "A/A (canary 10 min later)", twelve, 60, 0.5, {}, 0, 10, 1.0),
        ("misaligned start", "p50 +25 % (canary 10 min later)", twelve, 60, 0.5, p50, 0, 10, 1.0),
        ("16-metric release", "A/A", SERVICE, 60, 0.5, {}, 0, 0, 1.0),
        ("16-metric release", "slow path: p90/p99 +25 %, CPU +10 %", SERVICE, 60, 0.5, SLOW_PATH, 0, 0, 1.0),
    ]


CATASTROPHIC = (Spec("error_ratio", 0.002, 0.3, 0.2), Spec("latency_p50_ms", 120.0, 0.05, 0.3),
                Spec("latency_p99_ms", 600.0, 0.12, 0.4, heavy=True), Spec("cpu_cores", 2.0, 0.05, 0.6))


def task(args: tuple) -> dict:
    """Simulate ``runs`` releases of one cell; count flagged releases, detections and passes per method."""
    index, runs, seed = args
    cells = families() + [("3-point step", "catastrophic canary: errors x13, p50 x3", CATASTROPHIC, 3, 0.5,
                           {"error_ratio": 12.0, "latency_p50_ms": 2.0}, 0, 0, 1.0)]
    family, scenario, specs, n, phi, effects, start, late, drift = cells[index]
    rng = np.random.default_rng(seed)
    keys = ("paired (default)", "mann-whitney", "oracle")
    out = {k: {"flagged": 0, "detected": 0, "passed": 0} for k in keys}
    for _ in range(runs):
        rel = simulate(rng, specs, n, phi, effects, start, late, drift)
        for k in keys:
            if k == "oracle":
                flagged, passed = oracle(rel, specs, phi), None
                passed = not any(flagged.values())
            else:
                flagged, passed = run_pipeline(rel, specs, None if k.startswith("paired") else "mann-whitney")
            out[k]["flagged"] += any(flagged.values())
            out[k]["detected"] += any(flagged[m] for m in effects)
            out[k]["passed"] += passed
    return {"index": index, "family": family, "scenario": scenario, "runs": runs, "counts": out,
            "aa": not effects}


def cells(releases: int, seed: int, chunk: int = 25) -> list[tuple]:
    """The tasks: every cell split into chunks of ``chunk`` releases, seeded per chunk."""
    out = []
    for index in range(len(families()) + 1):
        for i in range(0, releases, chunk):
            out.append((index, min(chunk, releases - i), seed * 100_000 + index * 1000 + i))
    return out


def table(results: list[dict]) -> str:
    """Per family and scenario: A/A false fails (any metric flagged) or detection rate, per method."""
    agg: dict = {}
    for r in results:
        cell = agg.setdefault((r["index"], r["family"], r["scenario"], r["aa"]), {"runs": 0, "counts": {}})
        cell["runs"] += r["runs"]
        for k, v in r["counts"].items():
            for what, x in v.items():
                cell["counts"].setdefault(k, {}).setdefault(what, 0)
                cell["counts"][k][what] += x
    keys = ("paired (default)", "mann-whitney", "oracle")
    lines = ["| family | scenario | releases | measured | " + " | ".join(keys) + " |",
             "|---|---|---|---|" + "---|" * len(keys)]
    for (_, family, scenario, aa), cell in sorted(agg.items()):
        n = cell["runs"]
        if aa:
            what, col = "false fail (any metric high/low)", "flagged"
        elif family == "3-point step":
            what, col = "verdict pass (must be 0)", "passed"
        else:
            what, col = "detected (a regressed metric high/low)", "detected"
        vals = [f"{100 * cell['counts'][k][col] / n:.1f} %" for k in keys]
        lines.append(f"| {family} | {scenario} | {n} | {what} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


# --- the release's autocorrelation pool (judges.paired.pooled_autocorrelation) ------------------------------------
# 12-metric releases whose metrics have alike or different AR coefficients: with the pool (the default) and without
# it (each metric calibrated at its own estimate), A/A false fails and, for alike metrics, +20 % on p50 caught.

POOL_CASES = (
    ("alike, AR 0.5", (0.5,) * 12, {}),
    ("alike, AR 0.5: p50 +20 %", (0.5,) * 12, {"latency_p50_ms": 0.20}),
    ("alike, AR 0.8", (0.8,) * 12, {}),
    ("alike from 0.3 to 0.7", tuple(float(v) for v in np.linspace(0.3, 0.7, 12)), {}),
    ("half at 0.2, half at 0.8", (0.2,) * 6 + (0.8,) * 6, {}),
    ("one gauge at 0.95 among 0.3", (0.3,) * 11 + (0.95,), {}),
    ("one white metric among 0.8", (0.8,) * 11 + (0.0,), {}),
    ("two gauges (0.9, 0.95) among 0.5", (0.5,) * 10 + (0.9, 0.95), {}),
    ("spread from 0 to 0.95", (0.0, 0.0, 0.0, 0.3, 0.3, 0.5, 0.5, 0.5, 0.8, 0.8, 0.9, 0.95), {}),
)
POOL_SIZES = (30, 60)


def pool_task(args: tuple) -> dict:
    """``runs`` releases of one pool case at one length: flagged / detected with and without the pool."""
    index, n, runs, seed = args
    name, phis, effects = POOL_CASES[index]
    specs = SERVICE[:12]
    rng = np.random.default_rng(seed)
    out = {k: 0 for k in ("pool", "alone")}
    for _ in range(runs):
        rel = simulate(rng, specs, n, phis, effects, drift=0.3)
        for k in out:
            flagged, _ = run_pipeline(rel, specs, None, pool=k == "pool")
            out[k] += any(flagged[m] for m in effects) if effects else any(flagged.values())
    return {"index": index, "n": n, "runs": runs, "counts": out}


def pool_cells(releases: int, seed: int, chunk: int = 25) -> list[tuple]:
    return [(index, n, min(chunk, releases - i), (seed, 50, index, n, i))
            for index in range(len(POOL_CASES)) for n in POOL_SIZES for i in range(0, releases, chunk)]


def pool_table(results: list[dict]) -> str:
    agg: dict = {}
    for r in results:
        cell = agg.setdefault((r["index"], r["n"]), {"runs": 0, "pool": 0, "alone": 0})
        cell["runs"] += r["runs"]
        for k in ("pool", "alone"):
            cell[k] += r["counts"][k]
    lines = ["| release (per-scope AR coefficient of the 12 metrics) | points | measured | with the pool (default) "
             "| each metric alone |", "|---|---|---|---|---|"]
    for (index, n), c in sorted(agg.items()):
        name, _, effects = POOL_CASES[index]
        what = "detected" if effects else "false fail"
        lines.append(f"| {name} | {n} | {what} | {100 * c['pool'] / c['runs']:.1f} % | "
                     f"{100 * c['alone'] / c['runs']:.1f} % |")
    return "\n".join(lines)
