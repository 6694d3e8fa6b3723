"""Speed of the ``mann-whitney`` judge (U, p, Hodges-Lehmann estimate and interval) on a fleet of metrics.

For 1,000 metrics x 2 arms x 360 points and 1,000 x 2 x 10,000 points (lognormal, seeded) it prints the wall time
of each way of judging them and its ratio to

  (a) numpy sorting the same data (``np.sort`` of both arms of every metric: the floor for any rank test), and
  (b) a Python loop of ``scipy.stats.mannwhitneyu`` (U and p only, no interval).

The goal is at most 3x the sort at 10,000 points (issue 15). The config's default judge is timed as well when it is
not mann-whitney. The Hodges-Lehmann estimate and interval alone (``shift_intervals`` on sorted
rows) are timed too, and their time per metric printed. Times are the best of a few runs; the load average is
printed because other work on the machine moves them. Run: ``python benchmarks/judge_speed.py``.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
import scipy
from scipy.stats import mannwhitneyu

from judges import JudgeParams, get_judge
from judges._hodges_lehmann import shift_intervals
from judges.mann_whitney import judge, judge_many

METRICS = 1000
SIZES = (360, 10_000)
SEED = 20261127
PARAMS = JudgeParams()  # the judge as configured by default: confidence 0.98, tolerance 0.25


def _numba_version() -> str:
    try:
        import numba
    except ImportError:
        return "missing (numpy path)"
    return numba.__version__


def _default_judge() -> str:
    from analysis import parse_config

    return parse_config({"metrics": [{"name": "m"}]}).metrics[0].judge


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def fleet(points: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED + points)
    baseline = rng.lognormal(0.0, 0.5, (METRICS, points))
    # a tenth of the metrics regress by 5 %, the rest are A/A
    shift = np.where(np.arange(METRICS) % 10 == 0, 1.05, 1.0)[:, None]
    canary = rng.lognormal(0.0, 0.5, (METRICS, points)) * shift
    return baseline, canary


def measure(points: int) -> list[tuple[str, float]]:
    baseline, canary = fleet(points)
    runs = 2 if points < 1000 else 1
    rows = [("np.sort of both arms (floor)", best_of(3, lambda: (np.sort(baseline, axis=1),
                                                                 np.sort(canary, axis=1)))),
            ("scipy mannwhitneyu, Python loop (U, p)",
             best_of(runs, lambda: [mannwhitneyu(c, b) for b, c in zip(baseline, canary)]))]
    if points < 1000:  # loads numba's cached kernels (compiles them on a first run) before anything is timed
        judge_many(baseline, canary, PARAMS)
    rows.append(("mann-whitney judge_many (batched)", best_of(runs, lambda: judge_many(baseline, canary, PARAMS))))
    default = _default_judge()
    if default != "mann-whitney":  # the judge a config gets without naming one
        many = getattr(sys.modules[get_judge(default).__module__], "judge_many", None)
        if many is not None:
            many(baseline[:64], canary[:64], PARAMS)
            rows.append((f"default judge ({default}) judge_many", best_of(runs, lambda: many(baseline, canary,
                                                                                              PARAMS))))
    # without the serial-correlation correction: the rank test and the HL interval alone
    rows.append(("judge_many, options autocorrelation=False", best_of(runs, lambda: judge_many(
        baseline, canary, JudgeParams(options={"autocorrelation": False})))))
    xs, ys = np.sort(canary, axis=1), np.sort(baseline, axis=1)
    rows.append(("HL estimate + interval alone (sorted rows)", best_of(runs, lambda: shift_intervals(
        xs, ys, PARAMS.confidence))))
    if points < 1000:  # one call per metric: what the per-call overhead costs
        rows.append(("mann-whitney judge, Python loop", best_of(runs, lambda: [
            judge(b, c, PARAMS) for b, c in zip(baseline, canary)])))
    return rows


def main() -> None:
    print(f"judge speed: {METRICS} metrics x 2 arms, lognormal, seed {SEED}; numpy {np.__version__}, "
          f"scipy {scipy.__version__}, numba {_numba_version()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    header = f"{'points':>7}  {'what':<42} {'wall s':>8} {'x sort':>8} {'x scipy':>8}"
    print(header)
    print("-" * len(header))
    per_metric = {}
    for points in SIZES:
        rows = measure(points)
        sort, loop = rows[0][1], rows[1][1]
        for label, seconds in rows:
            print(f"{points:>7}  {label:<42} {seconds:>8.3f} {seconds / sort:>8.1f} {seconds / loop:>8.2f}")
        per_metric[points] = dict(rows)["HL estimate + interval alone (sorted rows)"] / METRICS
    print("HL estimate + interval alone, per metric: "
          + ", ".join(f"{1e3 * t:.3f} ms at {p:,} points" for p, t in per_metric.items()))
    print("goal: the batched judge at most 3x the sort at 10,000 points")


if __name__ == "__main__":
    main()
