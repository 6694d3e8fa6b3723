"""Router registry: a router type name -> a factory that validates its config keys and returns a ``Router``.

Built-in routers (``haproxy``, ``command``, ``webhook``, ``dry-run``) are registered through the entry point group
``canary_engine.routers`` exactly like third-party ones (see ``pyproject.toml``). A factory is
``factory(reader) -> Router``: it reads its keys from the ``rollout.router`` mapping through an
``analysis.config._reader.Reader`` (so errors name the key), calls ``reader.finish()`` and must not connect anywhere yet.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

from analysis.config._reader import Reader
from analysis.rollout.routers.base import Router, RouterError, Weights

ENTRY_POINT_GROUP = "canary_engine.routers"
RouterFactory = Callable[[Reader], Router]

def _registered() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every router type: built-ins and third-party ones."""
    return sorted(_registered())


def get_factory(name: str) -> RouterFactory:
    """The factory registered as ``name``; unknown names raise ``KeyError`` listing the known ones."""
    ep = _registered().get(name)
    if ep is None:
        raise KeyError(f"unknown router type {name!r}; known types: {', '.join(available()) or 'none installed'}")
    factory: RouterFactory = ep.load()
    return factory


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
