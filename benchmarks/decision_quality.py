"""Benchmark: decision quality of the default judges against Kayenta's on simulated, realistic canary data.

    python benchmarks/decision_quality.py [--releases 200] [--processes 2] [--seed 1] [--quick]

A release has 12 gating metrics judged baseline against canary at one-minute steps: ten continuous ones
(latencies, with heavy-tailed p99/GC/queue series, CPU, memory, cache hit ratio) with AR(1) noise at phi, a diurnal
load both arms share, and two sparse counters (errors at 0.2 % and timeouts at 0.02 % of about 2,000 requests a
minute per arm, whose per-arm rate wanders as AR(1) too). Printed, as Markdown tables:

1. A/A at phi in {0, 0.5, 0.8, 0.95}, 60 points: the false-fail rate per metric and per release (any metric
   flagged high or low), for ``ours`` (the default config: mann-whitney and rate, Holm at 0.05) and ``kayenta``
   (Kayenta's judge on every metric, error counters as per-minute error ratios, as Kayenta users configure them).
2. Power: latency p50 +5/+10/+20 % over 30 points at phi in {0, 0.5, 0.8}; error rate x1.5/x2/x3 over 60 points.
   Power is the share of releases whose regressed metric is flagged (after Holm for ours).
3. Time to detect, looking every minute for up to 4 hours: ``ours`` with the anytime-valid judges of ``canary
   watch`` (Holm over the 12 anytime p-values at every look), against the fixed-sample judges re-run every 5
   minutes; for counts also the error events seen until detection. The A/A row is the false-alarm rate under
   continuous looking.

Simulations are seeded; ``--quick`` runs a quarter of the releases. Targets (issue 6): per-release A/A false-fail
at most 5 % at phi = 0.8; power at least 90 % for +20 % latency over 30 points; a 2x error rate detected within a
median of about 110 error events.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np

from judges import Classification, Direction, JudgeParams, NanStrategy, get_judge
from judges.multiplicity import holm
from judges.rate import counts, dispersion
from judges.eprocess import count_test, mean_test

ALPHA = 0.05
CONFIDENCE = 0.98
PHIS = (0.0, 0.5, 0.8, 0.95)
HORIZON = 240  # minutes watched
EVERY = 5  # minutes between re-runs of the fixed-sample judges


@dataclass(frozen=True)
class Continuous:
    name: str
    base: float
    cv: float
    heavy: bool
    load: float
    direction: str = "increase"


CONTINUOUS = (
    Continuous("latency_p50_ms", 120.0, 0.05, False, 0.2),
    Continuous("latency_p90_ms", 250.0, 0.07, False, 0.25),
    Continuous("latency_p99_ms", 600.0, 0.12, True, 0.3),
    Continuous("upstream_latency_ms", 40.0, 0.06, True, 0.2),
    Continuous("db_latency_ms", 8.0, 0.08, True, 0.2),
    Continuous("cpu_cores", 2.0, 0.05, False, 0.5),
    Continuous("memory_mb", 800.0, 0.02, False, 0.0),
    Continuous("gc_pause_ms", 15.0, 0.15, True, 0.2),
    Continuous("queue_depth", 5.0, 0.2, True, 0.4),
    Continuous("cache_hit_ratio", 0.9, 0.01, False, 0.0, "decrease"),
)
COUNTERS = (("errors", 0.002), ("timeouts", 0.0002))
NAMES = tuple(c.name for c in CONTINUOUS) + tuple(n for n, _ in COUNTERS)


def _ar1(rng: np.random.Generator, phi: float, n: int, heavy: bool = False) -> np.ndarray:
    """Stationary AR(1) with unit variance; heavy tails from Student t(3) innovations."""
    if heavy:
        e = rng.standard_t(3, n + 50) / math.sqrt(3.0)
    else:
        e = rng.standard_normal(n + 50)
    e *= math.sqrt(1 - phi * phi)
    x = np.empty(n + 50)
    x[0] = e[0] / math.sqrt(1 - phi * phi) if phi < 1 else e[0]
    for i in range(1, n + 50):
        x[i] = phi * x[i - 1] + e[i]
    return x[50:]


def release(rng: np.random.Generator, phi: float, n: int, latency: float = 0.0, errors: float = 1.0) -> dict:
    """One simulated release: name -> (baseline, canary, baseline requests, canary requests)."""
    start = rng.uniform(0, 1440)
    load = 0.3 * np.sin(2 * np.pi * (start + np.arange(n)) / 1440)  # shared diurnal load
    out = {}
    for c in CONTINUOUS:
        arms = []
        for arm in (0, 1):
            v = c.base * (1 + c.load * load) * np.exp(c.cv * _ar1(rng, phi, n, c.heavy))
            if arm and c.name == "latency_p50_ms":
                v = v * (1 + latency)
            arms.append(v)
        out[c.name] = (arms[0], arms[1], None, None)
    requests = [rng.poisson(2000 * (1 + load)).astype(float) for _ in (0, 1)]
    for name, rate in COUNTERS:
        arms = []
        for arm in (0, 1):
            r = rate * np.exp(0.2 * _ar1(rng, phi, n) - 0.02) * (errors if arm and name == "errors" else 1.0)
            arms.append(rng.poisson(requests[arm] * r).astype(float))
        out[name] = (arms[0], arms[1], requests[0], requests[1])
    return out


def _params(name: str, judge: str, den=None) -> JudgeParams:
    spec = next((c for c in CONTINUOUS if c.name == name), None)
    direction = Direction(spec.direction if spec else "increase")
    opts = {} if den is None else {"baseline_denominator": den[0], "canary_denominator": den[1]}
    nan = NanStrategy.REPLACE if judge == "kayenta" and spec is None else NanStrategy.REMOVE
    return JudgeParams(name=name, direction=direction, confidence=CONFIDENCE, nan_strategy=nan, options=opts)


def judge_release(rel: dict, which: str, end: int | None = None) -> dict[str, bool]:
    """name -> flagged (high or low; after Holm for ours) for the release's first ``end`` points."""
    sl = slice(0, end)
    results = {}
    for name, (b, c, nb, nc) in rel.items():
        if which == "kayenta":
            if nb is not None:  # a per-minute error ratio, as a Kayenta config judges an error rate
                with np.errstate(divide="ignore", invalid="ignore"):
                    b, c = b / nb, c / nc
            results[name] = get_judge("kayenta")(b[sl], c[sl], _params(name, "kayenta"))
        elif nb is not None:
            results[name] = get_judge("rate")(b[sl], c[sl], _params(name, "rate", (nb[sl], nc[sl])))
        else:
            results[name] = get_judge("mann-whitney")(b[sl], c[sl], _params(name, "mann-whitney"))
    flagged = {n: j.classification in (Classification.HIGH, Classification.LOW) for n, j in results.items()}
    if which == "ours":
        adjusted = holm([results[n].statistics.p_value for n in NAMES])
        flagged = {n: flagged[n] and adjusted[i] <= ALPHA for i, n in enumerate(NAMES)}
    return flagged


