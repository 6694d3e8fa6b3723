"""The terminal table: one meaning per column for every judge, colour only on a terminal and never with NO_COLOR."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _report_data import mixed_result

from analysis.cli.terminal import render

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _columns(text: str) -> tuple[list[str], dict[str, str]]:
    """The table's header cells and, per metric, its line (cells are separated by two or more spaces)."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("metric "))
    rows = {}
    for line in lines[head + 2:]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return re.split(r"\s{2,}", lines[head].strip()), rows


def test_threshold_metric_shows_its_statistic_in_its_own_column_not_as_a_shift():
    result = mixed_result()
    headers, rows = _columns(render(result))
    for name in ("metric", "group", "result", "baseline med", "canary med", "change [CI]", "p", "mean ratio",
                 "n b/c"):
        assert name in headers
    assert headers[-1] == "threshold stat (limit)"
    change, ratio = headers.index("change [CI]"), headers.index("mean ratio")
    memory = result.metric("memory_mb").statistics
    cells = re.split(r"\s{2,}", rows["memory_mb"].strip())
    assert cells[change] == "-" and cells[ratio] == "-"  # no comparison interval, no mean ratio for a threshold
    assert cells[-1] == f"{memory.estimate:.4g} (limit ≤ 900)"
    # the rank and rate judges write their change on their own scale, with the interval, and no threshold
    lat = re.split(r"\s{2,}", rows["latency_p99_ms"].strip())
    assert lat[change].startswith("+") and "[" in lat[change] and lat[-1] == "-"
    err = re.split(r"\s{2,}", rows["errors"].strip())
    assert err[change].startswith("×") and "[" in err[change]


def test_no_threshold_column_without_threshold_metrics():
    from _report_data import big_result

    headers, _ = _columns(render(big_result(3, 60)))
    assert "threshold stat (limit)" not in headers and "change [CI]" in headers


def _run_on_a_terminal(env: dict[str, str]) -> str:
    """``canary analyze`` with its stdout on a pseudo-terminal; returns what it printed there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "analysis.cli", "analyze", str(DEMO / "canary.yaml"),
                             "--data", str(DEMO / "regression.csv")], stdout=slave, stderr=subprocess.PIPE,
                            env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 1, proc.stderr.read()
    return b"".join(chunks).decode()


def test_colour_on_a_real_terminal():
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE")}
    out = _run_on_a_terminal(env)
    assert "verdict: " in out and ANSI.search(out)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color, coloured", [(None, True), ("1", False), ("", True)])
def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch, no_color, coloured):
    from analysis.cli import main

    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color is not None:
        monkeypatch.setenv("NO_COLOR", no_color)  # an empty NO_COLOR does not count (no-color.org)
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(DEMO / "canary.yaml"), "--data", str(DEMO / "regression.csv")])
    assert e.value.code == 1 and "verdict: " in out.getvalue()
    assert bool(ANSI.search(out.getvalue())) is coloured


def test_no_colour_when_piped(capsys):
    from analysis.cli import main

    with pytest.raises(SystemExit) as e:
        main(["analyze", str(DEMO / "canary.yaml"), "--data", str(DEMO / "regression.csv")])
    out = capsys.readouterr().out
    assert e.value.code == 1 and "verdict: FAIL" in out and not ANSI.search(out)
