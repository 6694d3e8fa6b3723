"""Fetch and judge 100 metrics x 2 scopes x 360 points from a local Prometheus, end to end.

    python benchmarks/prometheus_fetch.py [--metrics 100] [--points 360] [--repeat 7] [--concurrency 8]

Starts a Prometheus on 127.0.0.1 (backfilled with promtool, as the tests do), then times

* end to end: ``analysis.pipeline.analyze`` with the ``PrometheusCollector`` (concurrent fetch, align, judge,
  score, verdict);
* the same 2 x metrics range queries fetched one after the other with plain ``requests`` (and parsed to numpy),
  with its defaults (gzip) and, for reference, uncompressed as the collector asks,

and prints the medians and their ratio. Targets (issue 3): end to end under 2 s, and faster than the sequential
fetch alone. Needs the Debian package ``prometheus``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from analysis import Window, parse_config  # noqa: E402
from analysis.collectors.prometheus import PrometheusCollector  # noqa: E402
from analysis.pipeline import analyze  # noqa: E402
from servers import datasets  # noqa: E402
from servers.prometheus import PrometheusServer, binaries, openmetrics  # noqa: E402

SPACING = 10.0


def _sequential(url: str, queries: list[str], window: Window, compressed: bool = True) -> list[np.ndarray]:
    out = []
    with requests.Session() as s:
        if not compressed:
            s.headers["Accept-Encoding"] = "identity"
        for q in queries:
            r = s.get(f"{url}/api/v1/query_range", timeout=10,
                      params={"query": q, "start": window.start, "end": window.end, "step": SPACING})
            r.raise_for_status()
            values = r.json()["data"]["result"][0]["values"]
            out.append(np.array([float(v) for _, v in values]))
    return out


def _median(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} s (min {min(xs):.3f}, max {max(xs):.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--points", type=int, default=360)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    if None in binaries():
        print("prometheus/promtool not installed (Debian package prometheus)", file=sys.stderr)
        return 2

    cfg = parse_config({
        "name": "bench",
        "scopes": {"baseline": {"version": "v1"}, "canary": {"version": "v2"}},
        "prometheus": {"step": f"{SPACING:g}s", "timeout": "10s", "concurrency": args.concurrency},
        "metrics": [{"name": f"m{i}", "query": f"bench_metric_{i}{{${{scope}}}}"} for i in range(args.metrics)],
    })
    window = Window(datasets.T0, datasets.T0 + SPACING * (args.points - 1))
    with tempfile.TemporaryDirectory(prefix="canary-bench-") as d:
        t = time.perf_counter()
        server = PrometheusServer(Path(d), openmetrics(datasets.bench(args.metrics, args.points, SPACING)))
        with server:
            setup = time.perf_counter() - t
            settings = dataclasses.replace(cfg.prometheus, url=server.url)
            collector = PrometheusCollector(settings, cfg.scopes, cfg.variables)
            queries = [q for m in collector.queries(cfg.metrics).values() for q in m.values()]
            first = analyze(cfg, collector, window)  # warm-up: imports, connections, Prometheus caches
            _sequential(server.url, queries, window)
            n = {len(p.baseline) for p in first.pairs.values()} | {len(p.canary) for p in first.pairs.values()}
            assert n == {args.points}, f"expected {args.points} points per series, got {n}"

            e2e, fetch, seq, raw = [], [], [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                result = analyze(cfg, collector, window)
                e2e.append(time.perf_counter() - t)
                t = time.perf_counter()
                collector.collect(cfg.metrics, window)
                fetch.append(time.perf_counter() - t)
                t = time.perf_counter()
                _sequential(server.url, queries, window)
                seq.append(time.perf_counter() - t)
                t = time.perf_counter()
                _sequential(server.url, queries, window, compressed=False)
                raw.append(time.perf_counter() - t)
            collector.close()

    e2e_m, seq_m = statistics.median(e2e), statistics.median(seq)
    print(f"data: {args.metrics} metrics x 2 scopes x {args.points} points "
          f"({2 * args.metrics * args.points} samples); Prometheus backfilled and ready in {setup:.2f} s")
    print(f"verdict: {result.verdict.value} score {result.score:g} "
          f"({len(result.metrics)} metrics judged with {cfg.metrics[0].judge})")
    print(f"end to end, fetch + judge + verdict (concurrency {args.concurrency}): {_median(e2e)}")
    print(f"  of which concurrent fetch and alignment:           {_median(fetch)}")
    print(f"sequential plain requests, fetch and parse only:     {_median(seq)}")
    print(f"  the same without gzip (as the collector asks):     {_median(raw)}")
    print(f"ratio end to end / sequential fetch: {e2e_m / seq_m:.2f}  "
          f"(sequential fetch / concurrent fetch: {seq_m / statistics.median(fetch):.2f}x; "
          f"end to end / sequential fetch without gzip: {e2e_m / statistics.median(raw):.2f})")
    print(f"target end to end < 2 s: {'met' if e2e_m < 2 else 'MISSED'}; "
          f"faster than the sequential fetch: {'met' if e2e_m < seq_m else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
