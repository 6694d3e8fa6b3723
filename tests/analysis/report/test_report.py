"""The HTML report, the Markdown summary and the JUnit XML: content, order, escaping, self-containment, size."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from _report_data import HOSTILE_LABELS, HOSTILE_NAMES, HOSTILE_QUERY, big_result, demo_result, hostile_result

from analysis import SamplePair, Series, Window, judge_pairs, parse_config
from analysis.report import render_html, render_junit, render_markdown
from analysis.report import svg
from analysis.report.markdown import md


class _Page(HTMLParser):
    """Every element with its attributes, the text, and the raw contents of <style> and <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in self.raw:
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.raw[self._in].append(data)
        else:
            self.text.append(data)


def parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def hostile():
    return hostile_result()


@pytest.fixture(scope="module")
def hostile_html(hostile):
    return render_html(hostile)


def test_hostile_text_is_escaped_and_shown_verbatim(hostile_html):
    page = parse(hostile_html)
    text = "".join(page.text)
    for name in HOSTILE_NAMES:
        assert name in text, name
    assert HOSTILE_QUERY in text
    for value in HOSTILE_LABELS.values():
        assert value in text
    # only the report's own elements: one script, one style, no images, no handlers, no injected tags
    tags = [t for t, _ in page.elements]
    assert tags.count("script") == 1 and tags.count("style") == 1
    assert "img" not in tags
    for tag, attrs in page.elements:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    assert "<script>window" not in hostile_html and "<img" not in hostile_html


def test_no_external_references(hostile_html):
    page = parse(hostile_html)
    for tag, attrs in page.elements:
        assert "src" not in attrs, tag
        for key in ("href", "action", "xlink:href", "srcset", "poster", "data"):
            if attrs.get(key) is not None:
                assert attrs[key].startswith("#"), (tag, key, attrs[key])
        for key, value in attrs.items():  # a title is the full text of a name shortened with an ellipsis
            if key != "title":
                assert "http:" not in (value or "") and "https:" not in (value or ""), (tag, key)
    for body in page.raw["style"] + page.raw["script"]:
        assert "http" not in body and "url(" not in body and "@import" not in body
    # a URL may appear only as escaped user text (a label value and a metric name carry one)
    assert "https://evil.example" in "".join(page.text)
    outside_text = re.sub(r' title="[^"]*"', "", re.sub(r">[^<]*<", "><", hostile_html))
    assert "http://" not in outside_text and "https://" not in outside_text


def test_content_security_policy_forbids_fetches_and_pins_own_code(hostile_html):
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', hostile_html)
    assert m
    csp = m.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", csp) and "unsafe-inline" not in csp


def test_failing_metrics_come_first_with_verdict_score_and_thresholds():
    result = demo_result("regression")
    html = render_html(result)
    text = "".join(parse(html).text)
    assert result.verdict.value.upper() in text
    assert "pass ≥ 95" in text and "marginal ≥ 75" in text
    names = re.findall(r'<tr class="m (\w+)" data-status="\w+">\s*<td class="nm">'
                       r'<a href="#m-\d+" title="[^"]*"><bdi>([^<]+)</bdi>', html)
    statuses = [s for s, _ in names]
    assert statuses == sorted(statuses, key=lambda s: s != "fail")
    assert statuses[0] == "fail" and "pass" in statuses
    assert names[0][1] == "error_rate"  # the critical failure leads
    for g in result.group_scores:
        assert g in text
    for m in result.metrics:
        if m.reason:
            assert m.reason in text


def test_metric_table_shows_every_statistic_and_the_query(hostile):
    html = render_html(hostile)
    text = "".join(parse(html).text)
    m = hostile.metric(HOSTILE_NAMES[0])
    s = m.statistics
    from analysis.report._format import fmt

    for value in (s.baseline_median, s.canary_median, s.estimate, s.ci_lower, s.ci_upper, s.effect_size):
        assert fmt(value) in text
    assert f"{s.n_baseline}/{s.n_canary}" in text
    assert text.count(HOSTILE_QUERY) >= 2  # in the table and in the card


def test_data_quality_warnings_are_shown(hostile_html):
    text = "".join(parse(hostile_html).text)
    assert "fewer than 50" in text
    assert "baseline has 5 NaN values" in text
    assert "missing 40 points (gaps)" in text
    for tag in ("n<50", "NaN", "gaps"):
        assert f'<span class="tag">{tag.replace("<", "&lt;")}</span>' in hostile_html


