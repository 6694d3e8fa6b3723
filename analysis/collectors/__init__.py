"""Metric collectors: a collector turns a config's metrics and a window into ``SamplePair``s.

The contract is one method wide (plus a reachability check and ``close``), so a new backend is one file:

* ``collect(metrics, window) -> dict[name, SamplePair]``: a metric the source could not deliver comes back as a
  ``SamplePair`` with ``error`` set (it becomes an ``error`` result, never a pass); a metric with no points comes
  back with empty series (``nodata``).
* ``check()`` raises ``CollectorError`` when the source is unreachable.

Collectors are plugins: the entry point group ``canary_engine.collectors`` maps a name to an ``open`` function
``open(config, options) -> Collector``. The built-ins (``file``, ``prometheus``) are registered there too, so a
third-party collector is chosen exactly like them (``collector: {name: NAME, options: {...}}`` in the config).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from analysis.errors import ConfigError
from analysis.series import SamplePair, Window

if TYPE_CHECKING:
    from analysis.config import CanaryConfig, MetricConfig

ENTRY_POINT_GROUP = "canary_engine.collectors"


class Collector(Protocol):
    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]: ...

    def check(self) -> None: ...


class OpenCollector(Protocol):
    """What a collector plugin's entry point loads: ``open(config, options) -> Collector``.

    ``options`` is the config's ``collector.options`` mapping (or what a command line says, e.g. ``--data``);
    unknown or invalid options raise ``ConfigError`` naming the key.
    """

    def __call__(self, config: CanaryConfig, options: Mapping[str, Any]) -> Collector: ...


@lru_cache(maxsize=1)
def _registered() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every installed collector (built-ins included)."""
    return sorted(_registered())


def open_collector(name: str, config: CanaryConfig, options: Mapping[str, Any] | None = None) -> Collector:
    """Open the collector registered as ``name``; an unknown name is a ``ConfigError`` listing the known ones."""
    ep = _registered().get(name)
    if ep is None:
        known = ", ".join(available()) or "none installed (is canary-engine installed with pip?)"
        raise ConfigError(f"{config.source}: collector.name: unknown collector {name!r}; known collectors: {known}")
    opener: OpenCollector = ep.load()
    return opener(config, dict(options or {}))


def close(collector: Any) -> None:
    """Release what a collector holds (HTTP sessions), if it holds anything."""
    closer = getattr(collector, "close", None)
    if closer is not None:
        closer()


__all__ = ["Collector", "ENTRY_POINT_GROUP", "OpenCollector", "available", "close", "open_collector"]
