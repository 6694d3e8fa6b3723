"""canary-engine judges: pure statistics (numpy, scipy). Never imports ``analysis``.

A judge is ``judge(baseline, canary, params) -> Judgement``, registered as a :class:`JudgePlugin` in the entry
point group ``canary_engine.judges`` (built-ins and third-party judges alike; see :mod:`judges.registry`).
"""

from __future__ import annotations

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

from judges.registry import ENTRY_POINT_GROUP, JudgeFn, JudgePlugin, NoOptions, available, get_judge, get_plugin

__all__ = [
    "Classification", "Direction", "EffectMeasure", "EffectSizeParams", "Judgement", "JudgeParams",
    "NanStrategy", "OutlierStrategy", "Statistics", "available", "get_judge", "json_number", "JudgeFn",
    "ENTRY_POINT_GROUP", "JudgePlugin", "NoOptions", "get_plugin",
]
