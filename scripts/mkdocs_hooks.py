"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks: [scripts/mkdocs_hooks.py]``).

* The configuration reference is rendered from ``analysis/config/schema.json`` at build time: a page holding the
  line ``<!-- canary:config-reference -->`` gets one table per mapping of the schema in its place, so the
  reference can never drift from the schema the loader runs.
* The navigation tolerates pages that other work will add: an entry of ``PLANNED`` whose file does not exist yet
  is left out (any other missing page still fails ``mkdocs build --strict``), and a page under ``docs/`` that the
  ``nav`` does not list is appended under "More", so a new page is never orphaned.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

MARKER = "<!-- canary:config-reference -->"
PLANNED = frozenset({"serve.md", "backtest.md", "guarantees.md", "report.md"})
SCHEMA = Path(__file__).resolve().parents[1] / "analysis" / "config" / "schema.json"
log = logging.getLogger("mkdocs.plugins.canary")


# --- navigation ------------------------------------------------------------------------------------------------

def _prune(nav: Any, docs: Path, dropped: list[str]) -> Any:
    if isinstance(nav, list):
        out = [_prune(item, docs, dropped) for item in nav]
        return [item for item in out if item is not None]
    if isinstance(nav, dict):
        (title, target), = nav.items()
        pruned = _prune(target, docs, dropped)
        return None if pruned is None or pruned == [] else {title: pruned}
    if isinstance(nav, str) and nav in PLANNED and not (docs / nav).is_file():
        dropped.append(nav)
        return None
    return nav


def _listed(nav: Any) -> Iterator[str]:
    if isinstance(nav, list):
        for item in nav:
            yield from _listed(item)
    elif isinstance(nav, dict):
        for target in nav.values():
            yield from _listed(target)
    elif isinstance(nav, str):
        yield nav


def tolerant_nav(nav: list[Any], docs: Path) -> tuple[list[Any], list[str]]:
    """The nav without planned pages that do not exist yet, plus every unlisted page under "More"."""
    dropped: list[str] = []
    nav = _prune(nav, docs, dropped)
    listed = set(_listed(nav))
    extra = sorted(str(p.relative_to(docs)) for p in docs.rglob("*.md") if str(p.relative_to(docs)) not in listed)
    if extra:
        nav = nav + [{"More": extra}]
    return nav, dropped


def on_config(config: Any) -> Any:
    if config.get("nav"):
        config["nav"], dropped = tolerant_nav(config["nav"], Path(config["docs_dir"]))
        for page in dropped:
            log.info("nav: %s is planned but not written yet; left out", page)
    return config


# --- configuration reference -----------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _deref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and the ``anyOf [X, null]`` of an optional key to the schema of the value."""
    while True:
        if "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif "anyOf" in node and any(b == {"type": "null"} for b in node["anyOf"]):
            rest = [b for b in node["anyOf"] if b != {"type": "null"}]
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **(rest[0] if len(rest) == 1 else
                                                                            {"anyOf": rest})}
        else:
            return node


def _ref(node: dict[str, Any]) -> str:
    """The ``$defs`` name a key's schema refers to, looking through the ``anyOf [X, null]`` of optional keys."""
    for branch in [node, *node.get("anyOf", ())]:
        if "$ref" in branch:
            return str(branch["$ref"]).rsplit("/", 1)[-1]
    return ""


def _type(node: dict[str, Any], root: dict[str, Any]) -> str:
    if _ref(node) in ("duration", "command"):
        return f"[{_ref(node)}](#{_ref(node)}s)"
    node = _deref(node, root)
    if "enum" in node:
        return " | ".join(f"`{v}`" for v in node["enum"] if v is not None)
    if "const" in node:
        return f"`{node['const']}`"
    if "anyOf" in node:
        return " or ".join(_type(b, root) for b in node["anyOf"])
    types = node.get("type", "any")
    types = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    words = []
    for t in types:
        if t == "array":
            items = node.get("items")
            words.append(f"list of {_type(items, root)}" if isinstance(items, dict) else "list")
        elif t == "object" and isinstance(node.get("additionalProperties"), dict):
            words.append(f"mapping of {_type(node['additionalProperties'], root)}")
        else:
            words.append({"object": "mapping", "boolean": "boolean"}.get(t, t))
    return " or ".join(words)


