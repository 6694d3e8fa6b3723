"""Query expansion and PromQL escaping: placeholders, scopes, variables, and values built to break the query.

The escaping is checked against the real parser: every value, sent through ``label_replace`` in a query, must come
back from Prometheus unchanged.
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from analysis.collectors import promql
from analysis.errors import ConfigError

SCOPE = {"app": "shop", "version": "v1"}


@pytest.mark.parametrize("value, literal", [
    ("v1", '"v1"'),
    ('a"b', r'"a\"b"'),
    ("back\\slash", r'"back\\slash"'),
    ("brace}{", '"brace}{"'),
    ("new\nline", r'"new\nline"'),
    ("tab\tcr\r", r'"tab\tcr\r"'),
    ("nul\x00del\x7f", r'"nul\x00del\x7f"'),
    ("é€ 中", '"é€ 中"'),
    ("", '""'),
])
def test_quote(value, literal):
    assert promql.quote(value) == literal


def test_single_quoted_strings_escape_their_own_quote():
    assert promql.escape_string("it's \"x\"", "'") == "it\\'s \"x\""


def test_scope_expands_to_matchers_in_config_order():
    q = promql.expand('sum(rate(http_requests_total{${scope},code=~"5.."}[1m]))', SCOPE, {})
    assert q == 'sum(rate(http_requests_total{app="shop",version="v1",code=~"5.."}[1m]))'


def test_every_occurrence_expands():
    q = promql.expand("a{${scope}} / b{${scope}}", {"v": "x"}, {})
    assert q == 'a{v="x"} / b{v="x"}'


def test_a_value_built_to_escape_the_string_stays_inside_it():
    q = promql.expand("m{${scope}}", {"version": 'x"} or vector(1) or m{a="'}, {})
    assert q == r'm{version="x\"} or vector(1) or m{a=\""}'


@pytest.mark.parametrize("template, variables, expected", [
    ("rate(m{${scope}}[${range}])", {"range": "5m"}, 'rate(m{v="1"}[5m])'),
    ('histogram_quantile(${q}, m{${scope}})', {"q": "0.99"}, 'histogram_quantile(0.99, m{v="1"})'),
    ('m{${scope},job="${job}"}', {"job": 'a"b'}, r'm{v="1",job="a\"b"}'),
    ("m{${scope},job='${job}'}", {"job": "it's"}, "m{v=\"1\",job='it\\'s'}"),
    ("m{${scope},job=`${job}`}", {"job": 'a"b\\'}, 'm{v="1",job=`a"b\\`}'),
    ("# note ${range}\nm{${scope}}", {"range": "5m"}, '# note 5m\nm{v="1"}'),
])
def test_variables(template, variables, expected):
    assert promql.expand(template, {"v": "1"}, variables) == expected


@pytest.mark.parametrize("template, scope, variables, message", [
    ("m{${scope}} > ${limit}", SCOPE, {}, "undefined placeholder ${limit}"),
    ("m{${scope}}[${ range}]", SCOPE, {}, "malformed placeholder"),
    ("m{${scope}}[${}]", SCOPE, {}, "malformed placeholder"),
    ('m{job="${scope}"}', SCOPE, {}, "inside a string"),
    ("${scope}", SCOPE, {}, "inside a selector's braces"),
    ("m{${scope}}", None, {}, "no scopes: section"),
    ("m{${scope}}", {}, {}, "at least one label"),
    ("m{${scope}}", {"bad-name": "x"}, {}, "not a PromQL identifier"),
    ("m{${scope}}[${r}]", SCOPE, {"r": "5m]) or vector(1"}, "outside quotes"),
    ("m{${scope}, a=`${v}`}", SCOPE, {"v": "a`b"}, "backtick"),
])
def test_template_errors_name_the_problem(template, scope, variables, message):
    with pytest.raises(ConfigError) as e:
        promql.expand(template, scope, variables, "canary.yaml: metric m: query")
    assert message in str(e.value)
    assert str(e.value).startswith("canary.yaml: metric m: query: ")
    assert "\n" not in str(e.value)


def test_placeholders_in_order():
    assert promql.placeholders("${b} ${scope} ${a} ${b}") == ["b", "scope", "a"]


def test_format_labels_is_one_line():
    assert promql.format_labels({"b": "x\ny", "a": "1"}) == '{a="1",b="x\\ny"}'


def _round_trip(url: str, value: str) -> str:
    # label_join of two absent labels yields the separator verbatim (label_replace would expand $1 in it)
    query = f'label_join(vector(1), "x", {promql.quote(value)}, "absent_a", "absent_b")'
    r = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"][0]["metric"].get("x", "")


@pytest.mark.parametrize("value", ['a"b\\c}d\ne', 'x\\"}, version=~".+', "\\", '"', "}", "\n", "\r\t\x00\x1b",
                                   "\\n", "${scope}", "é€ 中"])
def test_real_prometheus_reads_back_every_escaped_value(prometheus, value):
    assert _round_trip(prometheus.url, value) == value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_text_survives_the_real_parser(prometheus, value):
    assert _round_trip(prometheus.url, value) == value
