"""``canary validate``: a validated config described section by section, in words a reviewer can check.

Secrets are never shown: header values and token files are counted, not printed, and URLs lose their user info
and query string.
"""

from __future__ import annotations

import re
from typing import Any

from analysis.config import CanaryConfig

_USERINFO = re.compile(r"(https?://)[^/@\s'\"]*@")
_QUERY = re.compile(r"(https?://[^\s'\"?]*)\?[^\s'\")]*")


def public(text: str) -> str:
    """``text`` with every URL's user info and query string removed (they may carry credentials)."""
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", text))


def seconds(s: float) -> str:
    """A duration as written in configs: ``90s``, ``5m``, ``1h30m``, ``0.5s``."""
    if s != int(s) or s < 60:
        return f"{s:g}s"
    h, rest = divmod(int(s), 3600)
    m, sec = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (sec, "s")) if v)


def _metrics(cfg: CanaryConfig) -> list[str]:
    lines = [f"  metrics ({len(cfg.metrics)}):"]
    for m in cfg.metrics:
        flags = [f for f, on in (("critical", m.critical), ("must-have-data", m.must_have_data),
                                 ("muted", m.muted)) if on]
        lines.append(f"    {m.name}: judge {m.judge}, group {m.group}, direction {m.params.direction.value}"
                     + (f" ({', '.join(flags)})" if flags else ""))
    return lines


def _source(cfg: CanaryConfig) -> list[str]:
    c = cfg.collector
    if c is not None and c.name != "prometheus":
        keys = ", ".join(sorted(c.options)) or "no options"
        return [f"  collector: {c.name} ({keys}; values not shown)"] + _scopes(cfg)
    return _prometheus(cfg)


def _scopes(cfg: CanaryConfig) -> list[str]:
    lines = [f"  scope {scope}: " + (", ".join(f'{k}="{v}"' for k, v in labels.items()) or "(no labels)")
             for scope, labels in cfg.scopes.items()]
    if cfg.variables:
        lines.append("  variables: " + ", ".join(f"{k}={v}" for k, v in cfg.variables.items()))
    return lines


def _prometheus(cfg: CanaryConfig) -> list[str]:
    p = cfg.prometheus
    where = f"url {public(p.url)}" if p.url else "url not set (give --prometheus-url, or use --data)"
    secrets = []
    if p.headers:
        secrets.append(f"{len(p.headers)} header(s), values hidden")
    if p.bearer_token_file:
        secrets.append("bearer token from a file")
    lines = [f"  prometheus: {where}, step {seconds(p.step)}, timeout {seconds(p.timeout)}, retries {p.retries}, "
             f"concurrency {p.concurrency}, TLS {'verified' if p.verify_tls else 'NOT verified'}"
             + (f"; {'; '.join(secrets)}" if secrets else "")]
    return lines + _scopes(cfg)


def _hooks(ro: Any) -> list[str]:
    from analysis.rollout.hooks import ABORTING_HOOKS

    if not ro.hooks:
        return ["  hooks: none"]
    lines = ["  hooks:"]
    for h in ro.hooks:
        how = "shell" if h.shell else "no shell"
        effect = "a failure rolls back" if h.point in ABORTING_HOOKS else "a failure is reported, never acted on"
        lines.append(f"    {h.point}: {public(h.command)} ({how}, timeout {seconds(h.timeout)}; {effect})")
    return lines


def _rollout(cfg: CanaryConfig) -> list[str]:
    ro = cfg.rollout
    if ro is None:
        return ["  rollout: none (canary analyze and watch only; canary rollout needs a rollout: section)"]
    if ro.strategy.value == "canary":
        shape = "steps " + " -> ".join(f"{w}%" for w in ro.steps)
    else:
        analyses = [a for a, on in (("before the switch", ro.pre_promotion), ("after it", ro.post_promotion)) if on]
        shape = (f"preview weight {ro.preview_weight}%, analysis {' and '.join(analyses)}, "
                 f"blue kept {seconds(ro.scale_down_delay)} after the switch")
    lines = [f"  rollout: strategy {ro.strategy.value}, {shape}; interval {seconds(ro.interval)}, "
             f"warm-up {seconds(ro.warmup)}, analysis delay {seconds(ro.analysis_delay)}, "
             f"on marginal: {ro.on_marginal.value}; service {ro.service or cfg.name}"]
    describe = getattr(ro.router, "describe", None)
    router = describe() if callable(describe) else repr(ro.router)
    lines.append(f"  router: {public(router)}")
    return lines + _hooks(ro)


def describe(cfg: CanaryConfig) -> str:
    """Every section of ``cfg`` in words: metrics, groups and scoring, the data source, rollout, router, hooks."""
    lines = [f"{cfg.source}: valid config {cfg.name!r} with {len(cfg.metrics)} metric(s)"]
    lines += _metrics(cfg)
    weights = ", ".join(f"{g} {cfg.group_weights.get(g, 'shared')}" for g in cfg.groups())
    lines.append(f"  groups: {weights}")
    holm = f"; Holm correction across gating metrics at alpha {cfg.alpha:g}" if cfg.holm else "; no Holm correction"
    lines.append(f"  scoring: pass >= {cfg.thresholds.pass_:g}, marginal >= {cfg.thresholds.marginal:g}{holm}")
    lines += _source(cfg)
    lines += _rollout(cfg)
    return "\n".join(lines)
