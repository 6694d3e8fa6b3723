"""The ``rollout:`` section of a canary config, validated into a frozen ``RolloutConfig``.

.. code-block:: yaml

    rollout:
      strategy: canary            # or blue-green
      steps: [10, 50, 100]        # canary weight in percent at each step; the last step promotes
      interval: 20s               # analysis window per step
      warmup: 5s                  # wait after each weight change before the window opens
      on_marginal: pause          # pause | fail | continue
      max_extensions: 2           # an inconclusive step is analysed again over a longer window up to 2 more times
      on_interrupt: rollback      # SIGINT/SIGTERM: rollback (canary 0) | hold (last safe weights, resumable)
      router: {type: haproxy, admin: "127.0.0.1:9999", backend: app, baseline: blue, canary: green}
      hooks:                      # see analysis.rollout.hooks: a list is one command, a shell only if asked
        pre_rollout: ./deploy-canary.sh
        pre_step: {run: [./smoke.sh, "{canary}"], timeout: 30s}

Errors are ``ConfigError`` naming the file and key path (``rollout.steps[2]``), as for the rest of the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analysis.errors import ConfigError
from analysis.config._reader import Reader
from analysis.rollout.hooks import Hook, parse_hooks
from analysis.rollout.routers import router_from_config
from analysis.rollout.routers.base import Router


class Strategy(StrEnum):
    CANARY = "canary"
    BLUE_GREEN = "blue-green"


class OnMarginal(StrEnum):
    """What a marginal verdict does to a rollout: stop and wait for a human, roll back, or go on as a pass."""

    PAUSE = "pause"
    FAIL = "fail"
    CONTINUE = "continue"


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    """A validated ``rollout:`` section. ``service`` is ``None`` when the config's ``name`` names the service."""

    strategy: Strategy
    router: Router = field(compare=False)
    interval: float
    steps: tuple[int, ...] = ()
    warmup: float = 0.0
    analysis_delay: float = 0.0
    on_marginal: OnMarginal = OnMarginal.PAUSE
    # an inconclusive analysis (not enough data to tell) is extended by one more interval up to this many times,
    # then the stage is not passed (halt at the last safe weights)
    max_extensions: int = 2
    hooks: tuple[Hook, ...] = ()
    service: str | None = None
    # blue-green
    scale_down_delay: float = 30.0
    preview_weight: int = 0
    pre_promotion: bool = True
    post_promotion: bool = True
    # what SIGINT/SIGTERM does: rollback (canary weight 0) or hold (the last safe weights, resumable)
    on_interrupt: str = "rollback"

    def hooks_at(self, point: str) -> tuple[Hook, ...]:
        return tuple(h for h in self.hooks if h.point == point)


def _steps(r: Reader) -> tuple[int, ...]:
    raw = r.list("steps")
    if not raw:
        raise r.error("needs at least one step", "steps")
    steps: list[int] = []
    for i, v in enumerate(raw):
        key = f"steps[{i}]"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise r.error(f"expected a whole percentage from 1 to 100, got {v!r}", key)
        v = int(v)
        if not 1 <= v <= 100:
            raise r.error(f"must be from 1 to 100 (percent of traffic to the canary); got {v}", key)
        if steps and v <= steps[-1]:
            raise r.error(f"steps must increase; {v} follows {steps[-1]}", key)
        steps.append(v)
    if all(v >= 100 for v in steps):
        raise r.error("needs at least one step below 100: a canary is analysed at each step below 100, so "
                      "[100] would promote without any analysis", "steps")
    return tuple(steps)


def _max_extensions(r: Reader) -> int:
    v = r.raw("max_extensions", 2)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= 100:
        raise r.error(f"expected a whole number of extensions from 0 to 100, got {v!r}", "max_extensions")
    return int(v)


def parse_rollout(r: Reader) -> RolloutConfig:
    """Validate the ``rollout:`` mapping read by ``r``; raises ``ConfigError`` naming the key."""
    strategy = Strategy(r.str("strategy", "canary", choices=[s.value for s in Strategy]))
    interval = r.duration("interval")
    if interval <= 0:
        raise r.error("must be > 0", "interval")
    kw: dict[str, Any] = {}
    if strategy is Strategy.CANARY:
        kw["steps"] = _steps(r)
        for key in ("scale_down_delay", "preview_weight", "pre_promotion", "post_promotion"):
            if r.has(key):
                raise r.error("applies to strategy blue-green only", key)
    else:
        if r.has("steps"):
            raise r.error("blue-green switches all traffic at once; steps apply to strategy canary", "steps")
        kw["scale_down_delay"] = r.duration("scale_down_delay", 30.0)
        kw["preview_weight"] = int(r.num("preview_weight", 0, lo=0, hi=50))
        if kw["preview_weight"] != r.raw("preview_weight", 0):
            raise r.error("expected a whole percentage", "preview_weight")
        kw["pre_promotion"] = r.bool("pre_promotion", True)
        kw["post_promotion"] = r.bool("post_promotion", True)
        if not (kw["pre_promotion"] or kw["post_promotion"]):
            raise r.error("blue-green needs at least one analysis: pre_promotion or post_promotion must be true",
                          "post_promotion")
    service = r.str("service", None)
    if service is not None and (not service.strip() or "/" in service):
        raise r.error(f"expected a service name without '/', got {service!r}", "service")
    router_r = r.child("router")
    assert router_r is not None
    router = router_from_config(router_r)
    cfg = RolloutConfig(
        strategy=strategy, router=router, interval=interval,
        warmup=r.duration("warmup", 0.0), analysis_delay=r.duration("analysis_delay", 0.0),
        on_marginal=OnMarginal(r.str("on_marginal", "pause", choices=[m.value for m in OnMarginal])),
        max_extensions=_max_extensions(r),
        hooks=parse_hooks(r.child("hooks", None)), service=service,
        on_interrupt=r.str("on_interrupt", "rollback", choices=["rollback", "hold"]), **kw)
    r.finish()
    return cfg


def service_name(rollout: RolloutConfig, config_name: str) -> str:
    """The service a rollout locks: ``rollout.service``, else the config's ``name``."""
    name = rollout.service or config_name
    if not name or "/" in name:
        raise ConfigError(f"rollout.service: cannot lock service {name!r}; set rollout.service")
    return name
