"""The README is an entrance under 15,000 characters; docs/ is a MkDocs site that builds with --strict, whose
configuration and CLI references are generated (from the schema, from click); nothing names a missing file."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.cli import COMMANDS
from analysis.config.schema import schema

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
_spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
assert _spec is not None and _spec.loader is not None
mkdocs_hooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mkdocs_hooks)

# a path into the repository as prose or a command names it: `fixtures/demo/canary.yaml`, benchmarks/x.py
REPO_PATH = re.compile(r"(?<![\w./@-])((?:analysis|judges|fixtures|benchmarks|notebooks|scripts|tests|docs|\.ci)"
                       r"/[\w./-]*[\w/]|pyproject\.toml|mkdocs\.yml)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING" not in run.stderr, run.stderr[-3000:]
    return out


def test_readme_is_an_entrance_under_15000_characters():
    text = (ROOT / "README.md").read_text()
    assert len(text) < 15_000, len(text)
    # the two set-up commands, exactly as CI runs the second one
    assert "python3 -m pip install -e '.[serve,backtest]' && canary demo" in text
    assert "bash scripts/test.sh" in text
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    for use in ("## Gate a deployment", "## Report", "## Notebook", "## Rollout", "## Documentation"):
        assert use in text


def test_every_relative_link_resolves():
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{page.relative_to(ROOT)}: link to missing {target}"


def test_every_repository_path_mentioned_exists():
    mentioned = 0
    for page in PAGES:
        for path in REPO_PATH.findall(page.read_text()):
            mentioned += 1
            assert (ROOT / path.rstrip("/")).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"
    assert mentioned > 20


def test_the_site_builds_strict_with_every_page_in_the_navigation(site):
    home = (site / "index.html").read_text()
    for page in DOCS.rglob("*.md"):
        url = "" if page.stem == "index" else f"{page.relative_to(DOCS).with_suffix('')}/"
        assert (site / url / "index.html").is_file(), page
        # listed in mkdocs.yml, or appended under "More" by the hook: never an orphan
        assert f'href="{url}"' in home or f'href="./{url}"' in home or not url, f"{page} is not in the navigation"


def test_configuration_reference_is_generated_from_the_schema(site):
    html = (site / "configuration" / "index.html").read_text()
    assert mkdocs_hooks.MARKER not in html and "<!-- canary:config-reference" not in html
    defs = schema()["$defs"]
    sections = [schema(), defs["metric"], defs["prometheus"], defs["rollout"], defs["hook"]["anyOf"][1],
                *(d for k, d in defs.items() if k.startswith(("router_", "options_")))]
    for section in sections:
        for key in section.get("properties", {}):
            assert f"<code>{key}</code>" in html, key
    for point in defs["hooks"]["properties"]:
        assert f"<code>{point}</code>" in html


def test_cli_reference_is_generated_from_click(site):
    html = (site / "cli" / "index.html").read_text()
    for name in COMMANDS:
        assert f'id="canary-{name}"' in html, name
    assert "--prometheus-url" in html and "--only-failed" in html


def test_planned_pages_are_left_out_until_written_and_new_pages_appear(tmp_path):
    (tmp_path / "index.md").write_text("# x")
    (tmp_path / "serve.md").write_text("# serve")
    (tmp_path / "extra.md").write_text("# extra")
    nav = [{"Home": "index.md"}, {"Guides": [{"Server": "serve.md"}, {"Backtest": "backtest.md"}]},
           {"Typo": "rolout.md"}]
    pruned, dropped = mkdocs_hooks.tolerant_nav(nav, tmp_path)
    assert dropped == ["backtest.md"]
    # a missing page that is not planned stays, so `mkdocs build --strict` still fails on it
    assert pruned == [{"Home": "index.md"}, {"Guides": [{"Server": "serve.md"}]}, {"Typo": "rolout.md"},
                      {"More": ["extra.md"]}]


def test_the_haproxy_recipe_is_a_valid_haproxy_config(tmp_path):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    text = (DOCS / "recipes.md").read_text()
    block = re.search(r"```haproxy\n(.*?)```", text, re.S)
    assert block
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(block.group(1))
    run = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_import_in_the_python_examples_resolves():
    """The examples name the public API where it is now: a moved module or a renamed function fails here."""
    import importlib

    checked = 0
    for page in PAGES:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            for module, names in re.findall(r"^from ([\w.]+) import ([\w, ]+)$", block, re.M):
                mod = importlib.import_module(module)
                for name in (n.strip() for n in names.split(",")):
                    assert hasattr(mod, name), f"{page.relative_to(ROOT)}: {module} has no {name}"
                    checked += 1
    assert checked >= 10