def anytime_paths(rel: dict) -> dict[str, np.ndarray]:
    """The anytime p-value path of every metric, as ``canary watch``'s sequential judges compute them."""
    out = {}
    for name, (b, c, nb, nc) in rel.items():
        if nb is None:
            out[name] = mean_test(b, c, alpha=1 - CONFIDENCE).p_value
        else:
            phi, _ = dispersion(counts(b, c, _params(name, "rate", (nb, nc))))
            out[name] = count_test(b / phi, c / phi, nc / (nb + nc), alpha=1 - CONFIDENCE,
                                   alternative="greater").p_value
    return out


def first_holm_look(paths: dict[str, np.ndarray], target: str | None) -> int | None:
    """First look at which Holm over the anytime p-values flags ``target`` (any metric when None)."""
    p = np.stack([paths[n] for n in NAMES])  # metrics x looks, each non-increasing
    order = np.sort(p, axis=0)
    m = p.shape[0]
    # Holm rejects the smallest p at a look when it is at most alpha / m, and the metric itself needs p <= 0.02
    hit = order[0] <= ALPHA / m
    if target is None:
        looks = np.flatnonzero(hit & (order[0] <= 1 - CONFIDENCE))
        return int(looks[0]) if looks.size else None
    i = NAMES.index(target)
    for t in np.flatnonzero((p[i] <= 1 - CONFIDENCE) & hit):
        if (holm(p[:, t])[i] <= ALPHA):
            return int(t)
    return None


