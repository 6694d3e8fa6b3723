"""Metric collectors: a collector turns a config's metrics and a window into ``SamplePair``s.

The contract is one method wide (plus a reachability check), so a new backend is one file:

* ``collect(metrics, window) -> dict[name, SamplePair]``: a metric the source could not deliver comes back as a
  ``SamplePair`` with ``error`` set (it becomes an ``error`` result, never a pass); a metric with no points comes
  back with empty series (``nodata``).
* ``check()`` raises ``CollectorError`` when the source is unreachable.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from analysis.config import MetricConfig
from analysis.series import SamplePair, Window


class Collector(Protocol):
    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]: ...

    def check(self) -> None: ...


__all__ = ["Collector"]
