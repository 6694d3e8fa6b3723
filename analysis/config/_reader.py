"""A small reader for nested config mappings that reports errors with the file and the key path.

Every message is one line: ``config.yaml: metrics[2].effect_size.allowed_increase: expected a number, got 'x'``.
"""

from __future__ import annotations

import builtins

import math
import re
from typing import Any, Iterable, Mapping

from analysis.errors import ConfigError

_MISSING = object()
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
MAX_DURATION = 100 * 365 * 86400.0  # longer is a typo, and would overflow datetime arithmetic
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``30s``, ``5m``, ``1.5h``, ``250ms`` or ``1d``; ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > 1e15:
            raise ValueError(f"expected a duration such as 30s or 5m, got a number of {len(str(abs(value)))} digits")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        if value > MAX_DURATION:
            raise ValueError(f"a duration of at most {MAX_DURATION / 86400 / 365:g} years is allowed, got {value:g}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and math.isfinite(seconds := float(m.group(1)) * _UNITS[m.group(2)]) and seconds <= MAX_DURATION:
            return seconds
        if m:
            raise ValueError(f"a duration of at most {MAX_DURATION / 86400 / 365:g} years is allowed, "
                             f"got {value[:40]!r}")
    raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


class Reader:
    """Reads one mapping of a config, remembering which keys were used so unknown keys can be reported."""

    def __init__(self, data: Any, path: str, source: str):
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            raise self.error(f"expected a mapping, got {_type_name(data)}")
        self.data = data
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, message: str, key: str | None = None) -> ConfigError:
        where = self.key(key) if key is not None else (self.path or "(top level)")
        return ConfigError(f"{self.source}: {where}: {message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self._seen.add(name)
        if name not in self.data or self.data[name] is None:
            if default is _MISSING:
                raise self.error("is required", name)
            return default
        return self.data[name]

    def str(self, name: builtins.str, default: Any = _MISSING, choices: Iterable[builtins.str] | None = None) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _MISSING:
            return v
        if not isinstance(v, str):
            raise self.error(f"expected a string, got {_type_name(v)} {_short(v)}", name)
        if choices is not None:
            choices = list(choices)
            if v not in choices:
                raise self.error(f"must be one of {', '.join(choices)}; got {_short(v)}", name)
        return v

    def bool(self, name: builtins.str, default: Any = _MISSING) -> Any:
        v = self.raw(name, default)
        if not isinstance(v, bool):
            raise self.error(f"expected true or false, got {_type_name(v)} {_short(v)}", name)
        return v

    def num(self, name: builtins.str, default: Any = _MISSING, *, lo: float | None = None, hi: float | None = None,
            lo_open: builtins.bool = False, hi_open: builtins.bool = False) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _MISSING:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(f"expected a number, got {_type_name(v)} {_short(v)}", name)
        if isinstance(v, int) and abs(v) > 1e300:  # float() would overflow
            raise self.error(f"expected a finite number, got an integer of {len(str(abs(v)))} digits", name)
        if not math.isfinite(v):
            raise self.error(f"expected a finite number, got {_short(v)}", name)
        if lo is not None and (v < lo or (lo_open and v == lo)):
            raise self.error(f"must be {'>' if lo_open else '>='} {lo:g}; got {_short(v)}", name)
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise self.error(f"must be {'<' if hi_open else '<='} {hi:g}; got {_short(v)}", name)
        return float(v)

    def duration(self, name: builtins.str, default: Any = _MISSING) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _MISSING:
            return v
        try:
            return parse_duration(v)
        except ValueError as e:
            raise self.error(str(e), name) from None

    def list(self, name: builtins.str, default: Any = _MISSING) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _MISSING:
            return v
        if not isinstance(v, list):
            raise self.error(f"expected a list, got {_type_name(v)}", name)
        return v

    def mapping(self, name: builtins.str, default: Any = _MISSING) -> Any:
        v = self.raw(name, default)
        if v is default and default is not _MISSING:
            return v
        if not isinstance(v, Mapping):
            raise self.error(f"expected a mapping, got {_type_name(v)}", name)
        return v

    def child(self, name: builtins.str, default: Any = _MISSING) -> "Reader | None":
        v = self.raw(name, _MISSING if default is _MISSING else None)
        if v is None:
            return None
        return Reader(v, self.key(name), self.source)

    def finish(self) -> None:
        """Reject keys that were never read (typos must not be ignored silently)."""
        unknown = [k for k in self.data if k not in self._seen]
        if unknown:
            known = sorted(self._seen)
            raise self.error(f"unknown key {unknown[0]!r}" + (f"; known keys: {', '.join(known)}" if known else ""),
                             str(unknown[0]))
