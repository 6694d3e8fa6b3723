"""Router registry: a router type name -> a factory that validates its config keys and returns a ``Router``.

Built-in routers (``haproxy``, ``command``, ``webhook``, ``dry-run``) are registered through the entry point group
``canary_engine.routers`` exactly like third-party ones (see ``pyproject.toml``). A factory is
``factory(reader) -> Router``: it reads its keys from the ``rollout.router`` mapping through an
``analysis.config._reader.Reader`` (so errors name the key), calls ``reader.finish()`` and must not connect anywhere yet.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable

from analysis.config._reader import Reader
from analysis.rollout.routers.base import Router, RouterError, Weights

ENTRY_POINT_GROUP = "canary_engine.routers"
RouterFactory = Callable[[Reader], Router]

# The same targets pyproject.toml registers; used only when the package metadata is missing (an uninstalled tree).
_BUILTIN: dict[str, str] = {
    "haproxy": "analysis.rollout.routers.haproxy:from_config",
    "command": "analysis.rollout.routers.command:from_config",
    "webhook": "analysis.rollout.routers.webhook:from_config",
    "dry-run": "analysis.rollout.routers.dryrun:from_config",
}


def _registered() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every router type: built-ins and third-party ones."""
    return sorted(set(_BUILTIN) | set(_registered()))


def get_factory(name: str) -> RouterFactory:
    """The factory registered as ``name``; unknown names raise ``KeyError`` listing the known ones."""
    ep = _registered().get(name)
    if ep is not None:
        return ep.load()  # type: ignore[attr-defined]
    target = _BUILTIN.get(name)
    if target is None:
        raise KeyError(f"unknown router type {name!r}; known types: {', '.join(available())}")
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


def router_from_config(reader: Reader) -> Router:
    """Build the router a ``rollout.router`` mapping describes (``type`` plus the type's own keys)."""
    kind = reader.str("type")
    try:
        factory = get_factory(kind)
    except KeyError as e:
        raise reader.error(str(e.args[0]), "type") from None
    router = factory(reader)
    if not isinstance(router, Router):
        raise reader.error(f"router type {kind!r} did not build a router (needs set_weights and get_weights)")
    return router


__all__ = ["ENTRY_POINT_GROUP", "Router", "RouterError", "Weights", "available", "get_factory",
           "router_from_config"]
