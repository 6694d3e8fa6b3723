"""Where a job gets its data: a recorded file, Prometheus, or a collector plugin named in the config.

Every job (analyze, watch, record, plan, rollout, backtest, serve) opens its collector here, so every job gets
every collector. Command-line style overrides (``SourceOptions``) win over the config's ``prometheus:`` and
``variables:`` sections. The Prometheus client (``requests``) is imported only when Prometheus is actually queried.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from analysis.collectors import Collector, open_collector
from analysis.collectors.promql import LABEL_NAME
from analysis.config import CanaryConfig
from analysis.config._reader import parse_duration
from analysis.errors import UsageError
from analysis.series import Window


@dataclass(frozen=True)
class SourceOptions:
    """What a caller says about the data source and the window (every field optional; strings as typed)."""

    data: str | None = None
    prometheus_url: str | None = None
    start: str | None = None
    end: str | None = None
    step: str | None = None
    timeout: str | None = None
    variables: tuple[str, ...] = ()
    lifetime: str | None = None
    interval: str | None = None
    warmup: str | None = None
    lookback: str | None = None
    mode: str | None = None

    @property
    def interval_run(self) -> bool:
        return any(v is not None for v in (self.lifetime, self.interval, self.warmup, self.lookback, self.mode))


@dataclass(frozen=True)
class OpenSource:
    """An opened collector, the config with the overrides applied, and the recorded window (files only)."""

    config: CanaryConfig
    collector: Collector
    recorded: Window | None = None

    def close(self) -> None:
        from analysis.collectors import close

        close(self.collector)

    def __enter__(self) -> "OpenSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def duration(value: str | None, flag: str) -> float | None:
    """Seconds from a duration string (``30s``, ``5m``, ``1h``); a bad one is a ``UsageError`` naming ``flag``."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


def parse_vars(items: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` items (``--var``) as a mapping; ``scope`` is reserved for the scopes: section."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not LABEL_NAME.match(name):
            raise UsageError(f"--var {item!r}: expected NAME=VALUE with NAME made of letters, digits and _")
        if name == "scope":
            raise UsageError("--var scope=...: ${scope} is set by the scopes: section, not a variable")
        out[name] = value
    return out


def with_prometheus_overrides(cfg: CanaryConfig, opts: SourceOptions) -> CanaryConfig:
    """``cfg`` with the options applied over its ``prometheus:`` and ``variables:`` sections."""
    settings = cfg.prometheus
    if opts.prometheus_url:
        settings = dataclasses.replace(settings, url=opts.prometheus_url)
    step = duration(opts.step, "--step")
    if step is not None:
        if step <= 0:
            raise UsageError("--step must be longer than zero")
        settings = dataclasses.replace(settings, step=step)
    timeout = duration(opts.timeout, "--timeout")
    if timeout is not None:
        if timeout <= 0:
            raise UsageError("--timeout must be longer than zero")
        settings = dataclasses.replace(settings, timeout=timeout)
    if "scope" in cfg.variables:
        raise UsageError(f"{cfg.source}: variables.scope: ${{scope}} is set by the scopes: section")
    variables = {**cfg.variables, **parse_vars(opts.variables)}
    return cfg.with_overrides(prometheus=settings, variables=variables)


def open_source(cfg: CanaryConfig, opts: SourceOptions, *, need: str = "the data to judge") -> OpenSource:
    """Open the collector ``opts`` and ``cfg`` choose.

    ``--data`` picks the ``file`` collector; otherwise the config's ``collector:`` section names one; otherwise
    Prometheus at ``--prometheus-url`` or ``prometheus.url``. Nothing given is a ``UsageError`` saying what to
    give (``need`` names it).
    """
    if opts.data and opts.prometheus_url:
        raise UsageError("give either --data or --prometheus-url, not both")
    if opts.data:
        for flag, value in (("--step", opts.step), ("--timeout", opts.timeout), ("--var", opts.variables or None)):
            if value is not None:
                raise UsageError(f"{flag} applies to Prometheus queries, not to --data")
        collector: Any = open_collector("file", cfg, {"path": opts.data})
        return OpenSource(cfg, collector, collector.window())
    cfg = with_prometheus_overrides(cfg, opts)
    if cfg.collector is not None and not opts.prometheus_url:
        return OpenSource(cfg, open_collector(cfg.collector.name, cfg, cfg.collector.options))
    if not cfg.prometheus.url:
        raise UsageError(f"give {need}: --data PATH, or --prometheus-url URL (or prometheus.url in the config) "
                         f"with --start and --end")
    return OpenSource(cfg, open_collector("prometheus", cfg, {}))


def resolve_window(opts: SourceOptions, now: float, default: Window | None) -> Window:
    """The window ``--start``/``--end`` describe, defaulting to the recorded one (files) and to now (end)."""
    from analysis.runs.intervals import parse_instant

    if opts.start is None and default is None:
        raise UsageError("give the start of the window: --start TIME (e.g. --start now-1h)")
    start = parse_instant(opts.start, now, "--start") if opts.start is not None else default.start  # type: ignore[union-attr]
    end = parse_instant(opts.end, now, "--end") if opts.end is not None else \
        (default.end if default is not None else now)
    if end <= start:
        raise UsageError(f"--end ({Window(end, end).to_dict()['end']}) must be after --start "
                         f"({Window(start, start).to_dict()['start']})")
    return Window(start, end)