def first_fixed_look(rel: dict, which: str, target: str | None) -> int | None:
    for end in range(10, HORIZON + 1, EVERY):
        flagged = judge_release({k: v for k, v in rel.items() if target is None or k == target}, which, end) \
            if which == "kayenta" else judge_release(rel, which, end)
        if (flagged[target] if target else any(flagged.values())):
            return end - 1
    return None


# --- tasks (run in worker processes) ------------------------------------------------------------------------------

def task_fixed(args) -> dict:
    kind, phi, n, latency, errors, runs, seed = args
    rng = np.random.default_rng(seed)
    target = "latency_p50_ms" if latency else ("errors" if errors != 1 else None)
    out = {w: {"metric": 0, "release": 0, "target": 0} for w in ("ours", "kayenta")}
    for _ in range(runs):
        rel = release(rng, phi, n, latency, errors)
        for which in ("ours", "kayenta"):
            f = judge_release(rel, which)
            out[which]["metric"] += sum(f.values())
            out[which]["release"] += any(f.values())
            out[which]["target"] += bool(target and f[target])
    return {"key": (kind, phi, latency, errors), "runs": runs, "counts": out}


def task_single(args) -> dict:
    """One error counter alone (Poisson, 50/50 split, about 1 baseline error a minute): events to detect x2."""
    ratio, runs, seed = args
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(runs):
        nb, nc = rng.poisson(2000, HORIZON).astype(float), rng.poisson(2000, HORIZON).astype(float)
        b, c = rng.poisson(nb * 0.0005).astype(float), rng.poisson(nc * 0.0005 * ratio).astype(float)
        j = get_judge("sequential-rate")(b, c, _params("errors", "rate", (nb, nc)))
        stop = j.statistics.extra["stop_look"]
        look = None if not math.isfinite(stop) or j.classification is not Classification.HIGH else int(stop) - 1
        rows.append({"ours": look, "ours_events": None if look is None else float(np.cumsum(b + c)[look])})
    return {"key": ("single", ratio), "rows": rows}


def task_watch(args) -> dict:
    phi, latency, errors, runs, seed, fixed = args
    rng = np.random.default_rng(seed)
    target = "latency_p50_ms" if latency else ("errors" if errors != 1 else None)
    rows = []
    for _ in range(runs):
        rel = release(rng, phi, HORIZON, latency, errors)
        look = first_holm_look(anytime_paths(rel), target)
        row = {"ours": look}
        if fixed:
            row["kayenta"] = first_fixed_look(rel, "kayenta", target)
            row["ours-fixed"] = first_fixed_look(rel, "ours", target)
        if target == "errors":
            b, c, _, _ = rel["errors"]
            events = np.cumsum(b + c)
            row.update({f"{k}_events": (None if v is None else float(events[v])) for k, v in list(row.items())})
        rows.append(row)
    return {"key": (phi, latency, errors), "rows": rows}


# --- tables -------------------------------------------------------------------------------------------------------

def _pct(k: float, n: int) -> str:
    return f"{100 * k / n:.1f} %"


