"""``canary serve`` under load: N Kayenta executions posted at once, against N ``canary analyze`` runs.

    python benchmarks/serve_load.py [--executions 50] [--workers 4] [--cli-runs 10]

Starts a Prometheus (backfilled with promtool, as the tests do) and ``canary serve`` on 127.0.0.1, then times

* serve: N ``POST /canary/shop`` from N threads at once, polled until every execution is complete (one process,
  ``--workers`` analyses at a time);
* CLI: ``--cli-runs`` of the same analyses as ``canary analyze`` subprocesses, 2 at a time (one per core);

and prints executions per second of each and their ratio, plus the POST latency (p50, max), and checks that no
execution was lost or ended without a verdict. Needs the Debian package ``prometheus``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from clients import go_request  # noqa: E402
from servers import datasets  # noqa: E402
from servers.canary_serve import CanaryServe  # noqa: E402
from servers.prometheus import PrometheusServer, binaries, openmetrics  # noqa: E402

START, END = "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"
CONFIG = {"name": "shop", "defaults": {"judge": "kayenta"}, "prometheus": {"step": "30s", "timeout": "10s"},
          "scopes": {"baseline": {"app": "aa", "version": "v1"}, "canary": {"app": "aa", "version": "v2"}},
          "metrics": [{"name": "latency_ms", "query": "app_latency_ms{${scope}}", "direction": "increase"},
                      {"name": "error_ratio", "direction": "increase", "critical": True,
                       "query": 'sum(rate(http_requests_total{${scope},code="500"}[1m])) / '
                                'sum(rate(http_requests_total{${scope}}[1m]))'}]}


def _post(server: CanaryServe, app: str) -> tuple[str, float]:
    detail = {"location": "", "step": 30, "start": START, "end": END}
    body = {"scopes": {"default": {"controlScope": {"scope": f"app={app},version=v1", **detail},
                                   "experimentScope": {"scope": f"app={app},version=v2", **detail}}},
            "thresholds": {"pass": 90, "marginal": 75}}
    t0 = time.perf_counter()
    answer = go_request("POST", f"{server.address()}/canary/shop", json.dumps(body).encode())
    if answer.status != 200:
        raise RuntimeError(f"POST answered {answer.status}: {answer.body[:200]!r}")
    return answer.json()["canaryExecutionId"], time.perf_counter() - t0


def _serve_run(server: CanaryServe, n: int) -> tuple[float, list[float], dict[str, int]]:
    t0 = time.perf_counter()
    results: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        r = _post(server, "aa" if i % 2 == 0 else "reg")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pending = {i for i, _ in results}
    outcomes: dict[str, int] = {}
    while pending:
        for i in list(pending):
            doc = go_request("GET", f"{server.address()}/canary/{i}").json()
            if doc["complete"]:
                pending.discard(i)
                label = doc["result"]["judgeResult"]["score"]["classification"] if "result" in doc else doc["status"]
                outcomes[label] = outcomes.get(label, 0) + 1
        time.sleep(0.05)
    return time.perf_counter() - t0, [lat for _, lat in results], outcomes


def _cli_run(config: Path, prom_url: str, n: int) -> float:
    def one(i: int) -> int:
        app = "aa" if i % 2 == 0 else "reg"
        return subprocess.run([sys.executable, "-m", "analysis.cli", "analyze", str(config), "--prometheus-url",
                               prom_url, "--start", START, "--end", END, "--var", f"app={app}"],
                              capture_output=True).returncode

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(one, range(n)))
    if sorted(set(codes)) != [0, 1]:
        raise RuntimeError(f"unexpected exit codes {sorted(set(codes))}")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--cli-runs", type=int, default=10, help="canary analyze runs timed (each pays Python start-up)")
    args = ap.parse_args()
    if None in binaries():
        print("needs prometheus and promtool (Debian package prometheus)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="canary-serve-bench-") as d:
        root = Path(d)
        configs = root / "configs"
        configs.mkdir()
        (configs / "shop.yaml").write_text(yaml.safe_dump(CONFIG))
        cli_cfg = dict(CONFIG, scopes={"baseline": {"version": "v1"}, "canary": {"version": "v2"}})
        cli_cfg["metrics"] = [dict(m, query=m["query"].replace("${scope}", '${scope},app="${app}"'))
                              for m in CONFIG["metrics"]]
        (root / "cli.yaml").write_text(yaml.safe_dump(cli_cfg))
        (root / "prom").mkdir()
        with PrometheusServer(root / "prom", openmetrics(datasets.standard())) as prom:
            with CanaryServe(root / "serve", configs, "bench-token", prom.url,
                             extra_args=["--workers", str(args.workers), "--log-level", "warning"]) as server:
                _serve_run(server, 4)  # warm-up: imports, numba caches
                serve_s, latencies, outcomes = _serve_run(server, args.executions)
            cli_s = _cli_run(root / "cli.yaml", prom.url, args.cli_runs)
    n = args.executions
    print(f"{n} executions (half healthy, half degraded), 2 cores")
    print("| run | wall time | executions/s |")
    print("|---|---|---|")
    print(f"| canary serve, {n} POSTs at once, {args.workers} workers | {serve_s:.2f} s | {n / serve_s:.1f} |")
    m = args.cli_runs
    print(f"| canary analyze, {m} processes, 2 at a time | {cli_s:.2f} s | {m / cli_s:.2f} |")
    print(f"serve / CLI throughput ratio: {(n / serve_s) / (m / cli_s):.1f}x")
    print(f"POST latency: p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    print(f"outcomes: {outcomes}")
    ok = outcomes == {"Pass": n // 2 + n % 2, "Fail": n // 2}
    print("no execution lost or without verdict" if ok else "UNEXPECTED OUTCOMES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
