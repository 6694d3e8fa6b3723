"""Config validation: every error names the file and the key path, and maps to exit code 2."""

from __future__ import annotations

import pytest

from analysis.config import load_config, parse_config
from analysis.errors import ConfigError

BASE = {"metrics": [{"name": "latency", "group": "g"}]}


def m(**kw):
    return {"metrics": [{"name": "latency", "group": "g", **kw}]}


@pytest.mark.parametrize("data, where, what", [
    ({"metrics": [{"name": "a", "colour": 1}]}, "metrics[a].colour", "unknown key"),
    ({"metrics": [{"name": "a"}, {"name": "a"}]}, "metrics[1].name", "duplicate metric name"),
    (m(effect_size={"allowed_increase": "big"}), "metrics[latency].effect_size.allowed_increase", "expected a number"),
    (m(effect_size={"measure": "median"}), "metrics[latency].effect_size.measure", "must be one of"),
    (m(direction="up"), "metrics[latency].direction", "must be one of increase, decrease, either"),
    (m(judge="magic"), "metrics[latency].judge", "unknown judge"),
    (m(confidence=1.2), "metrics[latency].confidence", "must be < 1"),
    (m(tolerance=-1), "metrics[latency].tolerance", "must be >= 0"),
    (m(critical="yes"), "metrics[latency].critical", "expected true or false"),
    (m(nan_strategy="zero"), "metrics[latency].nan_strategy", "must be one of remove, replace"),
    (m(outliers={"strategy": "remove", "factor": 0}), "metrics[latency].outliers.factor", "must be > 0"),
    (m(judge="threshold"), "metrics[latency]", "needs at least one of upper"),
    (m(judge="threshold", statistic="p42", upper=1), "metrics[latency].statistic", "must be one of"),
    (m(judge="threshold", upper=1, lower=2), "metrics[latency].lower", "must be <= upper"),
    (m(denominator="nope"), "metrics[latency].denominator", "no metric named"),
    ({"metrics": []}, "metrics", "at least one metric"),
    ({"metrics": "latency"}, "metrics", "expected a list"),
    ({}, "metrics", "is required"),
    ({**BASE, "groups": {"g": 60}}, "groups", "add up to 100"),
    ({**BASE, "groups": {"g": 100, "other": 0}}, "groups.other", "no metric is in group"),
    ({"metrics": [{"name": "a", "group": "g"}, {"name": "b", "group": "h"}], "groups": {"g": 100}}, "groups",
     "leaving nothing"),
    ({**BASE, "scoring": {"pass": 70, "marginal": 80}}, "scoring.marginal", "must be <= pass"),
    ({**BASE, "scoring": {"pass": 170}}, "scoring.pass", "must be <= 100"),
    ({**BASE, "prometheus": {"step": "fast"}}, "prometheus.step", "duration"),
    ({**BASE, "extra": 1}, "extra", "unknown key"),
    ({**BASE, "scoring": {"pass": float("nan")}}, "scoring.pass", "expected a finite number, got nan"),
])
def test_errors_name_the_key_path(data, where, what):
    with pytest.raises(ConfigError) as e:
        parse_config(data, "svc.yaml")
    msg = str(e.value)
    assert msg.startswith(f"svc.yaml: {where}:"), msg
    assert what in msg
    assert "\n" not in msg
    assert e.value.exit_code == 2


def test_defaults_follow_kayenta():
    cfg = parse_config(BASE, "svc.yaml")
    p = cfg.metrics[0].params
    # the default judge (paired) has no tolerance of its own; Kayenta's 0.25 is the rank judges' default
    assert (cfg.metrics[0].judge, p.direction.value, p.confidence, p.tolerance) == ("paired", "either",
                                                                                   0.98, 0.0)
    for judge in ("kayenta", "mann-whitney"):
        assert parse_config(m(judge=judge), "svc.yaml").metrics[0].params.tolerance == 0.25
    assert parse_config(m(tolerance=0.1), "svc.yaml").metrics[0].params.tolerance == 0.1
    with_defaults = {**m(), "defaults": {"tolerance": 0.3}}
    assert parse_config(with_defaults, "svc.yaml").metrics[0].params.tolerance == 0.3
    assert p.effect_size.thresholds() == (1.0, 1.0, 1.0, 1.0)
    assert (cfg.thresholds.pass_, cfg.thresholds.marginal) == (95.0, 75.0)


def test_cles_thresholds_default_to_one_half():
    cfg = parse_config(m(effect_size={"measure": "cles"}), "svc.yaml")
    assert cfg.metrics[0].params.effect_size.thresholds() == (0.5, 0.5, 0.5, 0.5)


def test_unweighted_groups_share_the_rest():
    cfg = parse_config({"metrics": [{"name": "a", "group": "g"}, {"name": "b", "group": "h"}],
                        "groups": {"g": 70}}, "svc.yaml")
    assert cfg.group_weights == {"g": 70.0}


@pytest.mark.parametrize("text, what", [
    ("metrics: [\n  {name: a,\n", "line"),
    ("", "empty"),
    ("metrics:\n  - name: a\n    group: [\n", "invalid YAML"),
])
def test_unreadable_yaml_names_the_line(tmp_path, text, what):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(str(p)) and what in str(e.value)


def test_json_configs_are_accepted_and_json_errors_name_the_line(tmp_path):
    good = tmp_path / "c.json"
    good.write_text('{"metrics": [{"name": "a"}]}')
    assert load_config(good).metrics[0].name == "a"
    bad = tmp_path / "b.json"
    bad.write_text('{"metrics": [\n{"name": "a",}]}')
    with pytest.raises(ConfigError, match=r"line 2"):
        load_config(bad)


def test_missing_file():
    with pytest.raises(ConfigError, match="no such file"):
        load_config("/nonexistent/canary.yaml")


def test_demo_config_validates():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[3] / "fixtures" / "demo" / "canary.yaml")
    assert [m.name for m in cfg.metrics][:2] == ["latency_p50_ms", "latency_p99_ms"]
    assert cfg.metric("error_rate").critical


@pytest.mark.parametrize("name, text", [("deep.yaml", "metrics: " + "[" * 5000 + "]" * 5000),
                                        ("deep.json", '{"metrics": ' + "[" * 100000 + "]" * 100000 + "}")])
def test_a_file_nested_too_deeply_is_a_config_error(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(tmp_path / name)


@pytest.mark.parametrize("effect_size", [
    {"allowed_increase": 1.5, "critical_increase": 1.2},  # critical below allowed: every high is critical
    {"allowed_decrease": 0.8, "critical_decrease": 0.9},
    {"measure": "cles", "allowed_increase": 1.5},  # a CLES gate that can never be cleared
])
def test_effect_size_settings_kayenta_accepts_are_accepted(effect_size):
    # Kayenta reads each threshold with MapUtils.getAsDoubleWithDefault and never relates them (issue 12)
    cfg = parse_config({"metrics": [{"name": "x", "judge": "kayenta", "effect_size": effect_size}]})
    assert cfg.metrics[0].params.effect_size.measure.value == effect_size.get("measure", "mean-ratio")
