"""canary-engine: canary analysis as a library.

    >>> from analysis import load_config, analyze_file
    >>> result = analyze_file("canary.yaml", "data.csv")
    >>> result.verdict.value, result.score
    >>> result.to_frame()
"""

from __future__ import annotations

from pathlib import Path

from analysis.version import __version__

from analysis.collectors.file import FileCollector
from analysis.config import CanaryConfig, MetricConfig, Thresholds, load_config, parse_config
from analysis.errors import CanaryError, CollectorError, ConfigError, DataError, UsageError
from analysis.pipeline import analyze, judge_pairs
from analysis.results import AnalysisResult, MetricResult
from analysis.results.io import load_result
from analysis.decision.scoring import Score
from analysis.series import SamplePair, Series, Window
from analysis.decision.verdict import Decision, Verdict


def analyze_file(config: str | Path | CanaryConfig, data: str | Path, window: Window | None = None) -> AnalysisResult:
    """Analyze recorded data (CSV or Parquet) with a config file or a loaded ``CanaryConfig``."""
    cfg = config if isinstance(config, CanaryConfig) else load_config(config)
    return analyze(cfg, FileCollector(data), window)


_LAZY = {"PrometheusCollector": "analysis.collectors.prometheus", "backtest": "analysis.runs.backtest",
         "BacktestResult": "analysis.runs.backtest"}


def __getattr__(name: str):
    """Heavy exports load on first use, so ``import analysis`` imports neither the Prometheus client nor Dask."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


__all__ = [
    "AnalysisResult", "BacktestResult", "CanaryConfig", "CanaryError", "CollectorError", "ConfigError", "DataError",
    "FileCollector",
    "MetricConfig", "MetricResult", "PrometheusCollector", "SamplePair", "Score", "Series", "Thresholds", "UsageError", "Verdict",
    "Verdict", "Window", "analyze", "analyze_file", "backtest", "judge_pairs", "load_config", "load_result",
    "parse_config", "__version__",
]
