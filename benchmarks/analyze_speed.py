"""The engine against the cost of reading its data, in one run.

    python benchmarks/analyze_speed.py [--quick]

Prints one table:

* ``analyze`` of 1,000 metrics x 2 sides x 360 points from CSV (``analysis.analyze_file``, judge named explicitly
  as mann-whitney, and the config's default judge) over the pandas read+sort floor of the same file
  (``pd.read_csv`` + ``sort_values(["metric", "scope", "timestamp"])``); goal <= 2x;
* the batched judge at 1,000 x 2 x 10,000 (``judge_many`` of mann-whitney and of the default judge) over a numpy
  sort of the same data (``benchmarks/judge_speed.py`` times the parts); goal <= 3x;
* peak RSS of ``analyze`` on a large CSV (1,000 x 2 x 1,800 points, about 160 MB) over the file's size, measured
  in a fresh subprocess with ``resource.getrusage``; also the same for a process that only imports the engine,
  and the difference over the size; goal <= 3x;
* ``canary backtest`` throughput in windows per second on a local Dask cluster of 1 and of 2 worker processes.

Times are the best of a few runs; the load average is printed because other work on the machine moves them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

METRICS = 1000
SEED = 20261205


def write_csv(path: Path, metrics: int, points: int) -> None:
    """Long CSV ``metric,scope,timestamp,value``: lognormal A/A values, one point every 10 s, written by numpy."""
    rng = np.random.default_rng(SEED + points)
    ts = 1_767_225_600 + 10 * np.arange(points)
    with path.open("w", encoding="utf-8") as f:
        f.write("metric,scope,timestamp,value\n")
        for i in range(metrics):
            for scope in ("baseline", "canary"):
                values = rng.lognormal(0.0, 0.5, points)
                block = np.char.add(np.char.add(np.char.add(f"metric_{i:04d},{scope},", ts.astype(str)), ","),
                                    np.char.mod("%.6f", values))
                f.write("\n".join(block.tolist()))
                f.write("\n")


def write_config(path: Path, metrics: int, judge: str | None) -> None:
    line = f"    judge: {judge}\n" if judge else ""
    path.write_text("name: bench\nmetrics:\n" + "".join(f"  - name: metric_{i:04d}\n    direction: increase\n{line}"
                                                          for i in range(metrics)), encoding="utf-8")


def default_judge() -> str:
    from analysis import parse_config

    return parse_config({"metrics": [{"name": "m"}]}).metrics[0].judge


def analyze_rows(tmp: Path, runs: int) -> list[tuple[str, float, float, str]]:
    from judge_speed import best_of  # imported late: the RSS child must fork from a small process

    import pandas as pd

    from analysis import analyze_file, load_config

    csv = tmp / "fleet-360.csv"
    write_csv(csv, METRICS, 360)
    floor = best_of(runs, lambda: pd.read_csv(csv).sort_values(["metric", "scope", "timestamp"]))
    rows = [("pandas read_csv + sort (floor)", floor, 1.0, "")]
    for judge in ("mann-whitney", None):
        cfg_path = tmp / f"cfg-{judge}.yaml"
        write_config(cfg_path, METRICS, judge)
        cfg = load_config(cfg_path)
        analyze_file(cfg, csv)  # loads the judge's modules and compiled kernels before anything is timed
        t = best_of(runs, lambda: analyze_file(cfg, csv))
        name = judge or f"default ({default_judge()})"
        rows.append((f"analyze {METRICS}x2x360 from CSV, {name}", t, t / floor, "<= 2x"))
    return rows


def judge_rows(runs: int, points: int) -> list[tuple[str, float, float, str]]:
    from judge_speed import best_of  # imported late: the RSS child must fork from a small process

    from judges import JudgeParams, get_judge

    rng = np.random.default_rng(SEED)
    baseline = rng.lognormal(0.0, 0.5, (METRICS, points))
    canary = rng.lognormal(0.0, 0.5, (METRICS, points))
    floor = best_of(3, lambda: (np.sort(baseline, axis=1), np.sort(canary, axis=1)))
    rows = [(f"np.sort of both sides {METRICS}x2x{points} (floor)", floor, 1.0, "")]
    for judge in ("mann-whitney", default_judge()):
        module = sys.modules[get_judge(judge).__module__]
        many = getattr(module, "judge_many", None)
        if many is None:
            rows.append((f"judge_many {judge}: not batched", float("nan"), float("nan"), ""))
            continue
        many(baseline[:64, :360], canary[:64, :360], JudgeParams())  # compiled kernels loaded first
        t = best_of(runs, lambda: many(baseline, canary, JudgeParams()))
        rows.append((f"judge_many {judge} {METRICS}x2x{points}", t, t / floor, "<= 3x"))
        if judge == default_judge() and judge == "mann-whitney":
            break
    return rows


_RSS_CHILD = textwrap.dedent("""
    import resource, sys
    from analysis import analyze_file, load_config
    cfg = load_config(sys.argv[1])
    if sys.argv[3] == "analyze":
        analyze_file(cfg, sys.argv[2])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""")


def rss_rows(tmp: Path, points: int) -> list[tuple[str, float, float, str]]:
    csv = tmp / f"fleet-{points}.csv"
    write_csv(csv, METRICS, points)
    cfg = tmp / "cfg-rss.yaml"
    write_config(cfg, METRICS, "mann-whitney")
    size = csv.stat().st_size

    def peak(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(cfg), str(csv), mode], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout
        return int(out.strip().splitlines()[-1])

    analyze, imports = peak("analyze"), peak("imports")
    mb = 1024 * 1024
    return [(f"CSV {METRICS}x2x{points}: {size / mb:.0f} MB", size / mb, 1.0, "MB"),
            ("peak RSS of analyze (MB) / file size", analyze / mb, analyze / size, "<= 3x"),
            ("peak RSS of a process importing analysis (MB)", imports / mb, imports / size, ""),
            ("(analyze - that) / file size", (analyze - imports) / mb, (analyze - imports) / size, "")]


def backtest_rows(tmp: Path, windows: int) -> list[tuple[str, float, float, str]]:
    from judge_speed import best_of  # imported late: the RSS child must fork from a small process

    from distributed import LocalCluster

    from analysis import backtest, load_config

    cfg = load_config(ROOT / "fixtures" / "backtest" / "canary.yaml")
    data = str(ROOT / "fixtures" / "backtest" / "history.csv")
    every = 12 * 3600 / windows
    rows = []
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
            backtest(cfg, data, every=every, window=1800, scheduler=lc.scheduler_address)  # workers warm up
            t = best_of(2, lambda: backtest(cfg, data, every=every, window=1800, scheduler=lc.scheduler_address))
        rows.append((f"backtest, {workers} worker process(es), {windows} windows: windows/s", windows / t, t,
                     "8 runs/window"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the benchmark)")
    args = ap.parse_args()
    from importlib.metadata import version

    print(f"engine cost: numpy {np.__version__}, pandas {version('pandas')}, numba {version('numba')}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    header = f"{'what':<52} {'value':>10} {'ratio':>8}  goal"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="canary-bench-") as d:
        tmp = Path(d)
        # the RSS child first, while this process is small: a child's ru_maxrss starts from its parent's RSS
        # at fork
        sections = [rss_rows(tmp, 180 if args.quick else 1800),
                    analyze_rows(tmp, 1 if args.quick else 3),
                    judge_rows(1, 1000 if args.quick else 10_000),
                    backtest_rows(tmp, 12 if args.quick else 96)]
        for rows in sections:
            for label, value, ratio, goal in rows:
                print(f"{label:<52} {value:>10.3f} {ratio:>8.2f}  {goal}")
    print("value: seconds, except MB (RSS rows) and windows/s (backtest rows, ratio = seconds per run)")


if __name__ == "__main__":
    main()
