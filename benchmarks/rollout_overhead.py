"""What a rollout costs on top of its analysis windows: journal writes, router calls, reaction time, resume.

    python benchmarks/rollout_overhead.py [--repeat 200]

Starts a real HAProxy (Debian package ``haproxy``) in front of two local backends on 127.0.0.1, as the tests do,
and times, as medians over ``--repeat`` runs:

* one journal record (JSON line written and fsynced) in a temporary directory;
* one HAProxy Runtime API command (``get weight``) over the TCP admin socket;
* ``HAProxyRouter.set_weights`` (read the canary's weight, two ``set weight``, two ``get weight`` to verify);
* the reaction to a failed step: from the verdict record to the rollback read back from HAProxy (decision
  journaled, hooks none, router set and verified), with a scripted analysis;
* ``canary rollout --resume`` of an interrupted rollout: process start to the reconcile record (Python start,
  imports, config, lock, journal replay, router read).

Ratios are against a 20 s analysis interval, the issue's example. No number here is asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402

from _rollout_helpers import InstantClock, Scripted, rollout_config  # noqa: E402
from analysis.rollout import Rollout  # noqa: E402
from analysis.rollout.journal import Journal, read_records  # noqa: E402
from analysis.rollout.routers.haproxy import HAProxyRouter  # noqa: E402
from servers.backends import Backend  # noqa: E402
from servers.haproxy import HAProxyServer, binary  # noqa: E402

INTERVAL = 20.0


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    if binary() is None:
        sys.exit("haproxy is not installed (Debian package haproxy)")
    with tempfile.TemporaryDirectory(prefix="canary-bench-") as d:
        rows = run(Path(d), args.repeat)
    print(f"rollout overhead, medians ({args.repeat} runs; reaction 50, resume 10); ratio to a {INTERVAL:g} s "
          f"interval; journal timestamps have 1 ms resolution")
    for name, ms in rows:
        print(f"  {name:<40} {ms:9.3f} ms   {ms / 1000 / INTERVAL:.2e} of an interval")


def run(work: Path, repeat: int) -> list[tuple[str, float]]:
    os.environ["CANARY_LOCK_DIR"] = str(work / "locks")
    rows = []
    with Journal(work / "bench.jsonl") as j:
        j.new_run()
        rec = {"stage": "step-1", "weights": {"baseline": 90, "canary": 10}}
        journal = timed(lambda: j.append("weights", **rec), repeat)
    rows.append(("journal record (write + fsync)", median_ms(journal)))
    with Backend("blue") as blue, Backend("green") as green, \
            HAProxyServer(work, {"blue": blue.port, "green": green.port}, {"blue": 100, "green": 0}) as ha:
        router = HAProxyRouter(ha.admin, "app", "blue", "green")
        rows.append(("haproxy runtime API command", median_ms(timed(lambda: router.command("get weight app/green"),
                                                                    repeat))))
        splits = iter([(90, 10), (50, 50)] * repeat)
        rows.append(("HAProxyRouter.set_weights (verified)",
                     median_ms(timed(lambda: router.set_weights(*next(splits)), repeat))))
        reactions = []
        for i in range(min(repeat, 50)):
            cfg = rollout_config({"steps": [10, 100], "interval": "20s", "router": {
                "type": "haproxy", "admin": ha.admin, "backend": "app", "baseline": "blue", "canary": "green"}},
                name=f"svc{i}")
            state = work / f"react{i}.jsonl"
            Rollout(cfg, Scripted(["fail"]), state, clock=InstantClock()).run()
            recs = read_records(state)
            verdict = next(r["t"] for r in recs if r["event"] == "verdict")
            done = next(r["t"] for r in recs if r["event"] == "weights_applied" and r["stage"] == "rollback")
            reactions.append(done - verdict)
        rows.append(("failed verdict -> rollback read back", median_ms(reactions)))
        resumes = []
        cfg_doc = {"name": "resume", "metrics": [{"name": "m", "judge": "kayenta",
                                                  "query": "m{${scope}}"}],
                   "scopes": {"baseline": {"v": "a"}, "canary": {"v": "b"}},
                   "rollout": {"steps": [10, 100], "interval": "1h", "router": {
                       "type": "haproxy", "admin": ha.admin, "backend": "app", "baseline": "blue",
                       "canary": "green"}}}
        cfg_path = work / "resume.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg_doc))
        for i in range(min(repeat, 10)):
            state = work / f"resume{i}.jsonl"
            first = subprocess.Popen([sys.executable, "-m", "analysis.cli", "rollout", str(cfg_path), "--state",
                                      str(state), "--prometheus-url", "http://127.0.0.1:9"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not (state.exists() and '"window"' in state.read_text()):
                time.sleep(0.01)
            first.kill()
            first.wait()
            t0 = time.time()
            second = subprocess.Popen([sys.executable, "-m", "analysis.cli", "rollout", str(cfg_path), "--state",
                                       str(state), "--prometheus-url", "http://127.0.0.1:9", "--resume"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in second.stdout:
                if json.loads(line)["event"] == "reconcile":
                    resumes.append(json.loads(line)["t"] - t0)
                    break
            second.kill()
            second.wait()
        rows.append(("canary rollout --resume to reconcile", median_ms(resumes)))
    return rows


if __name__ == "__main__":
    main()
