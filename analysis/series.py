"""What collectors hand to the pipeline: one time series per scope, paired per metric, over one window."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np

from judges import json_number

SCOPES = ("baseline", "canary")
# prefix of a note that carries a warning the data source itself sent (Prometheus' "warnings")
SOURCE_WARNING = "Prometheus warning: "


def _iso(ts: float | None) -> str | None:
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Window:
    """Analysis window in epoch seconds (UTC). ``end`` is inclusive."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end)}


def _json_floats(a: np.ndarray) -> list[float | None]:
    """A float array as a JSON-safe list (NaN and infinities become None), without a Python call per element."""
    a = np.asarray(a, dtype=float)
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    out = a.astype(object)
    out[~finite] = None
    return out.tolist()


@dataclass(frozen=True, slots=True)
class Series:
    """One scope's samples: epoch-second timestamps and float values (NaN allowed), sorted by time."""

    timestamps: np.ndarray
    values: np.ndarray
    query: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    # points the source expected but did not deliver (gaps), counted by the collector where it can tell
    missing: int = 0

    @staticmethod
    def empty(query: str = "") -> "Series":
        return Series(np.zeros(0), np.zeros(0), query)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def n_nan(self) -> int:
        return int(np.count_nonzero(np.isnan(self.values)))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"timestamps": _json_floats(self.timestamps), "values": _json_floats(self.values)}
        # optional keys, written only when set, so reports read back from JSON still show them
        if self.labels:
            d["labels"] = dict(self.labels)
        if self.missing:
            d["missing"] = int(self.missing)
        return d


@dataclass(frozen=True, slots=True)
class SamplePair:
    """Baseline and canary series of one metric. ``error`` is set when the collector could not fetch them."""

    metric: str
    baseline: Series
    canary: Series
    error: str | None = None
    # what the collector noticed while fetching (an empty result, series combined), shown with the warnings
    notes: tuple[str, ...] = ()
    # the error of each side that failed, by scope (``error`` is their one-line summary)
    errors: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def of(metric: str, baseline: Series, canary: Series, baseline_error: str | None = None,
           canary_error: str | None = None, notes: tuple[str, ...] = ()) -> "SamplePair":
        """A pair whose sides may have failed: ``error`` summarises them, ``errors`` keeps each side's."""
        errors = {s: e for s, e in (("baseline", baseline_error), ("canary", canary_error)) if e}
        if len(errors) == 2:
            summary = f"baseline and canary: {baseline_error}" if baseline_error == canary_error \
                else f"baseline: {baseline_error}; canary: {canary_error}"
        else:
            summary = next((f"{s}: {e}" for s, e in errors.items()), None)  # type: ignore[assignment]
        return SamplePair(metric, baseline, canary, summary, notes, errors)

    def few_points(self, min_points: int = 50) -> bool:
        """True when a side has data but fewer than ``min_points`` finite points."""
        return any(0 < len(s) - s.n_nan < min_points for s in (self.baseline, self.canary))

    def side_error(self, scope: str) -> str | None:
        """The part of ``error`` about ``scope`` (``baseline`` or ``canary``), from ``errors``."""
        return self.errors.get(scope)

    def warnings(self, min_points: int = 50) -> tuple[str, ...]:
        """Data-quality notes shown beside the result: the collector's notes, few points, NaN, gaps."""
        out = list(self.notes)
        for scope, s in (("baseline", self.baseline), ("canary", self.canary)):
            n = len(s) - s.n_nan
            if 0 < n < min_points:
                out.append(f"{scope} has only {n} data points (fewer than {min_points} reduces confidence)")
            if s.n_nan:
                out.append(f"{scope} has {s.n_nan} NaN values")
            if s.missing:
                out.append(f"{scope} is missing {s.missing} points (gaps)")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Alignment:
    """Baseline and canary values at the timestamps both scopes have, in time order, and what did not pair.

    ``unmatched_baseline`` / ``unmatched_canary`` count the points of each scope whose timestamp the other scope
    does not have (a canary that started later, a gap, a different step).
    """

    timestamps: np.ndarray
    baseline: np.ndarray
    canary: np.ndarray
    unmatched_baseline: int
    unmatched_canary: int

    def options(self) -> dict[str, Any]:
        """The ``JudgeParams.options`` entries through which a paired judge receives the alignment."""
        return {"paired_baseline": self.baseline, "paired_canary": self.canary, "paired_timestamps": self.timestamps,
                "unmatched_baseline": self.unmatched_baseline, "unmatched_canary": self.unmatched_canary}


# Timestamps closer than this (seconds) are the same instant: Prometheus returns exact step multiples, files may
# carry float noise from a conversion.
ALIGN_TOLERANCE = 1e-3


def align(baseline: Series, canary: Series, tolerance: float = ALIGN_TOLERANCE) -> Alignment:
    """Inner-join two series on their timestamps (never on position).

    Each timestamp is rounded to ``tolerance``; a timestamp repeated within a scope keeps its first point (the
    rest count as unmatched). The result is sorted by time whatever the order of the inputs.
    """
    def keyed(s: Series) -> tuple[np.ndarray, np.ndarray]:
        ts = np.asarray(s.timestamps, dtype=float)
        keys = np.round(ts / tolerance).astype(np.int64) if ts.size else np.zeros(0, np.int64)
        _, first = np.unique(keys, return_index=True)  # sorted keys, first occurrence of each
        return keys[first], first

    kb, ib = keyed(baseline)
    kc, ic = keyed(canary)
    _, pb, pc = np.intersect1d(kb, kc, assume_unique=True, return_indices=True)
    bi, ci = ib[pb], ic[pc]
    return Alignment(np.asarray(baseline.timestamps, dtype=float)[bi], np.asarray(baseline.values, dtype=float)[bi],
                     np.asarray(canary.values, dtype=float)[ci], len(baseline) - bi.size, len(canary) - ci.size)
