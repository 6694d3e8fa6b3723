"""The shape of the code: imports run one way (judges <- analysis <- cli), and the public API is what it says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_judges_never_import_analysis_or_io_libraries():
    for path in (ROOT / "judges").rglob("*.py"):
        bad = _imports(path) & {"analysis", "prometheus_api_client", "requests", "click", "pandas", "matplotlib"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_the_prometheus_collector_imports_the_client():
    for path in (ROOT / "analysis").rglob("*.py"):
        if path.name == "prometheus.py" and path.parent.name == "collectors":
            continue
        assert "prometheus_api_client" not in _imports(path), path.relative_to(ROOT)


def test_http_goes_through_the_bounded_exchange():
    """requests is used where the bounded exchange (analysis/_http.py) is built on it; nothing else does HTTP by
    hand with urllib, so every request has its deadline, size limit and redirect rule."""
    allowed = {"analysis/_http.py", "analysis/collectors/prometheus.py", "analysis/rollout/routers/webhook.py"}
    for path in (ROOT / "analysis").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        names = _imports(path)
        if rel not in allowed:
            assert not names & {"requests", "urllib3"}, rel
        assert "urllib" not in names or "urllib.request" not in path.read_text(encoding="utf-8"), rel


def test_analysis_public_names_exist():
    import analysis

    for name in analysis.__all__:
        assert hasattr(analysis, name), name


def test_import_judges_and_help_stay_light():
    code = ("import sys, judges, analysis, analysis.cli, analysis.cli.cmd_backtest, analysis.runs.backtest; "
            "print(','.join(m for m in ('matplotlib', 'jinja2', 'pandas', 'prometheus_api_client', 'numba', "
            "'dask', 'distributed', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"heavy modules imported eagerly: {out}"


def test_canary_help_loads_no_heavy_module():
    code = ("import sys; from analysis.cli import main; sys.argv = ['canary', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', ','.join(m for m in ('numba', 'matplotlib', 'dask', 'distributed', 'pandas', 'scipy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "backtest" in out
    assert out.strip().endswith("LOADED"), out.strip().splitlines()[-1]


def test_nothing_below_the_cli_imports_it():
    from _imports import graph

    for module, deps in graph().items():
        if module.startswith("analysis.cli"):
            continue
        bad = sorted(d for d in deps if d == "analysis.cli" or d.startswith("analysis.cli."))
        assert not bad, f"{module} imports the CLI: {bad}"


def test_no_import_cycles():
    from _imports import cycles, graph

    assert cycles(graph()) == []


def test_no_module_over_500_lines():
    from _imports import modules

    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"split these modules: {long}"


def test_each_plugin_group_has_its_builtins_registered():
    from importlib.metadata import entry_points

    import judges
    from analysis.collectors import available as collectors
    from analysis.rollout.routers import available as routers

    groups = {g: {ep.name for ep in entry_points(group=g)}
              for g in ("canary_engine.judges", "canary_engine.collectors", "canary_engine.routers")}
    assert {"kayenta", "mann-whitney", "threshold", "rate", "sequential-rate", "sequential-mean"} \
        <= groups["canary_engine.judges"]
    assert {"file", "prometheus"} <= groups["canary_engine.collectors"]
    assert {"haproxy", "command", "webhook", "dry-run"} <= groups["canary_engine.routers"]
    for name in judges.available():
        plugin = judges.get_plugin(name)
        assert plugin.name == name and callable(plugin.judge)
    assert set(collectors()) == groups["canary_engine.collectors"]
    assert groups["canary_engine.routers"] <= set(routers())
