"""Benchmark: render a 200-metric HTML report (target: under 5 s and under 10 MB) and the CI summaries.

    python benchmarks/report_render.py [--metrics 200] [--points 360 10000] [--repeat 3]

Builds seeded synthetic results (one metric in ten shifted upwards, judged by the kayenta judge), then times
``render_html``, ``render_markdown`` and ``render_junit``, and the whole ``canary report`` path (read the JSON
back, render, write). Prints seconds, megabytes and the ratio to each target (below 1.0 meets it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from analysis import SamplePair, Series, Window, judge_pairs, load_result, parse_config
from analysis.report import render_html, render_junit, render_markdown, write_reports

TIME_LIMIT_S = 5.0
SIZE_LIMIT_MB = 10.0
T0 = 1767225600.0


def synthetic(n_metrics: int, n_points: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    metrics = [{"name": f"svc_{i:03d}_latency_ms", "judge": "kayenta", "group": f"group{i % 5}",
                "direction": "increase"} for i in range(n_metrics)]
    cfg = parse_config({"name": "benchmark", "metrics": metrics}, "benchmark.yaml")
    ts = T0 + 15.0 * np.arange(n_points)
    pairs = {}
    for i, m in enumerate(metrics):
        q = f'histogram_quantile(0.99, sum by (le) (rate(h_bucket{{svc="{i}",version="${{scope}}"}}[1m])))'
        base = Series(ts, rng.normal(100.0, 8.0, n_points), q.replace("${scope}", "baseline"))
        can = Series(ts, rng.normal(100.0 + (12.0 if i % 10 == 3 else 0.0), 8.0, n_points),
                     q.replace("${scope}", "canary"))
        pairs[m["name"]] = SamplePair(m["name"], base, can)
    return judge_pairs(cfg, pairs, Window(ts[0], ts[-1]))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", type=int, default=200)
    ap.add_argument("--points", type=int, nargs="+", default=[360, 10_000], help="points per side")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    render_html(synthetic(2, 10))  # warm-up: imports jinja2 and compiles the template once
    print(f"{'case':<40} {'seconds':>8} {'MB':>7} {'time/5s':>8} {'size/10MB':>10}")
    for n_points in args.points:
        result = synthetic(args.metrics, n_points)
        label = f"{args.metrics} metrics x {n_points} pts"
        t, html = timed(lambda: render_html(result), args.repeat)
        mb = len(html.encode()) / 1e6
        print(f"{'html ' + label:<40} {t:8.3f} {mb:7.2f} {t / TIME_LIMIT_S:8.3f} {mb / SIZE_LIMIT_MB:10.3f}")
        t, md = timed(lambda: render_markdown(result), args.repeat)
        print(f"{'markdown ' + label:<40} {t:8.3f} {len(md.encode()) / 1e6:7.2f}")
        t, xml = timed(lambda: render_junit(result), args.repeat)
        print(f"{'junit ' + label:<40} {t:8.3f} {len(xml.encode()) / 1e6:7.2f}")
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "result.json"
            src.write_text(result.to_json(include_data=True))

            def from_json():
                write_reports(load_result(src), html=Path(d) / "report.html")

            t, _ = timed(from_json, args.repeat)
            mb = (Path(d) / "report.html").stat().st_size / 1e6
            print(f"{'canary report ' + label:<40} {t:8.3f} {mb:7.2f} {t / TIME_LIMIT_S:8.3f} "
                  f"{mb / SIZE_LIMIT_MB:10.3f}")


if __name__ == "__main__":
    main()
