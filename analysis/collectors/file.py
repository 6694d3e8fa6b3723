"""Recorded data: long ("tidy") CSV or Parquet with columns ``metric, scope, timestamp, value``.

``scope`` is ``baseline`` or ``canary``; ``timestamp`` is ISO 8601 or epoch seconds; ``value`` is numeric, NaN
allowed (an empty cell, ``NaN``). CSV files may start with ``# canary: {json}`` lines holding metadata (the
recorder writes the window and the expanded queries there). Errors name the file and the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from analysis.config import CanaryConfig, MetricConfig
from analysis.errors import ConfigError, DataError
from analysis.series import SCOPES, SamplePair, Series, Window

COLUMNS = ("metric", "scope", "timestamp", "value")
_NAN_WORDS = {"", "nan", "NaN", "NAN", "null", "NULL", "None"}


def _read_metadata(path: Path) -> tuple[dict[str, Any], int]:
    meta: dict[str, Any] = {}
    skipped = 0
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("#"):
                break
            skipped += 1
            body = line[1:].strip()
            if body.startswith("canary:"):
                try:
                    entry = json.loads(body[len("canary:"):])
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}: line {skipped}: invalid metadata JSON: {e.msg}") from None
                if not isinstance(entry, dict):
                    raise DataError(f"{path}: line {skipped}: metadata must be a JSON object, "
                                    f"got {type(entry).__name__}")
                meta.update(entry)
    return meta, skipped


def _parse_timestamps(col, lines: np.ndarray, source: str) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):  # Parquet's timestamp type; to_numeric would give nanoseconds
        if col.isna().any():
            line = int(lines[int(np.flatnonzero(col.isna().to_numpy())[0])])
            raise DataError(f"{source}: line {line}: timestamp is missing")
        secs = (pd.to_datetime(col, utc=True) - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        return secs.to_numpy(dtype=float)
    as_num = pd.to_numeric(col, errors="coerce")
    out = as_num.to_numpy(dtype=float, copy=True)
    infinite = np.isinf(out)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{source}: line {int(lines[i])}: timestamp {str(col.iloc[i]).strip()!r} is not a finite time")
    todo = np.isnan(out)
    if todo.any():
        text = col[todo].astype(str).str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            line = int(lines[np.flatnonzero(todo)[i]])
            raise DataError(f"{source}: line {line}: timestamp {text.iloc[i]!r} is neither ISO 8601 nor epoch seconds")
        secs = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        out[todo] = secs.to_numpy(dtype=float)
    return out


def read_frame(path: str | Path):
    """Read and validate a data file into a frame with float ``timestamp`` (epoch s) and float ``value``.

    Returns the frame (with a ``line`` column giving each row's line in the file) and the file's metadata.
    """
    import pandas as pd

    p = Path(path)
    source = str(path)
    if not p.exists():
        raise DataError(f"{source}: no such file")
    meta: dict[str, Any] = {}
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise DataError(f"{source}: reading Parquet needs pyarrow (pip install pyarrow)") from None
            table = pq.read_table(p)
            raw_meta = (table.schema.metadata or {}).get(b"canary")
            if raw_meta:
                meta = json.loads(raw_meta)
            df = table.to_pandas()
            first_line = 1
        else:
            meta, skipped = _read_metadata(p)
            df = pd.read_csv(p, skiprows=skipped, dtype=str, keep_default_na=False, skipinitialspace=True)
            first_line = skipped + 2
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: the file is empty (expected columns {', '.join(COLUMNS)})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{source}: cannot parse: {msg}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; "
                        f"expected {', '.join(COLUMNS)}, found {', '.join(df.columns) or 'none'}")
    if df.empty:
        raise DataError(f"{source}: the file has a header but no rows")
    lines = np.arange(first_line, first_line + len(df))
    df = df.reset_index(drop=True)
    metric = df["metric"].astype(str).str.strip()
    if (metric == "").any():
        i = int(np.flatnonzero((metric == "").to_numpy())[0])
        raise DataError(f"{source}: line {lines[i]}: empty metric name")
    scope = df["scope"].astype(str).str.strip().str.lower()
    bad_scope = ~scope.isin(SCOPES)
    if bad_scope.any():
        i = int(np.flatnonzero(bad_scope.to_numpy())[0])
        raise DataError(f"{source}: line {lines[i]}: unknown scope {df['scope'].iloc[i]!r} "
                        f"(expected baseline or canary)")
    raw_v = df["value"]
    if not pd.api.types.is_numeric_dtype(raw_v):
        text = raw_v.astype(str).str.strip()
        is_nan_word = text.isin(_NAN_WORDS)
        value = pd.to_numeric(text.where(~is_nan_word, "nan"), errors="coerce")
        bad_v = value.isna() & ~is_nan_word & (text.str.lower() != "nan")
    else:
        value = pd.to_numeric(raw_v, errors="coerce")
        bad_v = value.isna() & raw_v.notna()
    if bad_v.any():
        i = int(np.flatnonzero(bad_v.to_numpy())[0])
        raise DataError(f"{source}: line {lines[i]}: value {str(raw_v.iloc[i])!r} is not a number")
    ts = _parse_timestamps(df["timestamp"], lines, source)
    out = pd.DataFrame({"metric": metric, "scope": scope, "timestamp": ts,
                        "value": value.to_numpy(dtype=float), "line": lines})
    return out, meta


class FileCollector:
    """Serves metrics from a recorded data file (CSV or Parquet), read and validated once."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.frame, self.metadata = read_frame(path)
        self._groups = {key: g for key, g in self.frame.groupby(["metric", "scope"], sort=False)}

    def check(self) -> None:  # the file was validated on load
        return None

    def window(self) -> Window:
        """The recorded window if the file says so, else the span of its timestamps."""
        import pandas as pd

        w = self.metadata.get("window")
        if isinstance(w, dict) and "start" in w and "end" in w:
            def instant(v: Any) -> float:  # epoch seconds like the timestamp column; pd.Timestamp(10) is 10 ns
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    return float(v)
                return pd.Timestamp(v).timestamp()

            try:
                return Window(instant(w["start"]), instant(w["end"]))
            except (ValueError, TypeError):
                pass
        ts = self.frame["timestamp"].to_numpy()
        return Window(float(ts.min()), float(ts.max()))

    def metric_names(self) -> list[str]:
        return list(dict.fromkeys(self.frame["metric"]))

    def _recorded(self, key: str, metric: str, scope: str, default: Any) -> Any:
        """Per-metric, per-scope metadata a recording carries (queries, labels, gap counts)."""
        per_metric = self.metadata.get(key, {})
        per_scope = per_metric.get(metric, {}) if isinstance(per_metric, dict) else {}
        value = per_scope.get(scope, default) if isinstance(per_scope, dict) else default
        return value if isinstance(value, type(default)) else default

    def series(self, metric: str, scope: str, window: Window | None = None) -> Series:
        query = self._recorded("queries", metric, scope, "")
        labels = self._recorded("labels", metric, scope, {})
        # gap counts describe the recorded window; a narrower replay window cannot attribute them
        whole = window is None or (window.start <= self.window().start and window.end >= self.window().end)
        missing = self._recorded("missing", metric, scope, 0) if whole else 0
        g = self._groups.get((metric, scope))
        if g is None:
            return Series(np.zeros(0), np.zeros(0), query, labels)
        ts = g["timestamp"].to_numpy()
        vs = g["value"].to_numpy()
        if window is not None:
            keep = (ts >= window.start) & (ts <= window.end)
            ts, vs = ts[keep], vs[keep]
        order = np.argsort(ts, kind="stable")
        return Series(ts[order], vs[order], query, labels, missing)

    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]:
        notes = self.metadata.get("notes", {})
        notes = notes if isinstance(notes, dict) else {}
        return {m.name: SamplePair(m.name, self.series(m.name, "baseline", window),
                                   self.series(m.name, "canary", window),
                                   notes=tuple(str(n) for n in notes.get(m.name, ()) or ()))
                for m in metrics}


def open_file(config: CanaryConfig, options: Mapping[str, Any]) -> FileCollector:
    """Entry point of the ``file`` collector: ``options: {path: FILE}`` (what ``--data FILE`` sets)."""
    unknown = sorted(set(options) - {"path"})
    if unknown:
        raise ConfigError(f"{config.source}: collector.options.{unknown[0]}: unknown option of the file collector; "
                          f"known options: path")
    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{config.source}: collector.options.path: the file collector needs the data file's path")
    return FileCollector(path)
