"""The backfilled data the Prometheus tests query: one hour from 2024-01-01T00:00:00Z at 10 s (361 samples).

Series (all gauges unless noted), selected by ``app`` and ``version`` (v1 = baseline, v2 = canary):

* ``app_latency_ms{app="aa"}``: v1 and v2 both N(100, 5): an A/A pair that must pass.
* ``app_latency_ms{app="reg"}``: v2 is N(130, 5) against N(100, 5): a regression that must fail.
* ``app_latency_ms{app="late"}``: v2 jumps from N(100, 5) to N(140, 5) at 40 min: passes early intervals,
  fails the later ones.
* ``app_latency_ms{app="weird"}``: versions named by ``NASTY`` (quotes, backslashes, braces, newlines); decoy series
  whose names a broken escape would match instead.
* ``app_latency_ms{app="multi"}``: two pods per version.
* ``http_requests_total{app="aa"|"reg", code}`` (counters, 10 req/s): reg's v2 errors 5 % against 1 %; aa's both
  1 %.
* ``gappy{version}``: no samples from 20 min to 40 min (longer than the 5 min lookback).
* ``nanny{version}``: every 10th sample is NaN.
"""

from __future__ import annotations

import numpy as np

from .prometheus import Sample

T0 = 1704067200.0  # 2024-01-01T00:00:00Z
DURATION = 3600.0
SPACING = 10.0
NASTY = {"baseline": 'a"b\\c}d\ne', "canary": 'x\\"}, version=~".+'}
DECOYS = ("a", 'a"b', "x", "x\\", ".+", 'x\\"}')


def times(start: float = T0, duration: float = DURATION, spacing: float = SPACING) -> np.ndarray:
    return start + spacing * np.arange(int(duration // spacing) + 1)


def _latency(rng: np.random.Generator, ts: np.ndarray, mean: float = 100.0) -> np.ndarray:
    return np.round(rng.normal(mean, 5.0, ts.size), 3)


def _counter(ts: np.ndarray, per_second: float) -> np.ndarray:
    return np.round((ts - ts[0]) * per_second, 6)


def standard() -> list[Sample]:
    rng = np.random.default_rng(20240101)
    ts = times()
    out: list[Sample] = []

    def latency(app: str, version: str, values: np.ndarray, **extra: str) -> None:
        out.append(Sample("app_latency_ms", {"app": app, "version": version, **extra}, ts, values))

    latency("aa", "v1", _latency(rng, ts))
    latency("aa", "v2", _latency(rng, ts))
    latency("reg", "v1", _latency(rng, ts))
    latency("reg", "v2", _latency(rng, ts, 130.0))
    latency("late", "v1", _latency(rng, ts))
    late = _latency(rng, ts)
    jump = ts >= T0 + 2400
    late[jump] = _latency(rng, ts[jump], 140.0)
    latency("late", "v2", late)
    latency("weird", NASTY["baseline"], _latency(rng, ts))
    latency("weird", NASTY["canary"], _latency(rng, ts))
    for decoy in DECOYS:
        latency("weird", decoy, _latency(rng, ts, 500.0))
    for version in ("v1", "v2"):
        for pod in ("a", "b"):
            latency("multi", version, _latency(rng, ts), pod=pod)
    for app, canary_errors in (("reg", 0.05), ("aa", 0.01)):
        for version, errors in (("v1", 0.01), ("v2", canary_errors)):
            for code, share in (("200", 1 - errors), ("500", errors)):
                out.append(Sample("http_requests_total", {"app": app, "version": version, "code": code}, ts,
                                  _counter(ts, 10.0 * share), kind="counter"))
    hole = (ts >= T0 + 1200) & (ts < T0 + 2400)
    nan_every_10th = np.arange(ts.size) % 10 == 5
    for version in ("v1", "v2"):
        out.append(Sample("gappy", {"version": version}, ts[~hole], _latency(rng, ts)[~hole]))
        values = _latency(rng, ts)
        values[nan_every_10th] = np.nan
        out.append(Sample("nanny", {"version": version}, ts, values))
    return out


def bench(metrics: int = 100, points: int = 360, spacing: float = 10.0) -> list[Sample]:
    """``metrics`` gauges ``bench_metric_<i>{version}``, ``points`` samples each, canary equal in distribution."""
    rng = np.random.default_rng(7)
    ts = T0 + spacing * np.arange(points)
    return [Sample(f"bench_metric_{i}", {"version": v}, ts, _latency(rng, ts))
            for i in range(metrics) for v in ("v1", "v2")]


def history(hours: float = 48.0) -> list[Sample]:
    """``fixtures/generate_history.py``'s two stable groups as gauges ``bt_<metric>{group}``, one point a minute
    (what ``fixtures/backtest/canary.yaml`` queries): days of A/A history to backtest."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "fixtures" / "generate_history.py"
    spec = importlib.util.spec_from_file_location("generate_history", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [Sample(f"bt_{name}", {"group": group}, ts, values) for name, group, ts, values in module.history(hours)]
