"""Saved results read back (load_result), the report CLI, notebook views (plots, rich repr) and tuning helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from _report_data import DEMO, HOSTILE_LABELS, HOSTILE_NAMES, demo_config, demo_result, hostile_result

from analysis import DataError, judge_pairs, load_result
from analysis.cli import main
from analysis.results.io import result_from_dict
from analysis.runs.tuning import TUNABLE, compare, sweep, with_params


def run(*args, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return e.value.code, out, err


@pytest.fixture(scope="module")
def hostile():
    return hostile_result()


# --- load_result -----------------------------------------------------------------------------------------------

def test_round_trip_keeps_everything_including_series_labels_and_gaps(tmp_path, hostile):
    path = tmp_path / "r.json"
    path.write_text(hostile.to_json(include_data=True))
    back = load_result(path)
    assert json.loads(back.to_json(include_data=True)) == json.loads(hostile.to_json(include_data=True))
    assert back.exit_code == hostile.exit_code and back.verdict == hostile.verdict
    for name in HOSTILE_NAMES:
        a, b = hostile.pairs[name], back.pairs[name]
        np.testing.assert_array_equal(a.canary.timestamps, b.canary.timestamps)
        np.testing.assert_array_equal(a.baseline.values, b.baseline.values)  # NaN included
        assert dict(b.canary.labels) == HOSTILE_LABELS
        assert b.canary.missing == a.canary.missing
        assert back.metric(name).query == hostile.metric(name).query


def test_result_without_data_has_no_pairs(hostile):
    back = result_from_dict(hostile.to_dict(include_data=False))
    assert back.pairs == {} and len(back.metrics) == len(HOSTILE_NAMES)


def test_optional_keys_may_be_missing():
    r = result_from_dict({"verdict": "fail", "metrics": [{"name": "a", "classification": "high"}]})
    assert r.metric("a").statistics.n_baseline == 0 and r.window is None and r.thresholds.pass_ == 95.0


@pytest.mark.parametrize("doc, where", [
    ({"metrics": []}, "verdict: missing"),
    ({"verdict": "maybe", "metrics": []}, "verdict: 'maybe' is not one of"),
    ({"verdict": "fail", "metrics": {}}, "metrics: expected a list"),
    ({"verdict": "fail", "metrics": [{"name": "a", "classification": "weird"}]}, "metrics[0].classification"),
    ({"verdict": "fail", "metrics": [{"name": "a", "classification": "high", "statistics": {"p_value": "x"}}]},
     "metrics[0].statistics.p_value: expected a number"),
    ({"verdict": "fail", "metrics": [{"name": "a", "classification": "high",
                                      "data": {"canary": {"timestamps": [1, 2], "values": [1]}}}]},
     "metrics[0].data.canary: 2 timestamps but 1 values"),
    ({"verdict": "fail", "metrics": [{"name": 3, "classification": "high"}]}, "metrics[0].name: expected a string"),
    ({"verdict": "fail", "metrics": [{"name": "a", "classification": "high",
                                      "data": {"baseline": {"timestamps": [1, "x"], "values": [1, 2]}}}]},
     "metrics[0].data.baseline.timestamps[1]: expected a number or null"),
    ({"verdict": "fail", "window": {"start": "yesterday", "end": None}, "metrics": []}, "window.start"),
])
def test_shape_errors_name_the_key_path(doc, where):
    with pytest.raises(DataError) as e:
        result_from_dict(doc, "r.json")
    assert str(e.value).startswith("r.json: ") and where in str(e.value)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_result(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "verdict": "fail",\n  oops\n}')
    with pytest.raises(DataError, match=r"bad.json: line 3: not valid JSON"):
        load_result(bad)


# --- CLI -------------------------------------------------------------------------------------------------------

@pytest.fixture
def kayenta_config(tmp_path):
    import yaml

    cfg = yaml.safe_load((DEMO / "canary.yaml").read_text())
    cfg["defaults"] = {"judge": "kayenta"}
    cfg["metrics"] = [m for m in cfg["metrics"] if m.get("judge") != "threshold"]
    cfg["groups"] = {"latency": 50, "errors": 30, "saturation": 20}
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_analyze_writes_all_three_reports_and_keeps_its_exit_code(tmp_path, capsys, kayenta_config):
    rc, out, _ = run("analyze", kayenta_config, "--data", DEMO / "regression.csv", "--report", tmp_path / "r.html",
                     "--summary-md", tmp_path / "s.md", "--junit", tmp_path / "j.xml", capsys=capsys)
    assert rc == 1 and "verdict: FAIL" in out
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!doctype html>") and "error_rate" in html
    assert "FAIL" in (tmp_path / "s.md").read_text().splitlines()[0]
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert len(suite.findall("testcase")) == 4 and suite.get("failures") == "3"


def test_report_command_renders_a_saved_result(tmp_path, capsys, kayenta_config):
    rc, _, _ = run("analyze", kayenta_config, "--data", DEMO / "regression.csv", "--json", tmp_path / "r.json",
                   "--report", tmp_path / "direct.html", capsys=capsys)
    assert rc == 1
    rc, out, err = run("report", tmp_path / "r.json", "-o", tmp_path / "from-json.html", "--junit",
                       tmp_path / "j.xml", "--summary-md", "-", capsys=capsys)
    assert rc == 0
    assert out.startswith("## ❌ Canary analysis: **FAIL**")
    assert f"wrote {tmp_path / 'from-json.html'}" in err
    assert (tmp_path / "from-json.html").read_text() == (tmp_path / "direct.html").read_text()
    assert ET.parse(tmp_path / "j.xml").getroot().get("tests") == "4"


def test_summary_md_appends_like_github_step_summary_expects(tmp_path, capsys, kayenta_config, monkeypatch):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# Deploy\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rc, _, _ = run("analyze", kayenta_config, "--data", DEMO / "regression.csv", "--summary-md", summary,
                   "--json", tmp_path / "r.json", capsys=capsys)
    assert rc == 1
    rc, _, _ = run("report", tmp_path / "r.json", "--summary-md", summary, capsys=capsys)
    assert rc == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# Deploy\n\n## ❌ Canary analysis: **FAIL**")
    assert text.count("## ❌ Canary analysis: **FAIL**") == 2


@pytest.mark.parametrize("args, message", [
    ([], "nothing to write"),
    (["-o", "-", "--junit", "-"], "only one output can go to stdout"),
])
def test_report_usage_errors(tmp_path, capsys, args, message):
    path = tmp_path / "r.json"
    path.write_text(demo_result().to_json())
    rc, _, err = run("report", path, *args, capsys=capsys)
    assert rc == 2 and message in err and "Traceback" not in err


def test_report_on_a_broken_result_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"verdict": "fail", "metrics": [{"name": "a", "classification": "meh"}]}))
    rc, _, err = run("report", path, "-o", tmp_path / "out.html", capsys=capsys)
    assert rc == 2
    assert err.strip().count("\n") == 0 and "metrics[0].classification" in err
    assert not (tmp_path / "out.html").exists()


def test_report_into_a_missing_directory_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(demo_result().to_json())
    rc, _, err = run("report", path, "-o", tmp_path / "nope" / "out.html", capsys=capsys)
    assert rc == 2 and "does not exist" in err


# --- notebook views --------------------------------------------------------------------------------------------

def test_repr_html_is_escaped_rich_table_failing_first(hostile):
    html = hostile._repr_html_()
    assert "<script>window" not in html and "&lt;script&gt;window.PWNED" in html
    assert html.count("<svg") == len(HOSTILE_NAMES)  # one sparkline per metric
    assert html.index("HIGH · critical") < html.index("PASS")


def test_plot_returns_a_figure_without_pyplot():
    code = ("import sys; sys.path.insert(0, 'tests'); from _report_data import demo_result; "
            "r = demo_result('regression'); fig = r.plot('latency_p99_ms'); "
            "print(type(fig).__name__, len(fig.axes), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=DEMO.parents[1]).stdout.split()
    assert out == ["Figure", "3", "False"]


def test_plot_without_series_draws_the_interval_only(hostile):
    back = result_from_dict(hostile.to_dict())
    fig = back.plot(HOSTILE_NAMES[0])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no series saved" in texts and "no interval" not in texts


# --- tuning ----------------------------------------------------------------------------------------------------

def test_with_params_changes_only_the_named_metrics():
    cfg = demo_config()
    out = with_params(cfg, ["cpu_cores"], confidence=0.9, allowed_increase=1.5, judge="kayenta")
    cpu, other = out.metric("cpu_cores"), out.metric("latency_p50_ms")
    assert cpu.params.confidence == 0.9 and cpu.params.effect_size.allowed_increase == 1.5
    assert other.params == cfg.metric("latency_p50_ms").params
    with pytest.raises(ValueError, match="tunable: judge"):
        with_params(cfg, nonsense=1)
    with pytest.raises(KeyError, match="no metric named nope"):
        with_params(cfg, ["nope"], confidence=0.9)
    assert "allowed_increase" in TUNABLE


def test_sweep_and_compare_show_how_the_verdict_moves():
    cfg = demo_config()
    result = demo_result("regression")
    frame = sweep(cfg, result.pairs, result.window, metrics=["latency_p50_ms", "latency_p99_ms", "error_rate"],
                  allowed_increase=[1.0, 10.0])
    assert list(frame["allowed_increase"]) == [1.0, 10.0]
    assert frame["verdict"].tolist() == ["fail", "pass"]  # an effect-size gate of 10x lets the regression through
    loose = judge_pairs(with_params(cfg, allowed_increase=10.0), result.pairs, result.window)
    diff = compare(result, loose)
    assert diff.loc["latency_p99_ms", "before"] == "high" and diff.loc["latency_p99_ms", "after"] == "pass"
    assert bool(diff.loc["latency_p99_ms", "changed"])


def test_interval_runs_write_the_reports_of_the_final_verdict(tmp_path, capsys, kayenta_config):
    rc, out, _ = run("analyze", kayenta_config, "--data", DEMO / "healthy.csv", "--interval", "20m",
                     "--json", tmp_path / "run.json", "--report", tmp_path / "r.html", "--junit", tmp_path / "j.xml",
                     capsys=capsys)
    assert "interval 1/2" in out
    final = load_result(tmp_path / "run.json")  # an interval run's JSON is a result with the intervals added
    assert rc == final.exit_code
    assert f"<title>{final.verdict.value.upper()}" in (tmp_path / "r.html").read_text()
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "j.xml").getroot().iter("property")}
    assert props["verdict"] == final.verdict.value


def test_a_result_nested_too_deeply_is_a_data_error(tmp_path):
    (tmp_path / "r.json").write_text('{"metrics": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(DataError, match="nested too deeply"):
        load_result(tmp_path / "r.json")
