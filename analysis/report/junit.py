"""JUnit XML: one test case per metric, so CI systems (GitLab, Jenkins, GitHub test reporters) list each metric.

A test case is named by its metric, and its class name is ``canary.<config>.<group>``, so a reporter groups the
metrics of one analysis by group.

Mapping: ``high``, ``low`` and a ``nodata`` that fails the run (must-have-data or critical metric) are
``<failure>``s with the judge's reason as message; ``error`` is an ``<error>``; any other ``nodata``, an
``inconclusive`` metric and every muted metric are ``<skipped>`` with the reason (a muted metric never fails CI,
as it never fails the verdict); ``pass`` is a plain test case. The run's verdict, score and thresholds are suite properties.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re
import xml.etree.ElementTree as ET

from judges import Classification

from analysis.report._format import fmt
from analysis.report import _view

if TYPE_CHECKING:
    from analysis.results import AnalysisResult, MetricResult

# characters XML 1.0 cannot carry at all, even escaped
_INVALID_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object) -> str:
    return _INVALID_XML.sub("\ufffd", _view.safe_text(str(text)))


def _classname(result: AnalysisResult, m: MetricResult) -> str:
    """``canary.<config>.<group>``: reporters split a class name at its dots (package, class), so dots inside the
    config or group name become ``_`` and every test case lists under its analysis and its group."""
    return ".".join(["canary", *(part.replace(".", "_") or "-" for part in (result.config_name, m.group))])


def _details(m: MetricResult) -> str:
    s = m.statistics
    lines = [f"classification: {_view.label(m)}", f"reason: {m.reason or '-'}",
             f"baseline median: {fmt(s.baseline_median)}", f"canary median: {fmt(s.canary_median)}",
             f"shift (canary - baseline) [CI]: {_view.shift(m)}", f"p-value: {_view.p_value(m)}",
             f"effect size: {fmt(s.effect_size)}", f"n baseline/canary: {s.n_baseline}/{s.n_canary}"]
    lines += [f"{scope} query: {q}" for scope, q in sorted(m.query.items()) if q]
    lines += [f"warning: {w}" for w in _view.warnings(m, None)]
    return "\n".join(lines)


def _outcome(m: MetricResult) -> str | None:
    """``failure``, ``error``, ``skipped`` or None (passed)."""
    if m.muted:
        return "skipped"
    if m.classification is Classification.ERROR:
        return "error"
    if m.failed:
        return "failure"
    if m.classification is Classification.NODATA or m.classification.value == "inconclusive":
        return "skipped"  # not shown either way: never a passed test
    return None


def render_junit(result: AnalysisResult) -> str:
    """The result as a JUnit XML document (see the module docstring for the mapping)."""
    outcomes = [(m, _outcome(m)) for m in _view.ordered(result.metrics)]
    n = {k: sum(o == k for _, o in outcomes) for k in ("failure", "error", "skipped")}
    suites = ET.Element("testsuites", name="canary-engine", tests=str(len(outcomes)),
                        failures=str(n["failure"]), errors=str(n["error"]), skipped=str(n["skipped"]))
    attrs = {"name": _x(f"canary analysis: {result.config_name}"), "tests": str(len(outcomes)),
             "failures": str(n["failure"]), "errors": str(n["error"]), "skipped": str(n["skipped"]), "time": "0"}
    if result.window is not None and result.window.to_dict()["end"]:
        attrs["timestamp"] = result.window.to_dict()["end"].rstrip("Z")
    suite = ET.SubElement(suites, "testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", result.verdict.value), ("verdict_reason", result.reason),
                 ("score", fmt(result.score)), ("threshold_pass", f"{result.thresholds.pass_:g}"),
                 ("threshold_marginal", f"{result.thresholds.marginal:g}"), ("exit_code", str(result.exit_code)),
                 ("config", result.config_name), ("engine_version", result.engine_version)):
        ET.SubElement(props, "property", name=k, value=_x(v))
    for m, outcome in outcomes:
        case = ET.SubElement(suite, "testcase", name=_x(m.name), classname=_x(_classname(result, m)), time="0")
        if outcome is not None:
            message = m.reason or f"{m.name} is {m.classification.value}"
            if m.muted:
                message = f"muted ({m.classification.value}): {message}"
            el = ET.SubElement(case, outcome, message=_x(message))
            if outcome != "skipped":
                el.set("type", m.classification.value)
                el.text = _x(_details(m))
                continue
        ET.SubElement(case, "system-out").text = _x(_details(m))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
