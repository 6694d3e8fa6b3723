"""The config's JSON Schema (``schema.json``, draft 2020-12) and the structural check that runs it.

The schema describes every key the loader accepts, with types, enums, ranges and descriptions, and rejects unknown
keys. Editors read it (``# yaml-language-server: $schema=...``); :func:`validate_structure` runs it over a parsed
document before the loader's semantic checks (weights that add up, references between metrics, router
reachability of files and variables) and returns every error at once, in document order, each naming its key path
with metrics named by their ``name`` (``metrics[latency_p99].judge``), in the loader's own words.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from analysis.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("schema.json")

_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
               "integer": "a whole number", "boolean": "true or false", "null": "null"}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The config schema as a dict (read once from :data:`SCHEMA_PATH`)."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _required_keys() -> frozenset[str]:
    """Every key some mapping of the schema requires: a ``null`` there reads as missing, as in the loader."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(node.get("required", ()))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema())
    return frozenset(found)


def _type_name(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def metric_labels(metrics: Any) -> list[str]:
    """How each entry of ``metrics`` is named in key paths: its ``name`` when that is a non-empty string no other
    metric has, else its index."""
    if not isinstance(metrics, list):
        return []
    names = [m.get("name") if isinstance(m, Mapping) else None for m in metrics]
    usable = [n if isinstance(n, str) and n.strip() and names.count(n) == 1 else None for n in names]
    return [n if n is not None else str(i) for i, n in enumerate(usable)]


def key_path(doc: Any, path: Sequence[Any]) -> str:
    """``metrics[latency].effect_size.allowed_increase`` for the path ``["metrics", 0, "effect_size", ...]``."""
    out = ""
    node = doc
    labels: list[str] | None = None
    for part in path:
        if isinstance(part, int):
            label = labels[part] if labels is not None and part < len(labels) else str(part)
            out += f"[{label}]"
        else:
            out += f".{part}" if out else str(part)
        labels = metric_labels(node.get("metrics")) if part == "metrics" and isinstance(node, Mapping) else None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out or "(top level)"


def _bound(v: float) -> str:
    return f"{v:g}"


def _worded(message: str, value: Any) -> str:
    """A schema's own message as the loader words it: ``expected X, got VALUE``; a rule stands alone."""
    if not message.startswith("expected"):
        return message
    return f"{message}, got " + (_type_name(value) if isinstance(value, (dict, list)) else repr(value))


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(v), "object" if isinstance(v, Mapping) else "")


def _accepts(branch: Any, kind: str) -> bool:
    """Whether a branch of an ``anyOf`` admits values of JSON type ``kind`` at all (``$ref`` and ``anyOf`` followed)."""
    if not isinstance(branch, dict):
        return branch is True
    if "$ref" in branch:
        target: Any = schema()
        for part in str(branch["$ref"]).lstrip("#/").split("/"):
            target = target[part]
        return _accepts(target, kind)
    if "anyOf" in branch:
        return any(_accepts(b, kind) for b in branch["anyOf"])
    types = branch.get("type")
    if types is None:
        return True
    types = [types] if isinstance(types, str) else types
    return kind in types or (kind == "integer" and "number" in types)


