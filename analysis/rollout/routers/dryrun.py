"""A router that changes nothing: it remembers the split and reports it, to rehearse a rollout's decisions."""

from __future__ import annotations

import sys
from typing import Any, Mapping

from analysis.config._reader import Reader
from analysis.rollout.routers.base import Weights


class DryRunRouter:
    """Keeps the last split in memory; ``get_weights`` is ``None`` until one is set (nothing real to read)."""

    def __init__(self, initial: Weights | None = None, echo: bool = False):
        self.weights = initial
        self.echo = echo
        self.history: list[Weights] = []

    def __repr__(self) -> str:
        return "DryRunRouter()"

    def bind(self, context: Mapping[str, Any]) -> None:
        pass

    def set_weights(self, baseline: int, canary: int) -> None:
        self.weights = Weights(baseline, canary)
        self.history.append(self.weights)
        if self.echo:
            print(f"dry-run router: baseline {baseline} canary {canary}", file=sys.stderr)

    def get_weights(self) -> Weights | None:
        return self.weights


def from_config(r: Reader) -> DryRunRouter:
    """Keys: ``echo`` (print each change on stderr; default false)."""
    echo = r.bool("echo", False)
    r.finish()
    return DryRunRouter(echo=echo)
