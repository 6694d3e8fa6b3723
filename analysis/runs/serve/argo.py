"""Argo Rollouts' ``web`` metric provider: ``GET /analysis/{configId}?baseline=&canary=&start=&end=&step=&var=``
(or ``POST`` with the same keys as JSON) runs one analysis and answers 200 with the result for every verdict, so a
``successCondition`` such as ``result == "pass"`` on ``jsonPath: "{$.verdict}"`` decides (integrations.md §3, §6).
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from analysis.config._reader import parse_duration
from analysis.errors import UsageError
from analysis.runs.intervals import parse_instant
from analysis.runs.serve.configs import Entry
from analysis.runs.serve.jobs import BadRequest, Job, check_variables, scopes_for

__all__ = ["parse_query", "window"]


def window(start: Any, end: Any, lookback: Any, what: str = "") -> tuple[float, float]:
    """(start, end) in epoch seconds from the CLI's time forms; ``end`` defaults to now, ``lookback`` to start."""
    now = float(int(time.time()))
    try:
        t_end = parse_instant(str(end), now, f"{what}end") if end not in (None, "") else now
        if lookback not in (None, "") and start not in (None, ""):
            raise BadRequest(f"give {what}start or {what}lookback, not both")
        if lookback not in (None, ""):
            try:
                t_start = t_end - parse_duration(lookback)
            except ValueError as e:
                raise BadRequest(f"{what}lookback: {e}") from None
        elif start not in (None, ""):
            t_start = parse_instant(str(start), now, f"{what}start")
        else:
            raise BadRequest(f"give the window: {what}start (e.g. now-30m) or {what}lookback (e.g. 30m)")
    except UsageError as e:
        raise BadRequest(str(e)) from None
    if t_end <= t_start:
        raise BadRequest(f"{what}end must be after {what}start")
    return t_start, t_end


def _step(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        step = parse_duration(value)
    except ValueError as e:
        raise BadRequest(f"step: {e}") from None
    if step <= 0:
        raise BadRequest("step must be longer than zero")
    return step


def _vars(items: Any) -> dict[str, str]:
    if isinstance(items, Mapping):
        return check_variables(items, "var")
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        raise BadRequest("var: expected NAME=VALUE items or an object")
    out = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise BadRequest(f"var {item!r}: expected NAME=VALUE")
        name, _, value = item.partition("=")
        out[name.strip()] = value
    return check_variables(out, "var")


def parse_query(entry: Entry, params: Mapping[str, Any]) -> Job:
    """The job of one web-provider request (query parameters or a JSON body with the same keys)."""
    unknown = set(params) - {"baseline", "canary", "start", "end", "lookback", "step", "var"}
    if unknown:
        raise BadRequest(f"unknown parameter {sorted(unknown)[0]!r}; known: baseline, canary, start, end, lookback, "
                         f"step, var")
    for key in ("baseline", "canary", "start", "end", "lookback", "step"):
        if params.get(key) is not None and not isinstance(params[key], (str, int, float)):
            raise BadRequest(f"{key}: expected a string")
    baseline, canary = scopes_for(entry, params.get("baseline"), params.get("canary"))
    start, end = window(params.get("start"), params.get("end"), params.get("lookback"))
    return Job(entry.id, baseline, canary, start, end, _step(params.get("step")), _vars(params.get("var") or []))