def test_removed_outliers_are_a_warning():
    rng = np.random.default_rng(3)
    ts = 1767225600.0 + 15.0 * np.arange(120)
    base = rng.normal(100, 2, 120)
    base[[5, 50]] = [900.0, 1000.0]
    cfg = parse_config({"name": "o", "metrics": [{"name": "lat", "judge": "kayenta",
                                                   "outliers": {"strategy": "remove"}}]})
    result = judge_pairs(cfg, {"lat": SamplePair("lat", Series(ts, base), Series(ts, rng.normal(100, 2, 120)))},
                         Window(ts[0], ts[-1]))
    assert "2 baseline outliers removed" in "".join(parse(render_html(result)).text)


def test_charts_are_drawn_per_metric_and_interval_shows_the_band(hostile_html):
    n = len(HOSTILE_NAMES)
    assert hostile_html.count('class="chart ts"') == n
    assert hostile_html.count('class="chart ecdf"') == n
    assert hostile_html.count('class="chart iv"') == n
    assert hostile_html.count('class="band-ok"') == n
    assert hostile_html.count('class="ci fail"') == 2  # the two shifted metrics, drawn as failing


def test_result_without_series_still_renders():
    from analysis.results.io import result_from_dict

    d = demo_result("regression").to_dict(include_data=False)
    html = render_html(result_from_dict(d))
    assert html.count(">series not saved with this result<") == len(d["metrics"])


def test_200_metric_report_is_under_10_mb():
    result = big_result(200, 360)
    html = render_html(result)
    assert len(html.encode()) < 10_000_000
    assert html.count("<details") == 200
    # the long-series envelope keeps one chart small whatever the series length
    long = big_result(1, 20_000)
    assert len(render_html(long).encode()) < 200_000


@pytest.mark.parametrize("lo, hi, n, expected", [
    (0.0, 1.0, 4, [0.0, 0.25, 0.5, 0.75, 1.0]),
    (97.0, 143.0, 4, [100.0, 120.0, 140.0]),
    (-0.007, 0.03, 4, [0.0, 0.01, 0.02, 0.03]),
])
def test_nice_ticks(lo, hi, n, expected):
    assert svg.nice_ticks(lo, hi, n) == pytest.approx(expected)


def test_envelope_keeps_extremes_and_gaps_break_lines():
    ts = np.arange(10_000, dtype=float)
    vs = np.sin(ts / 100)
    vs[1234] = 50.0
    t, v = svg.envelope(ts, vs, 400)
    assert t.size == 400 and np.nanmax(v) == 50.0 and np.nanmin(v) == pytest.approx(vs.min())
    t, v = svg.with_gaps(np.array([0.0, 15, 30, 45, 600, 615]), np.ones(6))
    assert np.isnan(v).sum() == 1 and svg._path(t, v).count("M") == 2


def test_interval_handles_missing_and_degenerate_values():
    assert "no interval" in svg.interval(math.nan, math.nan, math.nan, None, (True, True), "warn")
    out = svg.interval(0.0, 0.0, 0.0, (-0.0, 0.0), (True, True), "pass")
    assert "nan" not in out.lower() and "inf" not in out


# --- Markdown --------------------------------------------------------------------------------------------------

def test_markdown_summary_lists_failures_first_and_escapes(hostile):
    text = render_markdown(hostile)
    assert text.startswith("## ❌ Canary analysis: **FAIL**")
    assert "**Score 0 / 100** (pass ≥ 95, marginal ≥ 75)" in text
    assert "<script" not in text and "<img" not in text and "</style" not in text
    not_passing = text.index("### Not passing (2)")
    passing = text.index("<summary>Passing (3)</summary>")
    assert not_passing < passing
    assert text.index(md(HOSTILE_NAMES[0])) < passing


def test_markdown_table_rows_have_exactly_the_header_cells(hostile):
    lines = render_markdown(hostile).splitlines()
    head = next(line for line in lines if line.startswith("| Metric"))
    n = len(re.findall(r"(?<!\\)\|", head))
    rows = [line for line in lines if line.startswith("| ") and re.search(r"\*\*(HIGH|PASS)", line)]
    assert len(rows) == len(HOSTILE_NAMES)
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == n, row


