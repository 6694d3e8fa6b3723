"""Scope strings of the serve API (``analysis.runs.serve.scopes``): the forms the clients send and the ones refused."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from analysis.collectors.promql import quote
from analysis.runs.serve.scopes import ScopeError, parse_scope


@pytest.mark.parametrize("text, default, expected", [
    ("app=shop", None, {"app": "shop"}),
    ("app=shop,version=v2", None, {"app": "shop", "version": "v2"}),
    (" app = shop , version = v2 ", None, {"app": "shop", "version": "v2"}),
    # the Argo Rollouts docs' form, with a Kubernetes label key as Prometheus' discovery sanitises it
    ("app=guestbook and rollouts-pod-template-hash=5f8b", None,
     {"app": "guestbook", "rollouts_pod_template_hash": "5f8b"}),
    ("app=a AND version=b", None, {"app": "a", "version": "b"}),
    ('version="v2"', None, {"version": "v2"}),
    ('version="a,b and c"', None, {"version": "a,b and c"}),
    ('version="q\\"uote\\\\"', None, {"version": 'q"uote\\'}),
    ("band=1,brand=2", None, {"band": "1", "brand": "2"}),
    ("v2", {"version": "v1"}, {"version": "v2"}),
    ("my-canary-pod", {"pod_name": ""}, {"pod_name": "my-canary-pod"}),
])
def test_accepted(text, default, expected):
    assert parse_scope(text, default) == expected


@pytest.mark.parametrize("text, default, needle", [
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("v2", None, "label matchers"),
    ("v2", {"app": "a", "version": "b"}, "exactly one label"),
    ("app=a and", None, "holds a space"),
    ("app=a,,version=b", None, "not a matcher"),
    ("=x", None, "not a matcher"),
    ("app=", None, "empty value"),
    ('app=""', None, "empty value"),
    ("app=~a.*", None, "equality"),
    ("app!=a", None, "equality"),
    ("app=a,app=b", None, "given twice"),
    ('app="open', None, "unterminated"),
    ('app=a"b"', None, "quoted"),
    ("x" * 5000, None, "longer"),
    (5, None, "expected a string"),
])
def test_refused(text, default, needle):
    with pytest.raises(ScopeError, match=needle):
        parse_scope(text, default)


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
_values = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@given(st.dictionaries(_names, _values, min_size=1, max_size=4), st.sampled_from([",", " and ", " , "]))
def test_quoted_matchers_read_back_exactly(labels, joiner):
    # PromQL's quoting (the collector's) read back by the scope parser: any value, including quotes, commas,
    # " and ", backslashes and newlines
    text = joiner.join(f"{k}={quote(v)}" for k, v in labels.items())
    assert parse_scope(text) == labels
