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


def _fast_csv(path: Path, skipped: int) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray] | None:
    """``(metric codes, metric names, scope codes (0 baseline, 1 canary), timestamps, values)`` of a plain CSV
    (exact header, epoch-second timestamps, clean names), parsed without Python work per row: by pyarrow when it is
    installed, else by pandas' C parser with typed columns. None when the file needs the validating reader (ISO
    timestamps, stray spaces, an unknown scope, a bad value...), which then finds and names the problem."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return _fast_csv_pandas(path, skipped)
    text = pa.dictionary(pa.int32(), pa.string())
    # small blocks: the reader's working memory grows with the block size (about 30x it), not with the file
    options = dict(read_options=pacsv.ReadOptions(skip_rows=skipped, block_size=1 << 18),
                   convert_options=pacsv.ConvertOptions(
                       column_types={"metric": text, "scope": text, "timestamp": pa.float64(),
                                     "value": pa.float64()},
                       null_values=sorted(_NAN_WORDS), strings_can_be_null=False, include_columns=list(COLUMNS)))
    names: dict[str, int] = {}
    # room for the most rows the file can hold (a row is at least "m,canary,1,\n"); pages never written are
    # never resident, so this costs address space, not memory, and nothing is concatenated or copied later
    room = path.stat().st_size // 11 + 1
    out: tuple[np.ndarray, ...] = (np.empty(room, np.int32), np.empty(room, np.int8), np.empty(room, np.float64),
                                   np.empty(room, np.float64))
    n = 0
    try:
        for batch in pacsv.open_csv(path, **options):  # batch by batch: the parsed table never exists whole
            size = batch.num_rows
            if batch.column(2).null_count or n + size > room:
                return None
            for target, column in zip(out, batch.columns):
                _fill(target[n:n + size], column, names if target.dtype == np.int32 else None)
            n += size
    except (pa.ArrowException, KeyError, ValueError, OSError):
        return None
    if n == 0 or (out[1][:n] < 0).any():
        return None  # no rows, or an unknown scope: the validating reader says which line
    return out[0][:n], list(names), out[1][:n], out[2][:n], out[3][:n]


def _fill(target: np.ndarray, column: Any, names: dict[str, int] | None) -> None:
    """Write one batch's column into ``target``, read straight from the buffers (pyarrow's own conversion imports
    pandas): metric names as codes into ``names`` (shared by all batches), scopes as 0 (baseline), 1 (canary) or
    -1 (anything else), numbers with nulls as NaN."""
    import pyarrow.compute as pc

    if hasattr(column, "indices"):
        words = [str(v) for v in column.dictionary.to_pylist()]
        if names is None:
            lut = np.array([SCOPES.index(w) if w in SCOPES else -1 for w in words], dtype=np.int8)
        else:
            lut = np.array([names.setdefault(w, len(names)) for w in words], dtype=np.int32)
        indices = column.indices
        if len(indices):
            codes = np.frombuffer(indices.buffers()[1], dtype=np.int32, count=len(indices) + indices.offset)
            np.take(lut, codes[indices.offset:], out=target)
        return
    if column.null_count:
        column = pc.fill_null(column, float("nan"))
    target[:] = np.frombuffer(column.buffers()[1], dtype=np.float64,
                              count=len(column) + column.offset)[column.offset:]


def _fast_csv_pandas(path: Path, skipped: int) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray,
                                                         np.ndarray] | None:
    import pandas as pd

    try:
        df = pd.read_csv(path, skiprows=skipped, usecols=list(COLUMNS), keep_default_na=False,
                         na_values={"value": sorted(_NAN_WORDS)},
                         dtype={"metric": "category", "scope": "category", "timestamp": "float64",
                                "value": "float64"})
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return None
    if df.empty:
        return None
    codes, uniques = pd.factorize(df["metric"])  # codes in order of first appearance, as pyarrow's dictionary
    scope = df["scope"].cat
    scope_codes = _scope_codes([str(c) for c in scope.categories], scope.codes.to_numpy())
    if scope_codes is None:
        return None
    return codes, [str(u) for u in uniques], scope_codes, df["timestamp"].to_numpy(), df["value"].to_numpy()


def _scope_codes(words: list[str], codes: np.ndarray) -> np.ndarray | None:
    if not set(words) <= set(SCOPES) or (codes < 0).any():
        return None
    return np.array([SCOPES.index(w) for w in words], dtype=np.int8)[codes]


class FileCollector:
    """Serves metrics from a recorded data file (CSV or Parquet), read and validated once.

    The samples are kept as two arrays sorted by metric, scope and time, so a window of a series is a slice
    (binary search) and a view, not a copy: one file serves many windows (``canary backtest``) cheaply. The arrays
    are read-only.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        columns = None
        p = Path(path)
        if p.suffix.lower() not in (".parquet", ".pq") and p.is_file():  # FIFOs and devices: the bounded reader
            header = _header_text(p)
            if header is not None:
                self.metadata, skipped = _read_metadata(p, header)
                columns = _fast_csv(p, skipped)
            # anything the fast path does not vouch for goes to the validating reader, which names the problem
            if columns is not None and not (_clean_names(columns[1]) and _plain_times(columns[3])):
                columns = None
        if columns is None:
            frame, self.metadata = read_frame(path)
            import pandas as pd

            codes, uniques = pd.factorize(frame["metric"])
            scope = np.where(frame["scope"].to_numpy() == SCOPES[0], 0, 1).astype(np.int8)
            columns = (codes, [str(u) for u in uniques], scope, frame["timestamp"].to_numpy(dtype=float),
                       frame["value"].to_numpy(dtype=float))
        codes, self._names, scope, ts, values = columns
        self._timestamps, self._values, self._groups = _index(np.asarray(codes), self._names, np.asarray(scope),
                                                              np.asarray(ts, dtype=float),
                                                              np.asarray(values, dtype=float))
        if _has_duplicates(self._timestamps, self._groups):
            read_frame(path)  # raises the duplicate-row error naming the lines
            raise DataError(f"{self.path}: duplicate rows (same metric, scope and timestamp)")
        self._window = self._recorded_window()

    def check(self) -> None:  # the file was validated on load
        return None

    def window(self) -> Window:
        """The recorded window if the file says so, else the span of its timestamps."""
        return self._window

    def _recorded_window(self) -> Window:
        w = self.metadata.get("window")
        if isinstance(w, dict) and "start" in w and "end" in w:
            import pandas as pd

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
        return Window(float(self._timestamps.min()), float(self._timestamps.max()))

    @property
    def frame(self):
        """The samples as a frame (``metric, scope, timestamp, value``), sorted by metric, scope and time."""
        import pandas as pd

        keys = sorted(self._groups.items(), key=lambda kv: kv[1][0])
        sizes = [hi - lo for _, (lo, hi) in keys]
        return pd.DataFrame({"metric": np.repeat([m for (m, _), _ in keys], sizes),
                             "scope": np.repeat([s for (_, s), _ in keys], sizes),
                             "timestamp": self._timestamps, "value": self._values})

    def metric_names(self) -> list[str]:
        return list(self._names)

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
        whole = window is None or (window.start <= self._window.start and window.end >= self._window.end)
        missing = self._recorded("missing", metric, scope, 0) if whole else 0
        span = self._groups.get((metric, scope))
        if span is None:
            return Series(np.zeros(0), np.zeros(0), query, labels)
        lo, hi = span
        if window is not None and not (window.start <= self._timestamps[lo] and self._timestamps[hi - 1] <= window.end):
            ts = self._timestamps[lo:hi]
            lo, hi = lo + int(np.searchsorted(ts, window.start, "left")), \
                lo + int(np.searchsorted(ts, window.end, "right"))
        return Series(self._timestamps[lo:hi], self._values[lo:hi], query, labels, missing)

    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]:
        notes = self.metadata.get("notes", {})
        notes = notes if isinstance(notes, dict) else {}
        return {m.name: SamplePair(m.name, self.series(m.name, "baseline", window),
                                   self.series(m.name, "canary", window),
                                   notes=tuple(str(n) for n in notes.get(m.name, ()) or ()))
                for m in metrics}