def _median(values: list, unit: str = "") -> str:
    """Median and p90 of detection times or counts; None (never detected) counts as infinite."""
    v = np.array([np.inf if x is None else x for x in values], dtype=float)
    if not v.size:
        return "-"
    med, p90 = np.median(v), np.percentile(v, 90, method="higher")
    if not math.isfinite(med):
        return f"> {HORIZON} min" if unit == "min" else "not reached"
    tail = f" (p90 {p90:.0f})" if math.isfinite(p90) else " (p90 not reached)"
    return f"{med:.0f}{' ' + unit if unit else ''}{tail}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--releases", type=int, default=200, help="simulated releases per A/A cell (default 200)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a quarter of the releases")
    ap.add_argument("--family-releases", type=int, default=400,
                    help="simulated releases per cell of the scenario families (default 400; --quick: 40)")
    ap.add_argument("--families-only", action="store_true", help="only the scenario families of issue 12")
    ap.add_argument("--power-only", action="store_true",
                    help="only the honest-power and sequential-count families of issue 12")
    a = ap.parse_args()
    if a.families_only or a.power_only:
        t0 = time.perf_counter()
        if a.families_only:
            print_families(a)
        power_families(a.family_releases // (10 if a.quick else 1), a.seed, a.processes)
        print(f"\nelapsed {time.perf_counter() - t0:.0f} s on {a.processes} process(es)")
        return
    r_aa = max(8, a.releases // (4 if a.quick else 1))
    r_pow, r_ttd, r_fix = max(8, r_aa // 2), max(8, r_aa // 2), max(4, r_aa // 8)
    t0 = time.perf_counter()
    fixed_tasks, chunk = [], 4
    seed = a.seed * 1000
    for phi in PHIS:
        fixed_tasks += [("aa", phi, 60, 0.0, 1.0, min(chunk, r_aa - i), (seed := seed + 1))
                        for i in range(0, r_aa, chunk)]
    for phi in (0.0, 0.5, 0.8):
        for shift in (0.05, 0.1, 0.2):
            fixed_tasks += [("lat", phi, 30, shift, 1.0, min(chunk, r_pow - i), (seed := seed + 1))
                            for i in range(0, r_pow, chunk)]
    for ratio in (1.5, 2.0, 3.0):
        fixed_tasks += [("err", 0.5, 60, 0.0, ratio, min(chunk, r_pow - i), (seed := seed + 1))
                        for i in range(0, r_pow, chunk)]
    watch_tasks = []
    for latency, errors in ((0.0, 1.0), (0.1, 1.0), (0.2, 1.0), (0.0, 1.5), (0.0, 2.0), (0.0, 3.0)):
        watch_tasks += [(0.5, latency, errors, min(chunk, r_ttd - i), (seed := seed + 1), i < r_fix)
                        for i in range(0, r_ttd, chunk)]
    single_tasks = [(ratio, min(chunk * 4, r_ttd * 2 - i), (seed := seed + 1))
                    for ratio in (1.0, 2.0) for i in range(0, r_ttd * 2, chunk * 4)]
    with Pool(a.processes) as pool:
        fixed = pool.map(task_fixed, fixed_tasks, chunksize=1)
        watched = pool.map(task_watch, watch_tasks, chunksize=1)
        single = pool.map(task_single, single_tasks, chunksize=1)
    agg: dict = {}
    for r in fixed:
        cell = agg.setdefault(r["key"], {"runs": 0, "ours": {}, "kayenta": {}})
        cell["runs"] += r["runs"]
        for w in ("ours", "kayenta"):
            for k, v in r["counts"][w].items():
                cell[w][k] = cell[w].get(k, 0) + v

    print(f"# Decision quality (seed {a.seed}; {r_aa} A/A releases per phi, {r_pow} per regression cell, "
          f"{r_ttd} watched releases per scenario)\n")
    print("## A/A false fails, 60 one-minute points, 12 gating metrics\n")
    print("| phi | ours per metric | ours per release | kayenta per metric | kayenta per release |")
    print("|---|---|---|---|---|")
    for phi in PHIS:
        c = agg[("aa", phi, 0.0, 1.0)]
        n = c["runs"]
        print(f"| {phi:g} | {_pct(c['ours']['metric'], 12 * n)} | {_pct(c['ours']['release'], n)} | "
              f"{_pct(c['kayenta']['metric'], 12 * n)} | {_pct(c['kayenta']['release'], n)} |")
    print("\n## Power: the regressed metric flagged (ours after Holm over 12 metrics)\n")
    print("| regression | points | phi | ours | kayenta |")
    print("|---|---|---|---|---|")
    for phi in (0.0, 0.5, 0.8):
        for shift in (0.05, 0.1, 0.2):
            c = agg[("lat", phi, shift, 1.0)]
            print(f"| latency p50 +{shift:.0%} | 30 | {phi:g} | {_pct(c['ours']['target'], c['runs'])} | "
                  f"{_pct(c['kayenta']['target'], c['runs'])} |")
    for ratio in (1.5, 2.0, 3.0):
        c = agg[("err", 0.5, 0.0, ratio)]
        print(f"| error rate x{ratio:g} | 60 | 0.5 | {_pct(c['ours']['target'], c['runs'])} | "
              f"{_pct(c['kayenta']['target'], c['runs'])} |")
    rows: dict = {}
    for r in watched:
        rows.setdefault(r["key"], []).extend(r["rows"])
    n_fixed = sum("kayenta" in r for r in rows[(0.5, 0.0, 1.0)])
    print(f"\n## Watching every minute for {HORIZON} minutes, phi 0.5 (median, p90; the fixed-sample columns on "
          f"{n_fixed} of the releases)\n")
    print("| scenario | ours: anytime-valid, every minute | ours fixed-sample, every 5 min | "
          "kayenta, every 5 min | ours: error events at detection | kayenta: error events |")
    print("|---|---|---|---|---|---|")
    for (phi, latency, errors), rs in rows.items():
        fx = [r for r in rs if "kayenta" in r]
        if latency == 0 and errors == 1:
            name = "A/A: ever failed (false alarm)"
            cells = [_pct(sum(r["ours"] is not None for r in rs), len(rs)),
                     _pct(sum(r["ours-fixed"] is not None for r in fx), len(fx)),
                     _pct(sum(r["kayenta"] is not None for r in fx), len(fx)), "-", "-"]
        else:
            name = f"latency p50 +{latency:.0%}" if latency else f"error rate x{errors:g}"
            ev = [r.get("ours_events") for r in rs] if errors != 1 else None
            kev = [r.get("kayenta_events") for r in fx] if errors != 1 else None
            cells = [_median([r["ours"] for r in rs], "min"), _median([r["ours-fixed"] for r in fx], "min"),
                     _median([r["kayenta"] for r in fx], "min"), _median(ev) if ev else "-",
                     _median(kev) if kev else "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    lone: dict = {}
    for r in single:
        lone.setdefault(r["key"], []).extend(r["rows"])
    aa, x2 = lone[("single", 1.0)], lone[("single", 2.0)]
    print(f"\n## One error counter alone, Poisson, 50/50 split, sequential-rate at its default level (looks every "
          f"minute, {HORIZON} minutes)\n")
    print("| scenario | detected | minutes to detect | error events at detection |")
    print("|---|---|---|---|")
    print(f"| A/A (false alarm) | {_pct(sum(r['ours'] is not None for r in aa), len(aa))} | - | - |")
    print(f"| error rate x2 | {_pct(sum(r['ours'] is not None for r in x2), len(x2))} | "
          f"{_median([r['ours'] for r in x2], 'min')} | {_median([r['ours_events'] for r in x2])} |")
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s on {a.processes} process(es)\n")
    print_families(a)
    power_families(a.family_releases // (10 if a.quick else 1), a.seed, a.processes)


# --- issue 12: scenario families for the paired default judge (benchmarks/_paired_families.py) -------------------

def print_families(a: argparse.Namespace) -> None:
    """Per family and scenario: false-fail and detection rates of the default (paired) judge through the pipeline,
    the previous default (mann-whitney) and a paired oracle that knows the true AR coefficient."""
    import _paired_families as fam

    runs = max(8, a.family_releases // (10 if a.quick else 1))
    t0 = time.perf_counter()
    with Pool(a.processes) as pool:
        results = pool.map(fam.task, fam.cells(runs, a.seed), chunksize=1)
    print(f"## Scenario families (seed {a.seed}, {runs} releases per row; pipeline verdicts, Holm at 0.05)\n")
    print(fam.table(results))
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s on {a.processes} process(es)")
    t0 = time.perf_counter()
    with Pool(a.processes) as pool:
        results = pool.map(fam.pool_task, fam.pool_cells(runs, a.seed), chunksize=1)
    print(f"\n## The release's autocorrelation pool (seed {a.seed}, {runs} releases per row; 12 metrics, shared "
          f"load at 0.3)\n")
    print(fam.pool_table(results))
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s on {a.processes} process(es)")


# --- issue 12: honest power and sequential counts on real traffic ------------------------------------------------
# Separate families, >= 400 simulated releases each (``--power-releases``), run with ``--families power``.

WATCH_MINUTES = 60  # looks of the overdispersed watch
REQUESTS = 1_000  # per arm per minute


def _nb_counts(rng: np.random.Generator, mean: float, size: float, shape) -> np.ndarray:
    """Negative binomial counts (gamma-Poisson mixture, variance mean + mean^2 / size): bursty errors."""
    return rng.poisson(rng.gamma(size, mean / size, shape)).astype(float)


def _rate_params(judge: str, steps: int) -> JudgeParams:
    den = np.full(steps, float(REQUESTS))
    return JudgeParams(name="errors", direction=Direction.INCREASE, confidence=CONFIDENCE,
                       options={"baseline_denominator": den, "canary_denominator": den})


def _first_flag(b: np.ndarray, c: np.ndarray, judge: str = "sequential-rate") -> int | None:
    """First look (1-based) at which ``judge`` on the prefix flags the canary high; None if never."""
    fn = get_judge(judge)
    for t in range(1, b.size + 1):
        j = fn(b[:t], c[:t], _rate_params(judge, t))
        if j.classification is Classification.HIGH:
            return t
    return None


def task_overdispersed_watch(args) -> dict:
    """A/A watches of bursty error counts (NB size 2, 0.5 % of 1,000 requests a minute per arm), judged by
    ``sequential-rate`` at every minute: any flag is a false alarm. ``plain`` is the Lindon-Malek e-process
    without the dispersion estimate, for comparison."""
    runs, seed = args
    rng = np.random.default_rng(seed)
    alarms = plain = 0
    for _ in range(runs):
        b, c = (_nb_counts(rng, 0.005 * REQUESTS, 2.0, WATCH_MINUTES) for _ in range(2))
        alarms += _first_flag(b, c) is not None
        res = count_test(b, c, 0.5, alpha=1 - CONFIDENCE, alternative="greater")
        plain += res.stop() is not None
    return {"runs": runs, "alarms": alarms, "plain": plain}


def task_watch_events(args) -> dict:
    """Binomial errors, 0.5 % of 1,000 requests a minute per arm, canary at ``ratio`` x: canary error events seen
    until ``sequential-rate`` (looked at every minute, up to 4 hours) flags it."""
    ratio, runs, seed = args
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(runs):
        b = rng.binomial(REQUESTS, 0.005, HORIZON).astype(float)
        c = rng.binomial(REQUESTS, 0.005 * ratio, HORIZON).astype(float)
        t = _first_flag(b, c)
        events.append(None if t is None else float(c[:t].sum()))
    return {"ratio": ratio, "events": events}


def task_rate_power(args) -> dict:
    """The fixed ``rate`` judge over 30 minutes, 0.1 % of 1,000 requests a minute per arm (binomial), canary at
    ``ratio`` x: share flagged high, share inconclusive, and the estimated dispersion above 1."""
    ratio, runs, seed = args
    rng = np.random.default_rng(seed)
    fn, out = get_judge("rate"), {"high": 0, "inconclusive": 0, "phi_above_1": 0, "exact": 0}
    for _ in range(runs):
        b = rng.binomial(REQUESTS, 0.001, 30).astype(float)
        c = rng.binomial(REQUESTS, 0.001 * ratio, 30).astype(float)
        j = fn(b, c, _rate_params("rate", 30))
        out["high"] += j.classification is Classification.HIGH
        out["inconclusive"] += j.classification is Classification.INCONCLUSIVE
        out["phi_above_1"] += j.statistics.extra.get("dispersion", 1.0) > 1.0
        # oracle: the exact conditional binomial test, one-sided at the interval's level
        tot = b.sum() + c.sum()
        from scipy.stats import binom
        out["exact"] += tot > 0 and binom.sf(c.sum() - 1, tot, 0.5) <= (1 - CONFIDENCE) / 2
    return {"ratio": ratio, "runs": runs, **out}


def power_families(releases: int, seed: int, processes: int) -> None:
    """Print the issue-12 families of this module: overdispersed watch A/A, watch detection of 2x errors in
    events, and the fixed rate judge's power at 0.1 % of 1,000 requests a minute over 30 minutes."""
    chunk = 25
    parts = [(min(chunk, releases - i), seed * 7919 + i) for i in range(0, releases, chunk)]
    with Pool(processes) as pool:
        od = pool.map(task_overdispersed_watch, parts, chunksize=1)
        ev = pool.map(task_watch_events, [(2.0, n, s + 1) for n, s in parts], chunksize=1)
        rp = pool.map(task_rate_power, [(r, n, s + 2 + int(r)) for r in (1.0, 2.0) for n, s in parts],
                      chunksize=1)
    runs = sum(r["runs"] for r in od)
    print(f"\n## Overdispersed counts in watch mode: A/A, NB size 2, 0.5 % of {REQUESTS:,} req/min per arm, "
          f"looked at every minute for {WATCH_MINUTES} min ({runs} releases)\n")
    print("| judge | false alarm (ever flagged) | target |")
    print("|---|---|---|")
    print(f"| sequential-rate (dispersion estimated, no conclusion before it is) | "
          f"{_pct(sum(r['alarms'] for r in od), runs)} | <= 5 % |")
    print(f"| Poisson e-process alone (oracle of what not to do) | {_pct(sum(r['plain'] for r in od), runs)} | - |")
    events = [e for r in ev for e in r["events"]]
    print(f"\n## Watch: 2x errors (binomial, 0.5 % -> 1 % of {REQUESTS:,} req/min per arm), looked at every "
          f"minute up to {HORIZON} min ({len(events)} releases)\n")
    print("| detected | canary error events at detection (median, p90) | target |")
    print("|---|---|---|")
    print(f"| {_pct(sum(e is not None for e in events), len(events))} | {_median(events)} | median <= 110 |")
    print(f"\n## Fixed rate judge: 0.1 % of {REQUESTS:,} req/min per arm, 30 min, confidence {CONFIDENCE:g} "
          f"({runs} releases per row)\n")
    print("| canary | high | inconclusive | dispersion estimated > 1 | exact binomial test (oracle) | target |")
    print("|---|---|---|---|---|---|")
    for ratio, target in ((1.0, "high <= 5 %"), (2.0, "high >= 75 % (exact limit 79 %)")):
        rs = [r for r in rp if r["ratio"] == ratio]
        n = sum(r["runs"] for r in rs)
        tot = {k: sum(r[k] for r in rs) for k in ("high", "inconclusive", "phi_above_1", "exact")}
        print(f"| x{ratio:g} | {_pct(tot['high'], n)} | {_pct(tot['inconclusive'], n)} | "
              f"{_pct(tot['phi_above_1'], n)} | {_pct(tot['exact'], n)} | {target} |")


if __name__ == "__main__":
    main()