def test_markdown_caps_passing_rows():
    text = render_markdown(big_result(60, 60), max_rows=10)
    assert "more passing metrics" in text
    assert text.count("**PASS**") <= 10


# --- JUnit -----------------------------------------------------------------------------------------------------

def _cases(xml: str):
    root = ET.fromstring(xml.encode())
    suite = root.find("testsuite")
    return root, suite, {c.get("name"): c for c in suite.findall("testcase")}


def test_junit_one_case_per_metric_with_failures_and_reasons(hostile):
    xml = render_junit(hostile)
    root, suite, cases = _cases(xml)
    assert set(cases) == set(HOSTILE_NAMES)
    assert suite.get("tests") == "5" and suite.get("failures") == "2" and root.get("failures") == "2"
    for m in hostile.metrics:
        f = cases[m.name].find("failure")
        if m.classification.value == "high":
            assert f is not None and f.get("message") == m.reason and f.get("type") == "high"
            assert HOSTILE_QUERY in f.text
        else:
            assert f is None and cases[m.name].find("system-out") is not None
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["verdict"] == "fail" and props["score"] == "0" and props["threshold_pass"] == "95"


def _mixed_result():
    rng = np.random.default_rng(5)
    ts = 1767225600.0 + 15.0 * np.arange(100)
    metrics = [{"name": "must", "judge": "kayenta", "must_have_data": True},
               {"name": "optional", "judge": "kayenta"},
               {"name": "shadow", "judge": "kayenta", "muted": True, "direction": "increase"},
               {"name": "fine", "judge": "kayenta"}, {"name": "fine2", "judge": "kayenta"},
               {"name": "fine3", "judge": "kayenta"}]
    cfg = parse_config({"name": "mixed", "metrics": metrics})
    empty = Series(np.zeros(0), np.zeros(0))
    ok = lambda shift=0.0: SamplePair("x", Series(ts, rng.normal(10, 1, 100)),  # noqa: E731
                                      Series(ts, rng.normal(10 + shift, 1, 100)))
    pairs = {"must": SamplePair("must", Series(ts, rng.normal(10, 1, 100)), empty),
             "optional": SamplePair("optional", empty, empty), "shadow": ok(5.0), "fine": ok(), "fine2": ok(),
             "fine3": SamplePair("fine3", empty, empty, error="query timed out")}
    return judge_pairs(cfg, pairs, Window(ts[0], ts[-1]))


def test_junit_maps_nodata_error_and_muted():
    result = _mixed_result()
    _, suite, cases = _cases(render_junit(result))
    assert cases["must"].find("failure").get("type") == "nodata"
    assert cases["optional"].find("skipped") is not None
    assert cases["fine3"].find("error").get("message").endswith("query timed out")
    shadow = cases["shadow"].find("skipped")
    assert shadow is not None and shadow.get("message").startswith("muted (high)")
    assert cases["fine"].find("failure") is None and cases["fine"].find("skipped") is None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "2")


def test_junit_strips_characters_xml_cannot_carry():
    rng = np.random.default_rng(1)
    ts = 1767225600.0 + 15.0 * np.arange(60)
    name = "bell\x07 nul\x00 esc\x1b ok"
    cfg = parse_config({"name": "ctl", "metrics": [{"name": name, "judge": "kayenta"}]})
    result = judge_pairs(cfg, {name: SamplePair(name, Series(ts, rng.normal(size=60)),
                                                Series(ts, rng.normal(size=60)))}, None)
    _, _, cases = _cases(render_junit(result))
    assert list(cases) == ["bell\ufffd nul\ufffd esc\ufffd ok"]


# --- scales: each judge's estimate against what it tolerated ---------------------------------------------------

def test_each_judge_is_drawn_on_its_own_scale():
    from _report_data import mixed_result

    from analysis.report import _view

    result = mixed_result()
    sc = {m.name: _view.scale(m) for m in result.metrics}
    # every judge but kayenta and threshold: the band is the allowed effect it decided against
    assert (sc["errors"].kind, sc["errors"].reference, sc["errors"].band) == ("ratio", 1.0, (0.0, 1.25))
    assert sc["memory_mb"].kind == "value" and sc["memory_mb"].band == (-math.inf, 900.0)
    assert sc["memory_mb"].reference == result.metric("memory_mb").statistics.extra["baseline_statistic"]
    x = result.metric("latency_p99_ms").statistics.extra
    assert sc["latency_p99_ms"].kind == "shift" and sc["latency_p99_ms"].band == (-math.inf, x["allowed_upper"])
    x = result.metric("cpu").statistics.extra
    assert sc["cpu"].band == (x["allowed_lower"], x["allowed_upper"]) and x["allowed_lower"] < 0 < x["allowed_upper"]
    assert _view.shift(result.metric("errors")).startswith("×")
    html = render_html(result)
    text = "".join(parse(html).text)
    assert "Rate ratio and tolerance" in text and "Statistic and bounds" in text and "≤ 900" in text
    assert "PASS · muted" in text


