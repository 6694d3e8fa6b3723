"""A tiny third-party plugin: a mean-ratio judge, a collector of synthetic series and a router that keeps its
weights in a JSON file (read back on every ``get_weights``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from analysis.config import CanaryConfig, MetricConfig
from analysis.config._reader import Reader
from analysis.rollout.routers.base import Weights
from analysis.series import SamplePair, Series, Window
from judges import Classification, Judgement, JudgeParams, JudgePlugin, Statistics


@dataclass(frozen=True, slots=True)
class MeanRatioOptions:
    max_ratio: float = 1.2


def judge(baseline: np.ndarray, canary: np.ndarray, params: JudgeParams) -> Judgement:
    if baseline.size == 0 or canary.size == 0:
        return Judgement(Classification.NODATA, "a side has no data")
    ratio = float(np.mean(canary) / np.mean(baseline))
    limit = float(params.options.get("max_ratio", MeanRatioOptions.max_ratio))
    stats = Statistics(n_baseline=baseline.size, n_canary=canary.size, estimate=ratio)
    if ratio > limit:
        return Judgement(Classification.HIGH, f"mean ratio {ratio:.2f} > {limit:g}", statistics=stats)
    return Judgement(Classification.PASS, statistics=stats)


JUDGE = JudgePlugin("mean-ratio", judge, MeanRatioOptions)


class ToyCollector:
    """Baseline 100 + noise, canary ``factor`` times that, one point a second over the window."""

    def __init__(self, factor: float):
        self.factor = factor

    def check(self) -> None:
        return None

    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]:
        w = window or Window(0.0, 60.0)
        ts = np.arange(w.start, w.end, 1.0)
        rng = np.random.default_rng(7)
        out = {}
        for m in metrics:
            base = 100 + rng.normal(0, 1, ts.size)
            # labelled per scope, as a real source's series are: equal values on distinct series are judged (an
            # unlabelled pair with every metric identical would be refused as one series selected twice)
            out[m.name] = SamplePair(m.name, Series(ts, base, labels={"scope": "baseline"}),
                                     Series(ts, base * self.factor, labels={"scope": "canary"}))
        return out


def open_collector(config: CanaryConfig, options: Mapping[str, Any]) -> ToyCollector:
    return ToyCollector(float(options.get("factor", 1.0)))


class FileRouter:
    def __init__(self, path: str):
        self.path = Path(path)

    def set_weights(self, baseline: int, canary: int) -> None:
        self.path.write_text(json.dumps({"baseline": baseline, "canary": canary}))

    def get_weights(self) -> Weights | None:
        if not self.path.exists():
            return None
        return Weights.from_dict(json.loads(self.path.read_text()))


def router_from_config(r: Reader) -> FileRouter:
    path = r.str("path")
    r.finish()
    return FileRouter(path)