def _range(node: dict[str, Any]) -> str:
    lo = (">= ", node["minimum"]) if "minimum" in node else ("> ", node["exclusiveMinimum"]) \
        if "exclusiveMinimum" in node else None
    hi = ("<= ", node["maximum"]) if "maximum" in node else ("< ", node["exclusiveMaximum"]) \
        if "exclusiveMaximum" in node else None
    return ", ".join(f"{op}{v:g}" for op, v in (b for b in (lo, hi) if b is not None))


def _default(node: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default'])}`"


def _table(title: str, node: dict[str, Any], root: dict[str, Any], out: list[str],
           nested: list[tuple[str, dict[str, Any]]]) -> None:
    node = _deref(node, root)
    out += [f"### `{title}`" if title else "### Top level", ""]
    if node.get("description"):
        out += [node["description"], ""]
    props = node.get("properties", {})
    if not props:
        value = node.get("additionalProperties")
        if isinstance(value, dict):
            out += [f"A mapping of names to {_type(value, root)}" + (f" ({_range(value)})" if _range(value)
                                                                    else "") + ".", ""]
        else:
            out += ["No keys.", ""]
        return
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    required = set(node.get("required", ()))
    for key, sub in props.items():
        value = _deref(sub, root)
        desc = value.get("description") or sub.get("description", "")
        rng = _range(value)
        if rng:
            desc = f"{desc} Range: {rng}."
        if _ref(sub) in ("router", "hooks"):  # their own sections below
            path = f"{title}.{key}" if title else key
            desc = f"{desc} See [`{path}`](#{_anchor(path)})."
        elif value.get("type") in ("object", ["object", "null"]) and value.get("properties") is not None \
                and value.get("additionalProperties") is False:
            path = f"{title}.{key}" if title else key
            nested.append((path, sub))
            desc = f"{desc} See [`{path}`](#{_anchor(path)})."
        elif value.get("type") == "array" and isinstance(value.get("items"), dict) and \
                "properties" in _deref(value["items"], root):
            path = f"{title}.{key}[]" if title else f"{key}[]"
            nested.append((path, value["items"]))
            desc = f"{desc} See [`{path}`](#{_anchor(path)})."
        out.append(f"| `{key}` | {_cell(_type(sub, root))} | {_default(value, key in required)} | {_cell(desc)} |")
    out.append("")


def _anchor(title: str) -> str:
    """The id MkDocs' toc extension gives a heading ``### `title` ``."""
    import re

    slug = re.sub(r"[^\w\s-]", "", title.lower()).strip()
    return re.sub(r"[-\s]+", "-", slug)


def render_reference(schema: dict[str, Any]) -> str:
    """Markdown tables for every mapping of the config schema: the top level, each section, each nested mapping,
    every built-in router and every built-in judge's options."""
    out: list[str] = []
    queue: list[tuple[str, dict[str, Any]]] = []
    top = {k: v for k, v in schema.items() if k not in ("$defs",)}
    _table("", top, schema, out, queue)
    while queue:
        title, node = queue.pop(0)
        _table(title, node, schema, out, queue)
    defs = schema["$defs"]
    out += ["### `rollout.router`", "", _deref(defs["router"], schema)["description"], ""]
    for name, node in defs.items():
        if name.startswith("router_"):
            kind = node["properties"]["type"]["const"]
            _table(f"rollout.router (type: {kind})", node, schema, out, [])
    hooks = defs["hooks"]
    out += ["### `rollout.hooks`", "", hooks["description"], "",
            "| hook point | kind |", "|---|---|"]
    out += [f"| `{p}` | {_cell(h['description'])} |" for p, h in hooks["properties"].items()]
    out += ["", "Each hook point takes one command or a list of them. A command is a string (split like a shell "
            "would, run without one), a list of arguments, or a mapping:", ""]
    hook_obj = [b for b in defs["hook"]["anyOf"] if b.get("type") == "object"][0]
    _table("rollout.hooks.<point>", hook_obj, schema, out, [])
    for name, node in defs.items():
        if name.startswith("options_"):
            _table(f"metrics[].options (judge: {name[len('options_'):]})", node, schema, out, [])
    out += ["### Durations", "", defs["duration"]["description"], "",
            "### Commands", "", "A string (split like a shell would and run without one) or a list of arguments; "
            "`{baseline}`, `{canary}`, `{service}` and `{step}` are substituted where the command's key says so.",
            ""]
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, render_reference(json.loads(SCHEMA.read_text(encoding="utf-8"))))
    return markdown
