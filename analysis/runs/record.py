"""Recording: what a collector fetched, saved in the file-data format so any analysis can be replayed offline.

The file is the long format ``FileCollector`` reads (``metric, scope, timestamp, value``; NaN kept). A CSV starts
with one ``# canary: {json}`` line, a Parquet file carries the same JSON in its schema metadata (key ``canary``):

* ``window``: the analysed window (ISO 8601), which ``FileCollector.window()`` restores;
* ``queries``: ``{metric: {baseline: q, canary: q}}``, the expanded queries as sent;
* ``source``: what was queried (``url`` without credentials, ``step_s``), ``recorded_at``, ``config``;
* ``labels``, ``missing`` and ``notes`` per metric and scope: the series' labels, the grid points the source did not
  deliver, and what the collector noticed.

Headers and tokens are never written. A metric the collector could not fetch stops the recording (``CollectorError``,
nothing written): a file without it would replay as ``nodata`` and hide the failure.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from analysis.collectors import Collector
from analysis.collectors.file import FORMULA_START
from analysis.config import CanaryConfig
from analysis.errors import CollectorError, UsageError
from analysis.pipeline import Progress, collect
from analysis.runs.source import SourceOptions, open_source, resolve_window
from analysis.series import SCOPES, SamplePair, Window

__all__ = ["Recording", "record", "write_recording"]


@dataclass(frozen=True, slots=True)
class Recording:
    """What ``record`` wrote: the file, the window, and the number of points per metric and scope."""

    path: str
    window: Window
    points: Mapping[str, Mapping[str, int]]
    metadata: Mapping[str, Any]

    @property
    def rows(self) -> int:
        return sum(n for scopes in self.points.values() for n in scopes.values())


def _metadata(config: CanaryConfig, window: Window, pairs: Mapping[str, SamplePair],
              source: Mapping[str, Any]) -> dict[str, Any]:
    queries, labels, missing, notes = {}, {}, {}, {}
    now = float(int(time.time()))
    for name, p in pairs.items():
        scopes = {"baseline": p.baseline, "canary": p.canary}
        queries[name] = {s: series.query for s, series in scopes.items()}
        if any(series.labels for series in scopes.values()):
            labels[name] = {s: dict(series.labels) for s, series in scopes.items()}
        if any(series.missing for series in scopes.values()):
            missing[name] = {s: int(series.missing) for s, series in scopes.items()}
        if p.notes:
            notes[name] = list(p.notes)
    return {"window": window.to_dict(), "queries": queries, "source": dict(source), "config": config.name,
            "recorded_at": Window(now, now).to_dict()["start"], "labels": labels, "missing": missing, "notes": notes}


def _csv_text(pairs: Mapping[str, SamplePair], meta: Mapping[str, Any]) -> str:
    buf = io.StringIO()
    buf.write("# canary: " + json.dumps(meta, ensure_ascii=True, allow_nan=False) + "\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "scope", "timestamp", "value"])
    for name, p in pairs.items():
        # a spreadsheet runs a cell starting with = + - @ as a formula (=HYPERLINK(...)); a leading quote makes it
        # text there, and FileCollector removes it again
        cell = "'" + name if name.startswith(FORMULA_START) else name
        for scope, series in (("baseline", p.baseline), ("canary", p.canary)):
            for t, v in zip(series.timestamps.tolist(), series.values.tolist()):
                writer.writerow([cell, scope, repr(float(t)), repr(float(v))])
    return buf.getvalue()


def _parquet_bytes(path: Path, pairs: Mapping[str, SamplePair], meta: Mapping[str, Any]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"{path}: writing Parquet needs pyarrow (pip install pyarrow)") from None
    cols: dict[str, list] = {"metric": [], "scope": [], "timestamp": [], "value": []}
    for name, p in pairs.items():
        for scope, series in (("baseline", p.baseline), ("canary", p.canary)):
            cols["metric"] += [name] * len(series)
            cols["scope"] += [scope] * len(series)
            cols["timestamp"] += series.timestamps.tolist()
            cols["value"] += series.values.tolist()
    table = pa.table({"metric": pa.array(cols["metric"], pa.string()), "scope": pa.array(cols["scope"], pa.string()),
                      "timestamp": pa.array(cols["timestamp"], pa.float64()),
                      "value": pa.array(cols["value"], pa.float64())})
    table = table.replace_schema_metadata({"canary": json.dumps(meta, allow_nan=False)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_recording(path: str | Path, pairs: Mapping[str, SamplePair], meta: Mapping[str, Any]) -> None:
    """Write ``pairs`` and ``meta`` to ``path`` (``.parquet``/``.pq`` as Parquet, anything else as CSV),
    atomically: a reader sees the whole file or none."""
    from analysis.output import write_atomic

    p = Path(path)
    parquet = p.suffix.lower() in (".parquet", ".pq")
    write_atomic(p, _parquet_bytes(p, pairs, meta) if parquet else _csv_text(pairs, meta))


def record(config: CanaryConfig, collector: Collector, window: Window, path: str | Path,
           source: Mapping[str, Any] | None = None, progress: Progress | None = None) -> Recording:
    """Fetch every metric of ``config`` over ``window`` and save it to ``path`` for offline replay.

    Parameters
    ----------
    config, collector, window
        What to fetch, from where, over which window.
    path : str or Path
        The file to write (CSV, or Parquet for ``.parquet``).
    source : mapping, optional
        Description of the source for the metadata (e.g. ``{"type": "prometheus", "url": ..., "step_s": 30}``);
        it must hold no secrets.
    progress : callable, optional
        ``progress(done, total, what)``, told of the metrics fetched (for a progress bar).

    Raises
    ------
    CollectorError
        When any metric could not be fetched; nothing is written.
    """
    pairs = collect(collector, config.metrics, window, progress)
    failed = [(name, p.error) for name, p in pairs.items() if p.error]
    if failed:
        name, error = failed[0]
        more = f" (and {len(failed) - 1} more metric(s))" if len(failed) > 1 else ""
        raise CollectorError(f"nothing recorded: metric {name}: {error}{more}")
    meta = _metadata(config, window, pairs, source or {})
    write_recording(path, pairs, meta)
    points = {name: {s: len(getattr(p, s)) for s in SCOPES} for name, p in pairs.items()}
    return Recording(str(path), window, points, meta)


def record_source(config: CanaryConfig, source: SourceOptions, path: str | Path,
                  now: float | None = None, progress: Progress | None = None) -> Recording:
    """``canary record``: open the source ``source`` describes and :func:`record` its window to ``path``
    (``progress`` as for :func:`record`)."""
    from analysis.runs.analyze import now_seconds

    t = now_seconds() if now is None else now
    with open_source(config, source, need="the source to record from") as opened:
        window = resolve_window(source, t, opened.recorded)
        cfg = opened.config
        described: dict[str, Any] = {"type": cfg.collector.name if cfg.collector and not source.prometheus_url
                                     else "prometheus"}
        if described["type"] == "prometheus":
            from analysis.collectors.prometheus import display_url

            described.update(url=display_url(cfg.prometheus.url or ""), step_s=cfg.prometheus.step)
        return record(cfg, opened.collector, window, path, source=described, progress=progress)
