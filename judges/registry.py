"""The judge seam: a plugin is a name, a judge function, a typed options class and, optionally, a batched form.

Every judge, built-in or third-party, is registered through the entry point group ``canary_engine.judges``; the
entry point loads a :class:`JudgePlugin`. Unknown names raise ``KeyError`` listing the known ones; a metric's
``options`` are checked against the plugin's options class (unknown keys and wrong types raise ``ValueError``
naming the key and the known options), so a typo is never silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from judges._types import Judgement, JudgeParams

ENTRY_POINT_GROUP = "canary_engine.judges"
JudgeFn = Callable[[np.ndarray, np.ndarray, JudgeParams], Judgement]
BatchFn = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[JudgeParams]], list[Judgement]]
PoolFn = Callable[[np.ndarray, np.ndarray, JudgeParams], tuple[float, int] | None]


@dataclass(frozen=True, slots=True)
class NoOptions:
    """A judge that takes no options."""


@dataclass(frozen=True)
class JudgePlugin:
    """One judge as the registry knows it.

    Parameters
    ----------
    name : str
        The name configs use (``judge: NAME``).
    judge : callable
        ``judge(baseline, canary, params) -> Judgement``: pure, no I/O.
    options : type
        A dataclass whose fields are the judge's options with their defaults (``NoOptions`` for none). Field
        types are checked: ``bool``, ``int``, ``float`` and ``str``.
    judge_many : callable, optional
        ``judge_many(baselines, canaries, params) -> list[Judgement]``, equal metric by metric to ``judge``;
        the pipeline uses it for groups of metrics (the per-call overhead dominates at Prometheus sizes).
    paired : bool
        The judge compares the two scopes timestamp by timestamp: the pipeline matches their timestamps and adds
        the matched values to ``params.options`` (``analysis.series.Alignment.options``).
    tolerance : float
        The ``tolerance`` a config gives metrics judged by it when neither the metric nor ``defaults`` sets one:
        Kayenta's 0.25 for the rank judges (the interval must clear ``tolerance * |estimate|``), 0 for ``paired``.
    pool : callable, optional
        ``pool(baseline, canary, params) -> (value, n) | None``: a nuisance estimate the judge shares across a
        release. The pipeline calls it on every metric the plugin judges that has data (no collection error, no
        infinite values, no denominator), with the judge's own arguments (the alignment in ``params.options`` when
        ``paired``), and gives each metric the others' results (two finite numbers each) as
        ``params.options["peers"]`` (``paired``: the residual autocorrelation of the differences, see
        ``judges.paired.pooled_autocorrelation``).
    """

    name: str
    judge: JudgeFn
    options: type = NoOptions
    judge_many: BatchFn | None = None
    paired: bool = False
    tolerance: float = 0.25
    pool: PoolFn | None = None

    def parse_options(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``raw`` checked against the options class (the judge applies the defaults of what is not given).

        Raises ``ValueError`` as ``KEY: message`` (the caller prefixes where the options came from).
        """
        known = {f.name: f for f in fields(self.options)}
        names = ", ".join(known) or "none"
        for key, value in raw.items():
            f = known.get(key)
            if f is None:
                raise ValueError(f"{key}: unknown option of judge {self.name!r}; known options: {names}")
            _check_type(key, value, f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)))
        self.options(**raw)
        return dict(raw)


def _check_type(key: str, value: Any, type_name: str) -> None:
    kind = type_name.split("|")[0].strip()
    ok = {"bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
          "str": isinstance(value, str)}.get(kind, True)
    if not ok:
        raise ValueError(f"{key}: expected {'a finite number' if kind == 'float' else 'a ' + kind}, "
                         f"got {type(value).__name__} {value!r}")


@lru_cache(maxsize=1)
def _registered() -> dict[str, Any]:
    # scanning installed distributions is slow; a config with 1,000 metrics asks 1,000 times
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@lru_cache(maxsize=None)
def get_plugin(name: str) -> JudgePlugin:
    """The plugin registered as ``name``; unknown names raise ``KeyError`` listing the known ones."""
    ep = _registered().get(name)
    if ep is None:
        raise KeyError(f"unknown judge {name!r}; known judges: {', '.join(available()) or 'none installed'}")
    plugin = ep.load()
    if not isinstance(plugin, JudgePlugin):
        raise TypeError(f"entry point {ep.value!r} of judge {name!r} is not a JudgePlugin")
    return plugin


def get_judge(name: str) -> JudgeFn:
    """The judge function registered as ``name``."""
    return get_plugin(name).judge


def available() -> list[str]:
    """Names of every installed judge, built-ins included."""
    return sorted(_registered())
