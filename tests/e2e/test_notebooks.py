"""The notebooks: committed without outputs, public API only, each with a papermill ``parameters`` cell, and each
run by papermill from top to bottom with parameters, as a pipeline would."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
DEMO = REPO / "fixtures" / "demo"


def test_the_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"analyze_recording.ipynb", "backtest.ipynb", "explore_result.ipynb",
                                           "tune_config.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_public_api_only_with_a_parameters_cell(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "clear the outputs before committing"
        assert "._" not in cell.source.replace("_repr_html_", ""), "notebooks use only public names"
        assert "import matplotlib.pyplot" not in cell.source
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "one papermill parameters cell, the first code cell"
    assert "OUTPUT_DIR" in tagged[0].source


def _run(path: Path, tmp_path: Path, **parameters):
    """Run ``path`` with papermill and ``parameters``; returns the executed notebook."""
    papermill = pytest.importorskip("papermill")
    out = tmp_path / f"{path.stem}.out.ipynb"
    papermill.execute_notebook(str(path), str(out), parameters={"OUTPUT_DIR": str(tmp_path / "out"), **parameters},
                               kernel_name="python3", cwd=str(path.parent), progress_bar=False)
    import nbformat

    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and all(k in injected[0].source for k in parameters)
    return nb, outputs


def _text(outputs) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


@pytest.mark.slow
def test_explore_result_opens_a_saved_result_json(tmp_path):
    from analysis import analyze_file, load_config

    saved = tmp_path / "result.json"
    saved.write_text(analyze_file(load_config(DEMO / "canary.yaml"), DEMO / "healthy.csv").to_json(include_data=True))
    nb, outputs = _run(REPO / "notebooks" / "explore_result.ipynb", tmp_path, RESULT=str(saved),
                       METRIC="latency_p99_ms")
    assert "<AnalysisResult 'checkout-service': PASS" in _text(outputs)
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"text/html", "image/png"} <= kinds, "the notebook shows its tables and plots"
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.slow
def test_analyze_recording_runs_an_analysis_from_a_recorded_file(tmp_path):
    nb, outputs = _run(REPO / "notebooks" / "analyze_recording.ipynb", tmp_path,
                       CONFIG=str(DEMO / "canary.yaml"), DATA=str(DEMO / "regression.csv"))
    text = _text(outputs)
    assert "verdict: fail | exit code 1 |" in text
    assert "error_rate is higher" in text  # the why: failing metrics with their reasons
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"result.json", "report.html", "summary.md", "junit.xml"}
    from analysis import load_result

    assert load_result(out / "result.json").verdict.value == "fail"


@pytest.mark.slow
def test_tune_config_runs_with_small_grids(tmp_path):
    nb, outputs = _run(REPO / "notebooks" / "tune_config.ipynb", tmp_path, CONFIDENCE=[0.9, 0.98],
                       TOLERANCE=[0.1, 0.5], ALLOWED_INCREASE=[1.0, 1.2])
    text = _text(outputs)
    assert "combinations pass the healthy canary and fail the regression" in text
    assert "of 4 combinations" in text  # the grid given, not the notebook's default


@pytest.mark.slow
def test_backtest_backtests_the_fixture_history_and_plots_false_alarms(tmp_path):
    pytest.importorskip("distributed")
    nb, outputs = _run(REPO / "notebooks" / "backtest.ipynb", tmp_path, EVERY=3600, WINDOW=1800, EFFECT=1.5)
    assert "<BacktestResult 'backtest-history': 12 windows" in _text(outputs)
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"text/html", "image/png"} <= kinds, "the notebook shows its tables and plots"
    import json

    saved = json.loads((tmp_path / "out" / "backtest.json").read_text(encoding="utf-8"))
    assert saved["windows"] == 12 and saved["effect"] == 1.5
    assert (tmp_path / "out" / "backtest.html").read_text(encoding="utf-8").startswith("<!doctype html>")
