"""The HTML report in a real headless Chromium: no console errors, no requests, no injected code, readable on a
laptop screen (no horizontal scrolling at 1366x768), printable, with a screenshot taken each time.

Chromium is Debian's ``chromium``; without it these tests skip here and fail in CI (``CI=true``). Screenshots go
to the test's tmp dir, and also to ``$CANARY_SCREENSHOT_DIR`` when that is set (for a CI artifact).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from functools import lru_cache
from pathlib import Path

import pytest
from _chromium import Chromium, find_chromium
from _report_data import HOSTILE_NAMES, big_result, demo_result, hostile_result, mixed_result, odd_result

from analysis.report import render_html
from analysis.results.io import result_from_dict

WIDTH, HEIGHT = 1366, 768


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    if binary is None:
        message = "chromium not installed (Debian package chromium)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    b = Chromium(binary)
    try:
        yield b
    finally:
        b.close()


CASES = ("hostile", "hostile-from-json", "regression-without-series", "healthy", "mixed-judges", "odd", "200-metrics")


@lru_cache(maxsize=None)
def _case(name: str):
    if name == "hostile":
        return hostile_result()
    if name == "hostile-from-json":
        return result_from_dict(json.loads(_case("hostile").to_json(include_data=True)))
    if name == "regression-without-series":
        return result_from_dict(demo_result("regression").to_dict(include_data=False))
    if name == "healthy":
        return demo_result("healthy")
    if name == "mixed-judges":
        return mixed_result()
    if name == "odd":
        return odd_result()
    return big_result(200, 360)

_CHECKS = {
    "pwned": "typeof window.PWNED",
    "scripts": "document.scripts.length",
    "images": "document.images.length",
    "overflow": "document.documentElement.scrollWidth - window.innerWidth",
    "cards": "document.querySelectorAll('details.card').length",
    "rows": "document.querySelectorAll('tbody tr.m').length",
    "first_status": "document.querySelector('tbody tr.m').getAttribute('data-status')",
    "text": "document.body.innerText",
}


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def _save(png: bytes, tmp_path: Path, name: str) -> None:
    (tmp_path / f"{name}.png").write_bytes(png)
    out = os.environ.get("CANARY_SCREENSHOT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / f"{name}.png", Path(out) / f"report-{name}.png")


@pytest.mark.parametrize("case", CASES)
def test_report_opens_cleanly_in_chromium(browser, tmp_path, case):
    result = _case(case)
    path = tmp_path / "report.html"
    path.write_text(render_html(result), encoding="utf-8")
    run = browser.open(path.as_uri(), WIDTH, HEIGHT, evaluate=_CHECKS)
    _save(run.screenshot, tmp_path, case)

    assert run.console_errors == [] and run.exceptions == []
    assert run.requests == [path.as_uri()], "the report fetched something besides itself"
    ev = run.evaluations
    assert ev["pwned"] == "undefined" and ev["scripts"] == 1 and ev["images"] == 0
    assert ev["overflow"] <= 0, "the page scrolls sideways on a 1366 px wide screen"
    assert ev["cards"] == ev["rows"] == len(result.metrics)
    assert ev["first_status"] == ("fail" if any(m.failed for m in result.metrics) else "pass")
    assert result.verdict.value.upper() in ev["text"]
    assert _png_size(run.screenshot) == (WIDTH, HEIGHT)
    assert run.pdf.startswith(b"%PDF") and len(run.pdf) > 10_000
    assert run.title.startswith(result.verdict.value.upper())


def test_hostile_names_show_as_text_and_the_filter_works(browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(render_html(_case("hostile")), encoding="utf-8")
    names = json.dumps(list(HOSTILE_NAMES))
    run = browser.open(path.as_uri(), WIDTH, HEIGHT, evaluate={
        "shown": f"{names}.map(n => document.body.textContent.includes(n))",
        "filtered": """(() => {
            const q = document.getElementById('filter');
            q.value = 'APOSTROPHES';
            q.dispatchEvent(new Event('input'));
            const visible = [...document.querySelectorAll('tbody tr.m')].filter(r => !r.hidden).length;
            q.value = '';
            q.dispatchEvent(new Event('input'));
            const only = document.getElementById('only-failed');
            only.checked = true;
            only.dispatchEvent(new Event('change'));
            return [visible, document.getElementById('shown').textContent];
        })()""",
        "print_opens_cards": """(() => {
            const closed = document.querySelectorAll('details:not([open])').length;
            window.dispatchEvent(new Event('beforeprint'));
            return [closed, document.querySelectorAll('details:not([open])').length];
        })()""",
    })
    assert run.console_errors == [] and run.exceptions == []
    assert run.evaluations["shown"] == [True] * len(HOSTILE_NAMES)
    assert run.evaluations["filtered"] == [1, "2"]
    closed_before, closed_after = run.evaluations["print_opens_cards"]
    assert closed_before == 3 and closed_after == 0
