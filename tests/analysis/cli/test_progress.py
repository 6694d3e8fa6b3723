"""Progress bars: shown for long work on a terminal only, never in a pipe or with --quiet; the library reports
progress through a plain callback (fetched, then judged), which changes nothing about the result."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from _report_data import DEMO

from analysis import FileCollector, load_config
from analysis.cli import main
from analysis.cli.progress import progress_bar
from analysis.pipeline import analyze, collect
from analysis.runs.record import record


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _many(tmp_path, n: int = 60):
    rng = np.random.default_rng(3)
    lines = ["metric,scope,timestamp,value"]
    for i in range(n):
        for scope in ("baseline", "canary"):
            lines += [f"m{i:02d},{scope},{1767225600 + 15 * k},{v:.3f}" for k, v in enumerate(rng.normal(10, 1, 80))]
    data = tmp_path / "many.csv"
    data.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "many.yaml"
    cfg.write_text("name: many\nmetrics:\n" + "".join(f"  - {{name: m{i:02d}, judge: kayenta}}\n" for i in range(n)))
    return cfg, data


def test_no_bar_in_a_pipe_or_when_quiet():
    with progress_bar("x", stream=io.StringIO()) as p:
        assert p is None
    with progress_bar("x", stream=_Terminal(), quiet=True) as p:
        assert p is None


def test_a_bar_on_a_terminal_counts_the_items():
    out = _Terminal()
    with progress_bar("recording", stream=out) as p:
        assert p is not None
        for i in range(1, 6):
            p(i, 5, f"m{i}")
    assert "recording" in out.getvalue() and "5/5" in out.getvalue()


def test_collect_in_slices_reports_progress_and_returns_the_same_pairs(tmp_path):
    cfg_path, data = _many(tmp_path, 30)
    cfg, collector = load_config(cfg_path), FileCollector(data)
    calls = []
    sliced = collect(collector, cfg.metrics, collector.window(), lambda d, t, w: calls.append((d, t, w)))
    whole = collector.collect(cfg.metrics, collector.window())
    assert list(sliced) == list(whole)
    for name in whole:
        assert np.array_equal(sliced[name].canary.values, whole[name].canary.values)
    assert calls[-1][:2] == (30, 30) and [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
    assert all(w.startswith("fetched m") for _, _, w in calls)


def test_analyze_reports_fetching_then_judging(tmp_path):
    cfg_path, data = _many(tmp_path, 12)
    calls = []
    result = analyze(load_config(cfg_path), FileCollector(data), None, lambda d, t, w: calls.append(w))
    assert len(result.metrics) == 12
    fetched = [w for w in calls if w.startswith("fetched")]
    judged = [w for w in calls if w.startswith("judged")]
    assert fetched and len(judged) == 12 and calls.index(judged[0]) > calls.index(fetched[-1])


def test_record_reports_progress(tmp_path):
    cfg = load_config(DEMO / "canary.yaml")
    collector = FileCollector(DEMO / "healthy.csv")
    calls = []
    rec = record(cfg, collector, collector.window(), tmp_path / "out.csv",
                 progress=lambda d, t, w: calls.append((d, t)))
    assert calls[-1] == (len(cfg.metrics), len(cfg.metrics)) and rec.rows > 0


@pytest.mark.parametrize("quiet", [False, True])
def test_analyze_shows_a_bar_on_a_terminal_unless_quiet(tmp_path, monkeypatch, capsys, quiet):
    cfg, data = _many(tmp_path)
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(cfg), "--data", str(data), *(["--quiet"] if quiet else [])])
    assert e.value.code in (0, 1, 3)
    assert "verdict:" in capsys.readouterr().out
    assert ("analyzing" in err.getvalue()) is not quiet
    if quiet:
        assert err.getvalue() == ""


def test_analyze_in_a_pipe_prints_no_progress(tmp_path, capsys):
    cfg, data = _many(tmp_path)
    with pytest.raises(SystemExit):
        main(["analyze", str(cfg), "--data", str(data)])
    assert capsys.readouterr().err == ""
