"""Recorded data: long ("tidy") CSV or Parquet with columns ``metric, scope, timestamp, value``.

``scope`` is ``baseline`` or ``canary``; ``timestamp`` is ISO 8601 or epoch seconds (epoch milliseconds are
refused: they would land thousands of years ahead); ``value`` is numeric, NaN allowed (an empty cell, ``NaN``),
infinities kept for the pipeline's ``nonfinite`` policy. Two rows of one series at one timestamp are an error (they
would be counted twice). CSV files may start with ``# canary: {json}`` lines holding metadata (the recorder writes
the window and the expanded queries there). A metric name the recorder escaped against spreadsheet formula
injection (``'=name``) is read back unescaped. Errors name the file and the line.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from analysis.config import CanaryConfig, MetricConfig
from analysis.errors import ConfigError, DataError, read_bytes
from analysis.series import SCOPES, SamplePair, Series, Window

COLUMNS = ("metric", "scope", "timestamp", "value")
_NAN_WORDS = {"", "nan", "NaN", "NAN", "null", "NULL", "None"}
# epoch seconds below this (year 5138); larger numbers are almost surely milliseconds
MAX_EPOCH_S = 1e11
# cells a spreadsheet would run as a formula start with one of these; record escapes them with a quote
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def unescape_formula(name: str) -> str:
    """A metric name as written, from its spreadsheet-safe form (``'=x`` -> ``=x``)."""
    return name[1:] if name[:1] == "'" and name[1:2] in FORMULA_START else name


def _read_metadata(path: Path, text: str) -> tuple[dict[str, Any], int]:
    meta: dict[str, Any] = {}
    skipped = 0
    for line in io.StringIO(text):
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
        raise DataError(f"{source}: line {int(lines[i])}: timestamp {_short(col.iloc[i])} is not a finite time")
    huge = np.abs(np.nan_to_num(out, nan=0.0)) >= MAX_EPOCH_S
    if huge.any():
        i = int(np.flatnonzero(huge)[0])
        raise DataError(f"{source}: line {int(lines[i])}: timestamp {_short(col.iloc[i])} is out of range; "
                        f"looks like epoch milliseconds (give epoch seconds or ISO 8601)")
    todo = np.isnan(out)
    if todo.any():
        text = col[todo].astype(str).str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            line = int(lines[np.flatnonzero(todo)[i]])
            raise DataError(f"{source}: line {line}: timestamp {_short(text.iloc[i])} is neither ISO 8601 nor "
                            f"epoch seconds")
        secs = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        out[todo] = secs.to_numpy(dtype=float)
    return out


def _short(v: Any, limit: int = 40) -> str:
    text = repr(str(v).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…'"


def _check_duplicates(df: Any, source: str) -> None:
    """Two rows of one series at one timestamp would be judged as two samples: refuse them."""
    dup = df.duplicated(["metric", "scope", "timestamp"], keep=False).to_numpy()
    if not dup.any():
        return
    rows = df[dup]
    first = rows.iloc[0]
    same = rows[(rows["metric"] == first["metric"]) & (rows["scope"] == first["scope"])
                & (rows["timestamp"] == first["timestamp"])]
    lines = ", ".join(str(int(x)) for x in same["line"].head(3))
    when = Window(float(first["timestamp"]), float(first["timestamp"])).to_dict()["start"]
    raise DataError(f"{source}: lines {lines}: duplicate rows for metric {_short(first['metric'], 80)} scope "
                    f"{first['scope']} at timestamp {when} ({float(first['timestamp'])!r}); each series may have one "
                    f"value per timestamp")


def read_frame(path: str | Path):
    """Read and validate a data file into a frame with float ``timestamp`` (epoch s) and float ``value``.

    Returns the frame (with a ``line`` column giving each row's line in the file) and the file's metadata.
    """
    import pandas as pd

    p = Path(path)
    source = str(path)
    raw = read_bytes(p, DataError)
    meta: dict[str, Any] = {}
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise DataError(f"{source}: reading Parquet needs pyarrow (pip install pyarrow)") from None
            table = pq.read_table(io.BytesIO(raw))
            raw_meta = (table.schema.metadata or {}).get(b"canary")
            if raw_meta:
                meta = json.loads(raw_meta)
            df = table.to_pandas()
            first_line = 1
        else:
            text = raw.decode("utf-8")
            meta, skipped = _read_metadata(p, text)
            df = pd.read_csv(io.StringIO(text), skiprows=skipped, dtype=str, keep_default_na=False,
                             skipinitialspace=True)
            first_line = skipped + 2
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: the file is empty (expected columns {', '.join(COLUMNS)})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{source}: cannot parse: not UTF-8 text (byte {e.start})") from None
    except (pd.errors.ParserError, OSError, ValueError, TypeError, KeyError, OverflowError) as e:
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
    metric = df["metric"].astype(str).str.strip().map(unescape_formula)
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
    _check_duplicates(out, source)
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
            def instant(key: str) -> float:  # epoch seconds like the timestamp column; pd.Timestamp(10) is 10 ns
                v = w[key]
                try:
                    t = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) \
                        else pd.Timestamp(v).timestamp()
                except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime):
                    raise DataError(f"{self.path}: metadata window.{key}: {_short(v)} is not a time") from None
                if not math.isfinite(t) or abs(t) >= MAX_EPOCH_S:
                    raise DataError(f"{self.path}: metadata window.{key}: {_short(v)} is out of range (epoch "
                                    f"seconds or ISO 8601 expected)")
                return t

            start, end = instant("start"), instant("end")
            if end < start:
                raise DataError(f"{self.path}: metadata window: end is before start")
            return Window(start, end)
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