def test_explicit_band_from_any_judge():
    from analysis.report import _view
    from analysis.results.io import result_from_dict

    r = result_from_dict({"verdict": "pass", "metrics": [{
        "name": "x", "judge": "custom", "classification": "pass", "direction": "increase",
        "statistics": {"estimate": 2.0, "ci_lower": 1.0, "ci_upper": 3.0,
                       "extra": {"band_lower": -5.0, "band_upper": 4.0}}}]})
    sc = _view.scale(r.metrics[0])
    assert sc.band == (-5.0, 4.0) and sc.gates == (True, False)
    assert 'class="band-ok"' in render_html(r)


def test_odd_saved_results_render_in_every_format(recwarn):
    from _report_data import odd_result

    result = odd_result()
    html = render_html(result)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert not re.search(r'="-?(?:nan|inf)', html), "no NaN or infinite coordinate reaches the SVG"
    assert ">values out of drawable range<" in html and ">no data points<" in html
    assert html.count("<details") == len(result.metrics)
    assert render_markdown(result).startswith("## ⛔ Canary analysis: **ERROR**")
    _, suite, cases = _cases(render_junit(result))
    assert len(cases) == len(result.metrics)


# -- the overview: first screen, severity order, hover values, wall-clock axis ---------------------------------

def test_overview_comes_first_with_why_groups_and_a_row_per_metric_linking_to_its_detail():
    result = big_result(50, 120)
    html = render_html(result)
    overview, details = html.index('id="overview"'), html.index('id="h-details"')
    assert overview < details
    head = html[overview:details]
    failing = [m for m in result.metrics if m.failed]
    assert f"Why: {len(failing)} failing metrics" in head
    for m in failing:  # the first screen says why: each failing metric with its reason
        assert m.reason.split(" ", 1)[1] in head
    rows = re.findall(r'<tr class="m (\w+)" data-status="\w+">\s*<td class="nm"><a href="#(m-\d+)"', head)
    assert len(rows) == 50 and [s for s, _ in rows] == sorted((s for s, _ in rows), key=lambda s: s != "fail")
    for _, anchor in rows:
        assert f'id="{anchor}"' in html[details:]
    for g in result.group_scores:
        assert g in head


def test_failing_details_are_open_and_passing_ones_closed():
    html = render_html(demo_result("regression"))
    cards = re.findall(r'<details class="card (\w+)" id="m-\d+" data-status="\w+"( open)?>', html)
    assert cards and all((status == "fail") == bool(opened) for status, opened in cards)


def test_time_series_have_wall_clock_ticks_and_hover_values():
    result = demo_result("regression")
    m = result.metric("error_rate")
    pair = result.pairs["error_rate"]
    chart = svg.timeseries((pair.baseline.timestamps, pair.baseline.values),
                           (pair.canary.timestamps, pair.canary.values))
    assert re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', chart)[:3] == ["00:00", "00:15", "00:30"]
    titles = [t.split("&#10;") for t in re.findall(r"<title>([^<]*)</title>", chart)]
    assert len(titles) == 32 and m.name
    # each tooltip holds real samples: the values at the time it names
    for when, base, can in titles:
        assert re.fullmatch(r"00:\d\d:\d\d UTC", when)
        t = pair.canary.timestamps[0] + sum(int(x) * f for x, f in zip(when[:8].split(":"), (3600, 60, 1)))
        for line, series in ((base, pair.baseline), (can, pair.canary)):
            i = int(np.argmin(np.abs(series.timestamps - t)))
            assert float(line.split()[1]) == pytest.approx(series.values[i], rel=1e-5), line


def test_fifty_metric_report_is_self_contained_and_under_5_mb():
    html = render_html(big_result(50, 360))
    assert len(html.encode()) < 5_000_000
    assert not re.search(r'(?:src|href)="(?!#)', html)