def _branch(error: "ValidationError", branches: list[Any], custom: str | None) -> list["ValidationError"] | None:
    """The errors of the one branch of an ``anyOf`` that explains why it failed, or None to explain it as a
    whole: the only branch that is not ``null`` (an optional key), else the only branch that takes the value's
    type, else (without a message of its own) the branch whose errors reach deepest into the value."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        if sub.relative_schema_path:
            by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    real = [i for i, b in enumerate(branches) if b != {"type": "null"}]
    kind = _json_type(error.instance)
    typed = [i for i in real if _accepts(branches[i], kind)]
    if len(real) == 1:
        chosen = real[0]
    elif len(typed) == 1:
        chosen = typed[0]
    elif custom:
        return None
    else:
        chosen = max(typed or real, key=lambda i: max((len(e.absolute_path) for e in by_branch.get(i, [])),
                                                      default=-1))
    return by_branch.get(chosen) or None


def _messages(error: "ValidationError") -> Iterator[tuple[list[Any], str]]:
    """(path, message) pairs for one jsonschema error, in the loader's words (see :func:`_branch` for ``anyOf``).

    A schema node may word its own messages: ``x-messages`` maps a keyword to a template with ``{value}`` (and
    ``{key}``, ``{known}`` for unknown keys); ``errorMessage`` (also read by editors) words an ``anyOf``, a
    ``pattern`` or a ``not``.
    """
    path = list(error.absolute_path)
    # jsonschema types these as "X | Unset"; a reported error has them all set
    kind = str(error.validator)
    inst, sch, value = cast(Any, error.instance), cast(Any, error.schema), cast(Any, error.validator_value)
    custom = sch.get("errorMessage") if isinstance(sch, dict) else None
    template = sch.get("x-messages", {}).get(kind) if isinstance(sch, dict) else None
    if inst is None and path and path[-1] in _required_keys():
        yield path, "is required"  # a null reads as missing, as in the loader
    elif template and kind != "additionalProperties":
        yield path, template.format(value=inst)
    elif kind in ("anyOf", "oneOf"):
        chosen = _branch(error, value, custom)
        if chosen is not None:
            for sub in chosen:
                yield from _messages(sub)
            return
        yield path, _worded(custom or "expected one of the allowed forms", inst)
    elif kind == "required":
        for key in value:
            if isinstance(inst, Mapping) and key not in inst:
                yield path + [key], "is required"
    elif kind == "additionalProperties":
        names = list(sch.get("properties", {}))
        known = sorted(names)
        pattern = sch.get("patternProperties", {})
        for key in inst:
            if key not in known and not pattern:
                yield path + [key], template.format(key=key, known=", ".join(names)) if template else \
                    f"unknown key {key!r}" + (f"; known keys: {', '.join(known)}" if known else "")
    elif kind == "type":
        wanted = [t for t in ([value] if isinstance(value, str)
                              else value) if t != "null"]
        if wanted == ["integer"] and isinstance(inst, float) and math.isfinite(inst):
            yield path, f"expected a whole number, got {inst!r}"
            return
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        yield path, f"expected {words}, got {_type_name(inst)}" + ("" if isinstance(inst, (dict, list))
                                                                     else f" {inst!r}")
    elif kind == "enum":
        choices = [str(c) for c in value if c is not None]
        yield path, f"must be one of {', '.join(choices)}; got {inst!r}"
    elif kind == "minimum":
        yield path, f"must be >= {_bound(value)}; got {inst!r}"
    elif kind == "maximum":
        yield path, f"must be <= {_bound(value)}; got {inst!r}"
    elif kind == "exclusiveMinimum":
        yield path, f"must be > {_bound(value)}; got {inst!r}"
    elif kind == "exclusiveMaximum":
        yield path, f"must be < {_bound(value)}; got {inst!r}"
    elif kind == "minItems":
        yield path, custom or f"needs at least {value} item(s)"
    elif kind in ("pattern", "not", "minLength"):
        yield path, _worded(custom, inst) if custom else error.message
    else:
        yield path, custom or error.message


def _non_finite(node: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """YAML has ``.nan`` and ``.inf``; JSON Schema's range checks let them through, the loader must not."""
    if isinstance(node, float) and not math.isfinite(node):
        yield path, f"expected a finite number, got {node!r}"
    elif isinstance(node, Mapping):
        for k, v in node.items():
            yield from _non_finite(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _non_finite(v, path + [i])


def _position(doc: Any, path: Sequence[Any]) -> tuple[int, ...]:
    """Document order of a key path (a missing key sorts after its siblings)."""
    pos: list[int] = []
    node = doc
    for part in path:
        if isinstance(node, Mapping):
            keys = list(node)
            pos.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            pos.append(part)
            node = node[part] if part < len(node) else None
        else:
            pos.append(1 << 30)
            node = None
    return tuple(pos)


@lru_cache(maxsize=1)
def _validator() -> Any:
    """The schema's validator (built once: building it is costly)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _errors(doc: Any) -> list[tuple[list[Any], str]]:
    found = list(_non_finite(doc, []))
    for error in _validator().iter_errors(doc):
        found += list(_messages(error))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for p, m in sorted(found, key=lambda pm: _position(doc, pm[0])):
        where = tuple(map(str, p))
        # one message per key: the first explains it (a NaN also fails its range, a null also its type)
        if where not in seen:
            seen.add(where)
            unique.append((p, m))
    return unique


def validate_structure(doc: Any, source: str) -> list[str]:
    """Check a parsed config document against the schema.

    Parameters
    ----------
    doc
        The document as YAML or JSON parsed it.
    source
        The file it came from, for the messages.

    Returns
    -------
    list of str
        Every error, in document order, one line each: ``source: key.path: message`` (metrics named by their
        ``name``); empty when the document's structure is valid.
    """
    return [f"{source}: {key_path(doc, p)}: {m}" for p, m in _errors(doc)]


_PART = re.compile(r"\[([^\]]*)\]|\.?([^.\[]+)")


def _parse_key_path(doc: Any, where: str) -> list[Any]:
    """The path of a rendered key path (metric labels back to indices), for ordering messages."""
    path: list[Any] = []
    node = doc
    for label, key in _PART.findall(where):
        part: Any = key
        if label:
            labels = metric_labels(node) if path and path[-1] == "metrics" else []
            part = labels.index(label) if label in labels else int(label) if label.isdigit() else label
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return path


def in_document_order(doc: Any, errors: Sequence[str], source: str) -> list[str]:
    """``errors`` (lines ``source: key.path: message``) sorted by where their keys are in the document."""
    def position(line: str) -> tuple[int, ...]:
        where = line[len(source) + 2:].split(": ", 1)[0]
        return _position(doc, _parse_key_path(doc, where))

    return sorted(errors, key=position)


def config_error(errors: Sequence[str], source: str) -> ConfigError:
    """One ``ConfigError`` for all errors, on one line: the error itself for one, else
    ``source: N errors: key: message | key: message | ...``."""
    if len(errors) == 1:
        return ConfigError(errors[0])
    prefix = f"{source}: "
    parts = [e[len(prefix):] if e.startswith(prefix) else e for e in errors]
    return ConfigError(f"{source}: {len(errors)} errors: " + " | ".join(parts))


__all__ = ["SCHEMA_PATH", "config_error", "in_document_order", "key_path", "metric_labels", "schema",
           "validate_structure"]
