"""canary-engine judges: pure statistics (numpy, scipy). Never imports ``analysis``.

A judge is ``judge(baseline, canary, params) -> Judgement``. Built-ins are ``"module:function"`` targets in
``_BUILTIN``, loaded lazily like the third-party judges of the entry point group ``canary_engine.judges``; both are
found through :func:`get_judge` (a built-in name wins).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable

import numpy as np

from judges._types import (
    Classification,
    Direction,
    EffectMeasure,
    EffectSizeParams,
    Judgement,
    JudgeParams,
    NanStrategy,
    OutlierStrategy,
    Statistics,
    json_number,
)

JudgeFn = Callable[[np.ndarray, np.ndarray, JudgeParams], Judgement]

# name -> "module:function"; imported lazily so `import judges` stays cheap.
_BUILTIN: dict[str, str] = {
    "kayenta": "judges.kayenta:judge",
    "mann-whitney": "judges.mann_whitney:judge",
    "paired": "judges.paired:judge",
    "threshold": "judges.threshold:judge",
    "rate": "judges.rate:judge",
    "sequential-rate": "judges.anytime:judge_rate",
    "sequential-mean": "judges.anytime:judge_mean",
}
ENTRY_POINT_GROUP = "canary_engine.judges"


@lru_cache(maxsize=1)
def _registered() -> tuple[str, ...]:
    # scanning installed distributions is slow; a config with 1,000 metrics asks 1,000 times
    return tuple(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def available() -> list[str]:
    """Names of every judge: built-ins and those registered through entry points."""
    return sorted(set(_BUILTIN) | set(_registered()))


def get_judge(name: str) -> JudgeFn:
    """Return the judge function registered as ``name``; unknown names raise ``KeyError`` listing the known ones."""
    target = _BUILTIN.get(name)
    if target is not None:
        module, func = target.split(":")
        return getattr(import_module(module), func)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise KeyError(f"unknown judge {name!r}; known judges: {', '.join(available())}")


__all__ = [
    "Classification", "Direction", "EffectMeasure", "EffectSizeParams", "Judgement", "JudgeParams",
    "NanStrategy", "OutlierStrategy", "Statistics", "available", "get_judge", "json_number", "JudgeFn",
]