def test_readers_see_no_internal_fields():
    text = "".join(parse(render_html(demo_result("regression"))).text)
    for internal in ("p rank", "ci exact", "p welch", "bound", "band lower", "n nan"):
        assert internal not in text, internal
    assert "mean ratio (canary / baseline)" in text


def test_long_names_are_cut_with_an_ellipsis_and_kept_whole_in_a_title():
    from analysis.results.io import result_from_dict

    name = "a_very_long_metric_name_" * 12
    d = demo_result("healthy").to_dict(include_data=False)
    d["metrics"][0]["name"] = name
    html = render_html(result_from_dict(d))
    assert html.count(f'title="{name}') >= 2  # the overview row and the detail card
    css = html[html.index("<style>"):html.index("</style>")]
    assert ".nm, .gname { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;" in css


def test_detectability_is_a_column_when_the_judges_give_it():
    from analysis.results.io import result_from_dict

    d = demo_result("healthy").to_dict(include_data=False)
    d["metrics"][0]["statistics"]["extra"] = {"mde": 0.12}
    html = render_html(result_from_dict(d))
    assert '<th class="num">Detectable</th>' in html and "±12.0%" in html
    assert '<th class="num">Detectable</th>' not in render_html(demo_result("healthy"))


def test_inconclusive_outcome_is_rendered_when_present():
    from analysis.results.io import result_from_dict

    d = demo_result("healthy").to_dict(include_data=False)
    d["metrics"][0]["classification"] = "inconclusive"
    d["metrics"][0]["reason"] = "not enough data to tell"
    try:
        result = result_from_dict(d)
    except Exception:  # before the judges know the outcome, a saved inconclusive result cannot load
        pytest.skip("this build has no inconclusive outcome")
    html = render_html(result)
    assert 'class="cell inconclusive"' in html and "not enough data to tell" in html


# -- Markdown appends, JUnit names, both valid whatever the names --------------------------------------------------

def _md_tables(text: str) -> list[list[list[str]]]:
    """Every table of ``text`` as parsed by a CommonMark + GFM-tables parser: rows of cell texts."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables, row = [], None
    for t in tokens:
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t.content)
        elif t.type == "tr_close":
            tables[-1].append(row)
            row = None
    return tables


def test_markdown_tables_parse_with_every_hostile_name_in_its_own_cell(hostile):
    from markdown_it import MarkdownIt

    text = render_markdown(hostile)
    tables = _md_tables(text)
    metric_rows = [r for t in tables if t[0][0] == "Metric" for r in t[1:]]
    assert len(metric_rows) == len(HOSTILE_NAMES)
    for t in tables:
        assert len({len(r) for r in t}) == 1, "a row with more or fewer cells than its header"
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    rendered = parse(html)
    for name in HOSTILE_NAMES:
        assert " ".join(name.replace("\u202e", "\ufffd").split()) in "".join(rendered.text), name


def test_junit_names_cases_by_metric_and_classes_by_config_and_group(hostile):
    _, suite, cases = _cases(render_junit(hostile))
    for m in hostile.metrics:
        assert cases[m.name].get("classname") == f"canary.{hostile.config_name.replace('.', '_')}.{m.group}"
    result = big_result(3, 60)
    _, _, cases = _cases(render_junit(result))
    assert {c.get("classname") for c in cases.values()} == {f"canary.big.group{i}" for i in range(3)}


def test_markdown_summary_is_appended_to_an_existing_file(tmp_path):
    from analysis.report import write_reports

    summary = tmp_path / "step_summary.md"
    summary.write_text("## Build\n\nok\n", encoding="utf-8")
    first, second = demo_result("regression"), demo_result("healthy")
    write_reports(first, markdown=summary)
    write_reports(second, markdown=summary)
    text = summary.read_text(encoding="utf-8")
    assert text == "## Build\n\nok\n\n" + render_markdown(first).rstrip("\n") + "\n\n" + render_markdown(second)
    assert len(_md_tables(text)) == len(_md_tables(render_markdown(first))) + len(_md_tables(render_markdown(second)))
    fresh = tmp_path / "new.md"
    write_reports(demo_result("healthy"), markdown=fresh)
    assert fresh.read_text(encoding="utf-8") == render_markdown(demo_result("healthy"))
