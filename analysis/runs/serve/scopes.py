"""Scope strings of the HTTP clients (Kayenta ``scope``, the web provider's ``baseline``/``canary``, Flagger's
``metadata``) turned into the label sets that ``${scope}`` expands to.

Grammar: one or more matchers ``name=value`` joined by ``,`` or `` and `` (the Argo Rollouts docs' form,
``app=guestbook and rollouts-pod-template-hash=abc``). A value may be double-quoted with PromQL's escapes
(``version="v2"``). A label name is sanitised as Prometheus' Kubernetes discovery does (every character outside
``[A-Za-z0-9_]`` becomes ``_``), so Kubernetes label keys such as ``rollouts-pod-template-hash`` select the
``rollouts_pod_template_hash`` label. A bare value without ``=`` is allowed when the config's scope names exactly
one label: it becomes that label's value.
"""

from __future__ import annotations

import ast
import re
from typing import Mapping

__all__ = ["ScopeError", "parse_scope"]

_SPLIT = re.compile(r"\s*,\s*|\s+and\s+", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_LENGTH = 4096


class ScopeError(ValueError):
    """A scope string that does not parse (the message says why, in one line)."""


def _split(text: str) -> list[str]:
    """Split on ``,`` and `` and `` outside double quotes."""
    parts: list[str] = []
    buf: list[str] = []
    i, n, quoted = 0, len(text), False
    while i < n:
        ch = text[i]
        if quoted:
            buf.append(ch)
            if ch == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
            i += 1
            continue
        if ch == '"':
            quoted = True
            buf.append(ch)
            i += 1
            continue
        m = _SPLIT.match(text, i)
        if m and m.end() > i:
            parts.append("".join(buf))
            buf = []
            i = m.end()
            continue
        buf.append(ch)
        i += 1
    if quoted:
        raise ScopeError("unterminated double quote")
    parts.append("".join(buf))
    return parts


def _unquote(value: str, name: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            out = ast.literal_eval(value)  # PromQL's double-quoted strings take Go's (= Python's) escapes
        except (ValueError, SyntaxError):
            raise ScopeError(f"label {name}: bad escape in {value}") from None
        if not isinstance(out, str):
            raise ScopeError(f"label {name}: bad quoted value {value}")
        return out
    if '"' in value:
        raise ScopeError(f"label {name}: a value with a double quote must be quoted as a whole")
    if any(c.isspace() for c in value):
        raise ScopeError(f"label {name}: {value!r} holds a space; quote a value with spaces (name=\"a b\")")
    return value


def sanitise(name: str) -> str:
    """A label name as Prometheus' Kubernetes discovery writes it: ``[^A-Za-z0-9_]`` -> ``_``."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "_" + out if out[:1].isdigit() else out


def parse_scope(text: str, default: Mapping[str, str] | None = None, what: str = "scope") -> dict[str, str]:
    """The label set a scope string stands for.

    Parameters
    ----------
    text : str
        ``app=shop,version="v2"``, ``app=shop and version=v2``, or a bare value (see ``default``).
    default : mapping, optional
        The config's labels for this scope; when it holds exactly one label, a bare value sets that label.
    what : str
        Name of the field, for the message.

    Raises
    ------
    ScopeError
        Empty, too long, a matcher without ``=`` (and no single default label), an empty label name, a duplicate
        label, or a bad quoted value.
    """
    if not isinstance(text, str):
        raise ScopeError(f"{what}: expected a string of label matchers such as app=shop,version=v2")
    text = text.strip()
    if not text:
        raise ScopeError(f"{what}: empty; give label matchers such as app=shop,version=v2")
    if len(text) > _MAX_LENGTH:
        raise ScopeError(f"{what}: longer than {_MAX_LENGTH} characters")
    try:
        parts = _split(text)
    except ScopeError as e:
        raise ScopeError(f"{what}: {e}") from None
    if len(parts) == 1 and "=" not in parts[0]:
        if default is not None and len(default) == 1:
            (label,) = default
            return {label: _unquote(parts[0].strip(), label)}
        raise ScopeError(f"{what} {text!r}: expected label matchers name=value (joined by ',' or ' and '); a bare "
                         f"value is taken only when the config's scope names exactly one label")
    labels: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ScopeError(f"{what} {text!r}: {part.strip()!r} is not a matcher name=value")
        if value.startswith("~") or name.endswith("!"):
            raise ScopeError(f"{what} {text!r}: only equality matchers name=value are supported")
        label = sanitise(name)
        if not _NAME.match(label):
            raise ScopeError(f"{what} {text!r}: {name!r} is not a label name")
        if label in labels:
            raise ScopeError(f"{what} {text!r}: label {label} given twice")
        try:
            labels[label] = _unquote(value.strip(), label)
        except ScopeError as e:
            raise ScopeError(f"{what}: {e}") from None
        if not labels[label]:
            raise ScopeError(f"{what} {text!r}: label {label} has an empty value, which would also select every "
                             f"series without that label")
    return labels
