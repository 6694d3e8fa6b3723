"""The paired judge's data step: timestamp-aligned values into per-timestamp differences, and when pairing is worth it.

Missing values are handled per pair (``nan_strategy``): ``remove`` drops a timestamp where either side is NaN or
infinite, ``replace`` reads such a value as 0. ``outliers: remove`` drops the pairs whose difference is an IQR outlier.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from judges._types import JudgeParams, NanStrategy, OutlierStrategy
from judges.preprocessing import iqr_outliers

__all__ = ["Differences", "differences", "matched_share", "pairing"]


@dataclasses.dataclass(frozen=True, slots=True)
class Differences:
    """Matched values after preprocessing and their differences ``d`` (log ratio when ``log``)."""

    baseline: np.ndarray
    canary: np.ndarray
    d: np.ndarray
    log: bool
    timestamps: np.ndarray | None
    counts: dict[str, float]
    empty_side: str | None = None

    @property
    def size(self) -> int:
        return int(self.d.size)


def _array(opts: Mapping[str, Any], key: str) -> np.ndarray:
    try:
        return np.asarray(opts[key], dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`options.{key}` must be a 1-D array of numbers: {exc}") from None


def differences(opts: Mapping[str, Any], params: JudgeParams) -> Differences:
    """The differences of ``options.paired_baseline`` and ``options.paired_canary`` (equal lengths, time order)."""
    b, c = _array(opts, "paired_baseline"), _array(opts, "paired_canary")
    if b.size != c.size:
        raise ValueError(f"`options.paired_baseline` and `options.paired_canary` of {params.name} must have the "
                         f"same length, got {b.size} and {c.size}")
    ts = _array(opts, "paired_timestamps") if opts.get("paired_timestamps") is not None else None
    if ts is not None and ts.size != b.size:
        ts = None
    bad_b, bad_c = ~np.isfinite(b), ~np.isfinite(c)
    counts: dict[str, float] = {"n_nan_baseline": int(bad_b.sum()), "n_nan_canary": int(bad_c.sum())}
    empty = None if not b.size else "baseline" if bad_b.all() else "canary" if bad_c.all() else None
    if empty is not None:
        z = np.zeros(0)
        return Differences(z, z, z, False, None, counts, empty)
    if params.nan_strategy is NanStrategy.REPLACE:
        b, c = np.where(bad_b, 0.0, b), np.where(bad_c, 0.0, c)
    else:
        keep = ~(bad_b | bad_c)
        b, c, ts = b[keep], c[keep], None if ts is None else ts[keep]
    log = bool(b.size) and bool((b > 0).all() and (c > 0).all())
    d = np.log(c) - np.log(b) if log else c - b
    if params.outlier_strategy is OutlierStrategy.REMOVE and d.size:
        out = iqr_outliers(d, params.outlier_factor)
        counts["n_outlier_pairs"] = int(out.sum())
        b, c, d, ts = b[~out], c[~out], d[~out], None if ts is None else ts[~out]
    return Differences(b, c, d, log, ts, counts)


def matched_share(n_pairs: int, baseline: np.ndarray, canary: np.ndarray, min_pairs: int, min_share: float,
                  opts: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether ``n_pairs`` usable pairs are enough to pair on, and if not, why (for the fall-back's reason)."""
    shorter = min(int(np.isfinite(baseline).sum()), int(np.isfinite(canary).sum()))
    unmatched = f"{int(opts.get('unmatched_baseline', 0))} baseline and {int(opts.get('unmatched_canary', 0))} " \
                f"canary points have no partner"
    if n_pairs < min_pairs:
        return False, f"only {n_pairs} timestamps pair up (at least {min_pairs} needed; {unmatched})"
    if n_pairs < math.ceil(min_share * shorter):
        return False, (f"only {n_pairs} of the shorter side's {shorter} points pair up (pairing needs at least "
                       f"{min_share:.0%} of them; {unmatched})")
    return True, ""


def pairing(b_all: np.ndarray, c_all: np.ndarray, opts: Mapping[str, Any], params: JudgeParams, min_pairs: int,
            min_share: float) -> tuple[Differences | None, str, dict[str, float]]:
    """The differences a paired judge judges on, or None with why it falls back to the unpaired judge on the full
    samples ``b_all`` / ``c_all`` (and the counts it reports then)."""
    if "paired_baseline" not in opts or "paired_canary" not in opts:
        return None, "no timestamps were given to pair the samples on", {}
    diff = differences(opts, params)
    if diff.empty_side is not None:
        return None, f"the {diff.empty_side} has no data at the shared timestamps", {"n_pairs": 0.0}
    share_ok, why = matched_share(diff.size, b_all, c_all, min_pairs, min_share, opts)
    if not share_ok:
        return None, why, {"n_pairs": float(diff.size)}
    return diff, "", {}
