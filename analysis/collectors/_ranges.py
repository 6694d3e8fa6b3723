"""Range queries longer than Prometheus allows: split the step grid, then stitch the answers back together.

Prometheus refuses a range query of more than 11,000 points per series ("exceeded maximum resolution"). A longer
window is fetched as consecutive sub-ranges on the same grid (the same start, step and points, only cut), and the
series of the answers are joined by label set in order, so the result is the one a single query would give.
"""

from __future__ import annotations

from typing import Any

MAX_POINTS = 11_000

__all__ = ["MAX_POINTS", "split", "stitch"]


def split(start_ms: int, step_ms: int, n: int, max_points: int = MAX_POINTS) -> list[tuple[int, int]]:
    """``(start_ms, points)`` of consecutive sub-grids of at most ``max_points`` points covering the ``n`` points
    ``start_ms + k * step_ms``."""
    if max_points < 1:
        raise ValueError(f"`max_points` must be >= 1, got {max_points}")
    return [(start_ms + k * step_ms, min(max_points, n - k)) for k in range(0, n, max_points)]


def stitch(parts: list[Any]) -> Any:
    """One answer (a list of ``{"metric", "values"}`` series) from the answers of consecutive sub-ranges.

    A part that is not such a list is returned as it is, so that the caller's validation reports it.
    """
    if len(parts) == 1:
        return parts[0]
    merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for part in parts:
        if not isinstance(part, list):
            return part
        for item in part:
            if not isinstance(item, dict) or not isinstance(item.get("metric", {}), dict) \
                    or not isinstance(item.get("values"), list):
                return part
            labels = item.get("metric", {})
            key = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
            merged.setdefault(key, {"metric": labels, "values": []})["values"].extend(item["values"])
    return list(merged.values())