def _clean_names(names: list[str]) -> bool:
    # a leading quote may escape a spreadsheet formula (record writes '=...): the validating reader unescapes it
    return all(n and n == n.strip() and not n.startswith("'") for n in names) and len(set(names)) == len(names)


def _plain_times(ts: np.ndarray) -> bool:
    """Finite epoch seconds in range (epoch milliseconds and overflows go to the validating reader's error)."""
    return bool(np.isfinite(ts).all()) and bool((np.abs(ts) < MAX_EPOCH_S).all())


def _has_duplicates(ts: np.ndarray, groups: dict[tuple[str, str], tuple[int, int]]) -> bool:
    """Two samples of one series at the same time (each series' timestamps are sorted)."""
    return any(hi - lo > 1 and bool((ts[lo + 1:hi] == ts[lo:hi - 1]).any()) for lo, hi in groups.values())


def _header_text(p: Path, limit: int = 64 << 20) -> str | None:
    """The leading ``#`` lines of a CSV file (its metadata), or None when they are not UTF-8 or too long."""
    out, size = [], 0
    try:
        with p.open("r", encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                size += len(line)
                if size > limit:
                    return None
                out.append(line)
    except (UnicodeDecodeError, OSError):
        return None
    return "".join(out)


def _times_ascend(ts: np.ndarray, change: np.ndarray, block: int = 1 << 20) -> bool:
    """Whether ``ts`` ascends within every run between the ``change`` points (a block at a time: no copy of ts)."""
    for lo in range(0, ts.size - 1, block):
        hi = min(lo + block, ts.size - 1)
        if ((ts[lo + 1:hi + 1] < ts[lo:hi]) & ~change[lo:hi]).any():
            return False
    return True


def _index(codes: np.ndarray, names: list[str], scope: np.ndarray, ts: np.ndarray,
           values: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[tuple[str, str], tuple[int, int]]]:
    """Timestamps and values sorted by (metric, scope, time) (stable: equal times keep the file's order), and each
    series' slice. A file written grouped and in time order, as the recorder writes it, is not sorted again."""
    key = codes.astype(np.int64 if len(names) >= 1 << 30 else np.int32) * 2 + scope
    change = key[1:] != key[:-1]
    starts = np.flatnonzero(change) + 1
    firsts = key[np.concatenate(([0], starts))]
    in_order = np.unique(firsts).size == firsts.size and _times_ascend(ts, change)
    del change
    if not in_order:
        order = np.lexsort((ts, key))
        key, ts, values = key[order], ts[order], values[order]
        starts = np.flatnonzero(key[1:] != key[:-1]) + 1
        firsts = key[np.concatenate(([0], starts))]
    bounds = np.concatenate(([0], starts, [key.size])).tolist()
    groups = {(names[int(k) // 2], SCOPES[int(k) % 2]): (bounds[i], bounds[i + 1]) for i, k in enumerate(firsts)}
    ts, values = np.ascontiguousarray(ts, dtype=float), np.ascontiguousarray(values, dtype=float)
    ts.flags.writeable = False
    values.flags.writeable = False
    return ts, values, groups


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
