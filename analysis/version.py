"""The engine's version, as installed (or the source tree's when running uninstalled)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("canary-engine")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"
