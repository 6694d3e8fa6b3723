"""PromQL text for one scope: ``${scope}`` and ``${name}`` placeholders expanded so no value can change the query.

* ``${scope}`` becomes the scope's label matchers, ``version="v1",pod="x"``; it must stand inside a selector's
  braces (``http_requests_total{${scope},code="500"}``).
* ``${name}`` comes from ``variables:`` or ``--var name=value``. Inside a quoted PromQL string the value is escaped
  for that string; outside strings it must be a single bare token (a number, a duration such as ``5m``, a metric or
  label name), because anything else would be PromQL structure rather than a value.
* Label values are escaped by PromQL's string rules (Go's: ``\\``, ``\"``, ``\n`` ...), so quotes, backslashes,
  braces and newlines in a value stay inside the string.

Every problem raises ``ConfigError`` naming the metric and the placeholder.
"""

from __future__ import annotations

import re
from typing import Mapping

from analysis.errors import ConfigError

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# a value that is one PromQL token outside strings: 0.99, 5m, 1h30m, -1, http_requests_total, job:rate5m
_BARE_TOKEN = re.compile(r"^[+-]?[A-Za-z0-9_:.]+$")
_SIMPLE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b", "\f": "\\f",
                   "\v": "\\v"}


def escape_string(value: str, quote: str = '"') -> str:
    """The body of a PromQL string literal delimited by ``quote`` (``"`` or ``'``) that reads back as ``value``.

    PromQL's lexer takes Go's escapes (``\\a \\b \\f \\n \\r \\t \\v \\\\ \\xNN`` and the quote itself) and stops
    a string at a raw newline; every other character, including ``}`` and non-ASCII text, stands for itself.
    """
    out = []
    for ch in value:
        if ch == quote:
            out.append("\\" + ch)
        elif ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{ord(ch):04X} cannot be sent as UTF-8")
        else:
            out.append(ch)
    return "".join(out)


def quote(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal."""
    return '"' + escape_string(value) + '"'


def matchers(labels: Mapping[str, str]) -> str:
    """Label matchers ``a="x",b="y"`` (equality, values escaped) in the mapping's order."""
    parts = []
    for name, value in labels.items():
        if not LABEL_NAME.match(name):
            raise ValueError(f"label name {name!r} is not a PromQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
        parts.append(f"{name}={quote(str(value))}")
    return ",".join(parts)


def format_labels(labels: Mapping[str, str]) -> str:
    """A series' label set as ``{a="x",b="y"}`` on one line (for messages), sorted by name."""
    return "{" + ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items())) + "}"


def _contexts(template: str) -> list[tuple[int, str, int]]:
    """For each ``${`` in ``template``: its offset, the string context (``"``, ``'``, `````` ` `````` or ``""`` when
    outside strings) and the selector-brace depth there. Comments (``#`` to end of line) count as outside."""
    out = []
    in_str = ""
    depth = 0
    comment = False
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "$" and template.startswith("${", i):
            out.append((i, in_str, depth))
        if comment:
            comment = ch != "\n"
        elif in_str:
            if ch == "\\" and in_str != "`":
                i += 1  # the escaped character cannot close the string
            elif ch == in_str:
                in_str = ""
        elif ch in "\"'`":
            in_str = ch
        elif ch == "#":
            comment = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        i += 1
    return out


def expand(template: str, scope_labels: Mapping[str, str] | None, variables: Mapping[str, str],
           where: str = "query") -> str:
    """Expand the placeholders of one query for one scope.

    Parameters
    ----------
    template : str
        The metric's ``query`` with ``${scope}`` and ``${name}`` placeholders.
    scope_labels : mapping or None
        The scope's labels (``scopes.baseline``); None when the config defines no scopes.
    variables : mapping
        Values for the other placeholders (``variables:`` merged with ``--var``).
    where : str
        Prefix for error messages, e.g. ``canary.yaml: metrics[2].query``.

    Returns
    -------
    str
        The PromQL query to send.

    Raises
    ------
    ConfigError
        An undefined or malformed placeholder, ``${scope}`` outside selector braces or inside a string, a scope
        without labels, an invalid label name, or a variable value that cannot be placed where it stands.
    """
    contexts = {i: (q, d) for i, q, d in _contexts(template)}
    out = []
    pos = 0
    for start in sorted(contexts):
        m = _PLACEHOLDER.match(template, start)
        if m is None:
            snippet = template[start:start + 12].split("\n")[0]
            raise ConfigError(f"{where}: malformed placeholder {snippet!r}; write ${{name}} with a name of letters, "
                              f"digits and _")
        name = m.group(1)
        in_str, depth = contexts[start]
        out.append(template[pos:start])
        pos = m.end()
        if name == "scope":
            out.append(_scope_text(scope_labels, in_str, depth, where))
        else:
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                raise ConfigError(f"{where}: undefined placeholder ${{{name}}}; define it under variables: or pass "
                                  f"--var {name}=VALUE (defined: {known})")
            out.append(_variable_text(name, str(variables[name]), in_str, where))
    out.append(template[pos:])
    return "".join(out)


def _scope_text(labels: Mapping[str, str] | None, in_str: str, depth: int, where: str) -> str:
    if in_str:
        raise ConfigError(f"{where}: ${{scope}} stands inside a string; it expands to label matchers and belongs "
                          f"inside a selector's braces, e.g. metric{{${{scope}}}}")
    if depth == 0:
        raise ConfigError(f"{where}: ${{scope}} must stand inside a selector's braces, e.g. metric{{${{scope}}}}")
    if labels is None:
        raise ConfigError(f"{where}: uses ${{scope}} but the config has no scopes: section "
                          f"(scopes: {{baseline: {{label: value}}, canary: {{label: value}}}})")
    if not labels:
        raise ConfigError(f"{where}: ${{scope}} needs at least one label in each scope")
    try:
        return matchers(labels)
    except ValueError as e:
        raise ConfigError(f"{where}: scope {e}") from None


def _variable_text(name: str, value: str, in_str: str, where: str) -> str:
    try:
        if in_str in ('"', "'"):
            return escape_string(value, in_str)
    except ValueError as e:
        raise ConfigError(f"{where}: variable {name}: {e}") from None
    if in_str == "`":
        if "`" in value:
            raise ConfigError(f"{where}: variable {name} contains a backtick and stands in a `raw` string, "
                              f"which cannot escape it; use a double-quoted string")
        return value
    if not _BARE_TOKEN.match(value):
        raise ConfigError(f"{where}: variable {name}={value!r} stands outside quotes, where only a single token "
                          f"(number, duration, name) is allowed; put ${{{name}}} inside quotes to use it as a string")
    return value


def placeholders(template: str) -> list[str]:
    """The placeholder names used in ``template``, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))
