"""Reading a result back: ``AnalysisResult.to_json(include_data=True)`` -> ``AnalysisResult``, pairs included.

Reports and notebooks work from saved results, so the reader is strict about shape (every problem is a
``DataError`` naming the file and the key path, e.g. ``metrics[3].statistics.p_value``) and lenient about what
is optional (``data``, ``window``, ``warnings``, ``query`` and keys added by later versions may be missing).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from judges import Classification, Judgement, Statistics

from analysis.config import Thresholds
from analysis.errors import DataError, parse_json, read_text
from analysis.results import STAT_KEYS, AnalysisResult, MetricResult
from analysis.decision.scoring import Score
from analysis.series import SCOPES, SamplePair, Series, Window
from analysis.decision.verdict import Decision, Verdict

__all__ = ["load_result", "result_from_dict"]


class _At:
    """A mapping read at a key path, for messages like ``result.json: metrics[2].name: expected a string``."""

    def __init__(self, data: Any, path: str, source: str):
        if not isinstance(data, Mapping):
            raise DataError(f"{source}: {path or 'top level'}: expected an object, got {type(data).__name__}")
        self.data, self.path, self.source = data, path, source

    def where(self, key: str | int) -> str:
        part = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.path else key)
        return self.path + part

    def fail(self, key: str, msg: str) -> DataError:
        return DataError(f"{self.source}: {self.where(key)}: {msg}")

    def child(self, key: str, required: bool = False) -> "_At | None":
        v = self.data.get(key)
        if v is None:
            if required:
                raise self.fail(key, "missing")
            return None
        return _At(v, self.where(key), self.source)

    def text(self, key: str, default: str | None = None) -> str:
        v = self.data.get(key, default)
        if v is None and default is None:
            raise self.fail(key, "missing")
        if v is None:
            return default  # type: ignore[return-value]
        if not isinstance(v, str):
            raise self.fail(key, f"expected a string, got {type(v).__name__}")
        return v

    def number(self, key: str, default: float = math.nan) -> float:
        v = self.data.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(key, f"expected a number or null, got {type(v).__name__}")
        return float(v)

    def count(self, key: str, default: int = 0) -> int:
        v = self.number(key, math.nan)
        if math.isnan(v):
            return default
        if v != int(v) or v < 0:
            raise self.fail(key, f"expected a count, got {v:g}")
        return int(v)

    def flag(self, key: str, default: bool = False) -> bool:
        v = self.data.get(key, default)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise self.fail(key, f"expected true or false, got {type(v).__name__}")
        return v

    def items(self, key: str) -> list:
        v = self.data.get(key)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(key, f"expected a list, got {type(v).__name__}")
        return v

    def strings(self, key: str) -> tuple[str, ...]:
        out = []
        for i, s in enumerate(self.items(key)):
            if not isinstance(s, str):
                raise DataError(f"{self.source}: {self.where(key)}[{i}]: expected a string")
            out.append(s)
        return tuple(out)

    def str_map(self, key: str) -> dict[str, str]:
        v = self.data.get(key)
        if v is None:
            return {}
        if not isinstance(v, Mapping) or not all(isinstance(x, str) for x in (*v.keys(), *v.values())):
            raise self.fail(key, "expected an object of strings")
        return dict(v)


def _numbers(at: _At, key: str) -> np.ndarray:
    raw = at.items(key)
    try:
        # numpy turns null (None) into NaN itself, which keeps a long series fast to read
        arr = np.array(raw, dtype=float)
        if arr.ndim == 1:
            return arr
    except (TypeError, ValueError):
        pass
    bad = next((i for i, v in enumerate(raw) if v is not None and not isinstance(v, (int, float))), 0)
    raise DataError(f"{at.source}: {at.where(key)}[{bad}]: expected a number or null")


def _series(at: _At | None, query: str) -> Series:
    if at is None:
        return Series.empty(query)
    ts, vs = _numbers(at, "timestamps"), _numbers(at, "values")
    if ts.size != vs.size:
        raise DataError(f"{at.source}: {at.path}: {ts.size} timestamps but {vs.size} values")
    order = np.argsort(ts, kind="stable")
    return Series(ts[order], vs[order], query, at.str_map("labels"), at.count("missing"))


def _statistics(at: _At | None) -> Statistics:
    if at is None:
        return Statistics()
    floats = {k: at.number(k) for k in STAT_KEYS if not k.startswith("n_")}
    extra_at = at.child("extra")
    extra = {}
    if extra_at is not None:
        extra = {str(k): extra_at.number(k) for k, v in extra_at.data.items()
                 if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}
    return Statistics(n_baseline=at.count("n_baseline"), n_canary=at.count("n_canary"), extra=extra, **floats)


def _choice(at: _At, key: str, enum: Any, default: str | None = None) -> Any:
    value = at.text(key, default)
    try:
        return enum(value)
    except ValueError:
        raise at.fail(key, f"{value!r} is not one of {', '.join(e.value for e in enum)}") from None


def _metric(at: _At) -> tuple[MetricResult, SamplePair | None]:
    name = at.text("name")
    cls = _choice(at, "classification", Classification)
    judgement = Judgement(cls, at.text("reason", ""), critical=at.flag("critical"),
                          statistics=_statistics(at.child("statistics")))
    query = at.str_map("query")
    m = MetricResult(name=name, group=at.text("group", "default"), judge=at.text("judge", ""), judgement=judgement,
                     critical_metric=at.flag("critical_metric"), must_have_data=at.flag("must_have_data"),
                     muted=at.flag("muted"), direction=at.text("direction", "either"), query=query,
                     warnings=at.strings("warnings"), p_adjusted=at.number("p_adjusted"))
    data = at.child("data")
    if data is None:
        return m, None
    base, can = (_series(data.child(s), query.get(s, "")) for s in SCOPES)
    return m, SamplePair(name, base, can)


def _timestamp(at: _At, key: str) -> float | None:
    v = at.data.get(key)
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise at.fail(key, f"{v!r} is not an ISO 8601 time") from None


def result_from_dict(data: Any, source: str = "<result>") -> AnalysisResult:
    """Rebuild an ``AnalysisResult`` from ``AnalysisResult.to_dict()``; the inverse of ``to_dict(include_data=True)``.

    Parameters
    ----------
    data : mapping
        The decoded JSON.
    source : str
        Where it came from, for error messages.

    Raises
    ------
    DataError
        Naming ``source`` and the key path of the first value with the wrong shape.
    """
    top = _At(data, "", source)
    metrics, pairs = [], {}
    for i, raw in enumerate(top.items("metrics")):
        m, pair = _metric(_At(raw, f"metrics[{i}]", source))
        metrics.append(m)
        if pair is not None:
            pairs[m.name] = pair
    th = top.child("thresholds")
    thresholds = Thresholds() if th is None else Thresholds(th.number("pass", 95.0), th.number("marginal", 75.0))
    groups_at = top.child("groups")
    groups = {} if groups_at is None else {str(g): groups_at.number(g, 0.0) for g in groups_at.data}
    score = Score(top.number("score", 0.0), groups, override=top.text("score_override", ""))
    verdict = Decision(_choice(top, "verdict", Verdict), top.text("reason", ""))
    window = None
    w = top.child("window")
    if w is not None:
        start, end = _timestamp(w, "start"), _timestamp(w, "end")
        if start is not None and end is not None:
            if end < start:
                raise w.fail("end", "is before start")
            window = Window(start, end)
    return AnalysisResult(config_name=top.text("config", "canary"), window=window, metrics=tuple(metrics),
                          scores=score, decision=verdict, thresholds=thresholds,
                          engine_version=top.text("engine_version", ""), warnings=top.strings("warnings"),
                          pairs=pairs)


def load_result(path: str | Path) -> AnalysisResult:
    """Read a result JSON file written by ``canary analyze --json`` (or ``AnalysisResult.to_json``).

    The collected series come back as ``result.pairs`` when the file has them (the default; not with
    ``--json-no-data``), so plots and reports show the data.

    Raises
    ------
    DataError
        If the file is missing, is not JSON, or has the wrong shape (the message names the key path).
    """
    text = read_text(path, DataError)
    return result_from_dict(parse_json(text, path, DataError), str(path))

