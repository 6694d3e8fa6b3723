"""The router hook: the one seam between a rollout and whatever splits the traffic.

A router is two methods wide. ``set_weights(baseline, canary)`` applies a split (percent, 0-100) and raises
``RouterError`` when the router refused or could not be reached; ``get_weights()`` reads the split back, or returns
``None`` when the router cannot tell (a write-only command or webhook). A rollout journals a weight change before it
calls ``set_weights`` and reconciles ``get_weights()`` with its journal when it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from analysis.errors import CanaryError


class RouterError(CanaryError):
    """The router refused a change, answered something unexpected or could not be reached (exit 4)."""


@dataclass(frozen=True, slots=True)
class Weights:
    """A traffic split in percent of the requests: ``baseline + canary`` is 100 for every split a rollout makes."""

    baseline: int
    canary: int

    def __post_init__(self) -> None:
        for name in ("baseline", "canary"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
                raise ValueError(f"{name} weight must be an integer from 0 to 100; got {v!r}")

    @staticmethod
    def canary_at(percent: int) -> "Weights":
        return Weights(100 - percent, percent)

    def to_dict(self) -> dict[str, int]:
        return {"baseline": self.baseline, "canary": self.canary}

    @staticmethod
    def from_dict(d: Any) -> "Weights | None":
        if not isinstance(d, dict):
            return None
        return Weights(int(d["baseline"]), int(d["canary"]))

    def __str__(self) -> str:
        return f"{self.baseline}/{self.canary}"


@runtime_checkable
class Router(Protocol):
    """Sets and reads the baseline/canary traffic split."""

    def set_weights(self, baseline: int, canary: int) -> None: ...

    def get_weights(self) -> Weights | None: ...


__all__ = ["Router", "RouterError", "Weights"]
