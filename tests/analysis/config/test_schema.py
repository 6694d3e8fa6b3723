"""The config's JSON Schema: valid draft 2020-12, accepts every shipped and documented config, agrees with the
loader, and makes the loader report every structural error at once with metrics named by name.

Every config the rest of the suite loads goes through ``parse_config``, which runs the schema first, so the whole
suite also checks that the schema accepts the configs the tests use.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from analysis.config import _parse, load_config, parse_config
from analysis.config.schema import SCHEMA_PATH, schema, validate_structure
from analysis.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = Draft202012Validator(schema())
ROUTER = {"type": "dry-run"}
GOOD = {"name": "shop", "metrics": [{"name": "latency", "direction": "increase"}]}


def metric(**kw):
    return {"metrics": [{"name": "latency", **kw}]}


def rollout(**kw):
    return {**GOOD, "rollout": {"steps": [10, 100], "interval": "20s", "router": ROUTER, **kw}}


def _config_files() -> list[Path]:
    found = []
    for p in sorted((ROOT / "fixtures").rglob("*")):
        if p.suffix in (".yaml", ".yml") or (p.suffix == ".json" and '"metrics"' in p.read_text()[:2000]):
            found.append(p)
    return found


def _doc_blocks() -> list[tuple[str, str]]:
    """Every ```yaml block of the README and docs/ (the recipes' fragments included)."""
    blocks = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for i, m in enumerate(re.finditer(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            blocks.append((f"{page.relative_to(ROOT)}#{i}", m.group(1)))
    return blocks


def test_the_schema_is_valid_draft_2020_12_and_ships_in_the_package():
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_PATH.parent.name == "config" and SCHEMA_PATH.parent.parent.name == "analysis"
    text = (ROOT / "pyproject.toml").read_text()
    assert "config/schema.json" in text


def _every_object(node, path="#"):
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for k, v in node.items():
            yield from _every_object(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _every_object(v, f"{path}/{i}")


def test_every_fixed_key_object_rejects_unknown_keys_and_every_key_is_described():
    for path, node in _every_object(schema()):
        if re.search(r"/(if|then|else)(/|$)", path):  # conditions narrow keys the object itself lists
            continue
        props = node.get("properties", {})
        if props and "additionalProperties" not in node and not path.endswith("$defs/router"):
            pytest.fail(f"{path} does not close its keys")
        for key, sub in props.items():
            if key != "type" and isinstance(sub, dict) and "$ref" not in sub and "anyOf" not in sub:
                assert sub.get("description"), f"{path}/properties/{key} has no description"


@pytest.mark.parametrize("path", _config_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_config_is_valid(path):
    doc = yaml.safe_load(path.read_text())
    assert list(VALIDATOR.iter_errors(doc)) == []
    load_config(path)


def test_fixture_configs_carry_the_editor_modeline():
    for path in _config_files():
        if path.suffix == ".yaml":
            modeline = re.search(r"# yaml-language-server: \$schema=(\S+)", path.read_text())
            assert modeline, path
            assert (path.parent / modeline.group(1)).resolve() == SCHEMA_PATH.resolve()


def test_every_yaml_block_of_the_docs_is_valid():
    blocks = _doc_blocks()
    assert len(blocks) >= 10
    for where, text in blocks:
        doc = yaml.safe_load(text)
        if isinstance(doc, list) and all(isinstance(step, dict) and ("run" in step or "uses" in step)
                                         for step in doc):
            continue  # a GitHub Actions job's steps
        assert isinstance(doc, dict), where
        if "apiVersion" in doc and "kind" in doc:
            continue  # a Kubernetes manifest
        if "metrics" in doc:
            target = doc
        elif set(doc) <= {"router", "hooks"}:  # a recipe: a fragment of the rollout section
            target = {**GOOD, "rollout": {"steps": [10, 100], "interval": "20s", "router": ROUTER, **doc}}
        elif set(doc) == {"rollout"}:
            target = {**GOOD, **doc}
        else:
            pytest.fail(f"{where}: a yaml block that is neither a config nor a rollout fragment: {sorted(doc)}")
        errors = [e.message for e in VALIDATOR.iter_errors(target)]
        assert errors == [], (where, errors)


# Configs the loader rejects for their structure; the schema must reject them too, at the same key.
@pytest.mark.parametrize("doc, where", [
    ({}, "metrics"),
    ({"metrics": "latency"}, "metrics"),
    ({"metrics": []}, "metrics"),
    ({**GOOD, "extra": 1}, "extra"),
    ({"metrics": [{"group": "g"}]}, "metrics[0].name"),
    ({"metrics": [{"name": ""}]}, "metrics[0].name"),
    ({"metrics": [{"name": None}]}, "metrics[0].name"),
    ({"metrics": [3]}, "metrics[0]"),
    (metric(colour=1), "metrics[latency].colour"),
    (metric(direction="up"), "metrics[latency].direction"),
    (metric(critical="yes"), "metrics[latency].critical"),
    (metric(confidence=1.0), "metrics[latency].confidence"),
    (metric(confidence=0.4), "metrics[latency].confidence"),
    (metric(tolerance=-1), "metrics[latency].tolerance"),
    (metric(nan_strategy="zero"), "metrics[latency].nan_strategy"),
    (metric(outliers={"strategy": "remove", "factor": 0}), "metrics[latency].outliers.factor"),
    (metric(outliers={"strategy": "clip"}), "metrics[latency].outliers.strategy"),
    (metric(effect_size={"allowed_increase": "big"}), "metrics[latency].effect_size.allowed_increase"),
    (metric(effect_size={"measure": "median"}), "metrics[latency].effect_size.measure"),
    (metric(effect_size={"measure": "cles", "allowed_increase": 1.5}),
     "metrics[latency].effect_size.allowed_increase"),
    (metric(effect_size={"size": 1}), "metrics[latency].effect_size.size"),
    (metric(judge="threshold"), "metrics[latency]"),
    (metric(judge="threshold", upper=1, statistic="p42"), "metrics[latency].statistic"),
    (metric(judge="threshold", max_ratio=0), "metrics[latency].max_ratio"),
    (metric(aggregate="median"), "metrics[latency].aggregate"),
    (metric(options=[1]), "metrics[latency].options"),
    (metric(query=5), "metrics[latency].query"),
    ({**GOOD, "groups": {"default": "half"}}, "groups.default"),
    ({**GOOD, "groups": {"default": 120}}, "groups.default"),
    ({**GOOD, "scoring": {"pass": 170}}, "scoring.pass"),
    ({**GOOD, "scoring": {"alpha": 0}}, "scoring.alpha"),
    ({**GOOD, "scoring": {"holm": "yes"}}, "scoring.holm"),
    ({**GOOD, "scoring": {"pass": float("nan")}}, "scoring.pass"),
    ({**GOOD, "defaults": {"confidence": 2}}, "defaults.confidence"),
    ({**GOOD, "defaults": {"judges": "rate"}}, "defaults.judges"),
    ({**GOOD, "prometheus": {"step": "fast"}}, "prometheus.step"),
    ({**GOOD, "prometheus": {"retries": 11}}, "prometheus.retries"),
    ({**GOOD, "prometheus": {"concurrency": 0}}, "prometheus.concurrency"),
    ({**GOOD, "prometheus": {"headers": {"X-A": 1}}}, "prometheus.headers"),
    ({**GOOD, "prometheus": {"verify_tls": "no"}}, "prometheus.verify_tls"),
    ({**GOOD, "scopes": {"baseline": {"v": "1"}}}, "scopes.canary"),
    ({**GOOD, "scopes": {"baseline": {"v": "1"}, "canary": {"v": [2]}}}, "scopes.canary.v"),
    ({**GOOD, "variables": {"app": True}}, "variables.app"),
    ({**GOOD, "collector": {"options": {}}}, "collector.name"),
    ({**GOOD, "collector": {"name": "file", "path": "x.csv"}}, "collector.path"),
    ({**GOOD, "rollout": "fast"}, "rollout"),
    (rollout(interval=None), "rollout.interval"),
    (rollout(interval="soon"), "rollout.interval"),
    (rollout(router=None), "rollout.router"),
    (rollout(router={}), "rollout.router.type"),
    (rollout(steps=[]), "rollout.steps"),
    (rollout(steps=[10, 200]), "rollout.steps[1]"),
    (rollout(steps=[12.5]), "rollout.steps[0]"),
    (rollout(strategy="linear"), "rollout.strategy"),
    (rollout(on_marginal="shrug"), "rollout.on_marginal"),
    (rollout(preview_weight=10), "rollout.preview_weight"),
    (rollout(strategy="blue-green"), "rollout.steps"),
    (rollout(service="a/b"), "rollout.service"),
    (rollout(hooks={"pre_flight": "true"}), "rollout.hooks.pre_flight"),
    (rollout(hooks={"pre_step": {"cmd": "true"}}), "rollout.hooks.pre_step"),
    (rollout(hooks={"pre_step": 5}), "rollout.hooks.pre_step"),
    (rollout(router={"type": "dry-run", "echo": "loud"}), "rollout.router.echo"),
    (rollout(router={"type": "haproxy", "admin": "127.0.0.1:9999", "backend": "app", "baseline": "blue"}),
     "rollout.router.canary"),
    (rollout(router={"type": "haproxy", "admin": "127.0.0.1:9999", "backend": "a b", "baseline": "blue",
                     "canary": "green"}), "rollout.router.backend"),
    (rollout(router={"type": "command"}), "rollout.router.set"),
    (rollout(router={"type": "command", "set": "true", "port": 1}), "rollout.router.port"),
    (rollout(router={"type": "webhook", "url": "ftp://x"}), "rollout.router.url"),
    (rollout(router={"type": "webhook", "url": "http://x", "retries": 50}), "rollout.router.retries"),
])
def test_schema_rejects_what_the_loader_rejects_at_the_same_key(doc, where):
    with pytest.raises(ConfigError) as loader:
        _parse(doc, "svc.yaml")
    assert str(loader.value).startswith(f"svc.yaml: {where}"), str(loader.value)
    if "nan" not in repr(doc):  # JSON has no NaN: validate_structure adds that check to the schema's
        assert list(VALIDATOR.iter_errors(doc)), f"the schema accepts {doc}"
    errors = validate_structure(doc, "svc.yaml")
    assert any(e.startswith(f"svc.yaml: {where}") for e in errors), errors


@pytest.mark.parametrize("doc, message", [
    (metric(direction="up"), "metrics[latency].direction: must be one of increase, decrease, either; got 'up'"),
    (metric(confidence=1.0), "metrics[latency].confidence: must be < 1; got 1.0"),
    (metric(name=""), "metrics[0].name: must not be empty"),
    (metric(judge="threshold"),
     "metrics[latency]: a threshold metric needs at least one of upper, lower, max_ratio, min_ratio"),
    ({**GOOD, "scoring": {"pass": float("nan")}}, "scoring.pass: expected a finite number, got nan"),
    ({**GOOD, "prometheus": {"step": "fast"}}, "prometheus.step: expected a duration such as 30s, 5m or 1h, got 'fast'"),
    ({**GOOD, "variables": {"app": True}}, "variables.app: variables must map names to strings or numbers; got True"),
    (rollout(interval=None), "rollout.interval: is required"),
    (rollout(steps=[0, 100]), "rollout.steps[0]: must be from 1 to 100 (percent of traffic to the canary); got 0"),
    (rollout(steps=[]), "rollout.steps: needs at least one step"),
    (rollout(strategy="blue-green"), "rollout.steps: blue-green switches all traffic at once; steps apply to "
                                     "strategy canary"),
    (rollout(scale_down_delay="1m"), "rollout.scale_down_delay: applies to strategy blue-green only"),
    (rollout(service="a/b"), "rollout.service: expected a service name without '/', got 'a/b'"),
    (rollout(hooks={"before": "true"}), "rollout.hooks.before: unknown hook point 'before'; hook points: "
                                        "pre_rollout, pre_step, post_step, pre_promote, post_promote, pre_rollback, "
                                        "post_rollback, scale_down, post_rollout"),
    (rollout(hooks={"pre_step": {"run": "x", "timout": "1s"}}),
     "rollout.hooks.pre_step.timout: unknown key 'timout'; known keys: run, shell, timeout"),
    (rollout(router={"type": "haproxy", "admin": "h:1", "backend": "a b", "baseline": "b", "canary": "c"}),
     "rollout.router.backend: expected an HAProxy name (letters, digits, _ . : -), got 'a b'"),
])
def test_the_schema_speaks_the_loaders_words(doc, message):
    assert validate_structure(doc, "svc.yaml") == [f"svc.yaml: {message}"]
    with pytest.raises(ConfigError) as loader:
        _parse(doc, "svc.yaml")
    assert str(loader.value) == f"svc.yaml: {message}"


@pytest.mark.parametrize("doc", [
    GOOD,
    metric(lower=None, upper=None, judge=None, query=None),  # null is the same as left out
    metric(judge="threshold", statistic="p99", upper=300, max_ratio=1.2),
    metric(judge="rate", options={"overdispersion": False}),
    metric(judge="sequential-rate", options={"overdispersion": False, "concentration": 100, "canary_share": 0.2}),
    metric(judge="mann-whitney", options={"autocorrelation": False}),
    metric(judge="sequential-mean", options={"autocorrelation": False, "planned_n": 30, "min_n": 5}),
    {**GOOD, "collector": {"name": "file", "options": {"path": "recorded.csv"}}},
    {**GOOD, "collector": {"name": "prometheus"}},
    metric(effect_size={"measure": "cles", "allowed_increase": 0.6, "critical_increase": 0.9}),
    {**GOOD, "prometheus": {"step": 30, "timeout": "1.5s", "retries": 0, "headers": {"X-Scope-OrgID": "a"}}},
    {**GOOD, "scopes": {"baseline": {"version": "v1"}, "canary": {"version": 2}}, "variables": {"n": 5}},
    rollout(warmup="250ms", analysis_delay=3, on_marginal="continue", service="shop",
            hooks={"pre_rollout": "./deploy.sh", "pre_step": {"run": ["./smoke.sh", "{canary}"], "timeout": "30s"},
                   "post_rollout": [{"run": "./notify.sh"}, {"run": ["./dash.sh", "{outcome}"], "shell": False}]}),
    {**GOOD, "rollout": {"strategy": "blue-green", "interval": "1m", "preview_weight": 10,
                         "pre_promotion": False, "router": {"type": "command", "set": ["patch", "{canary}"],
                                                            "get": "read", "env": {"NS": "shop"}}}},
    rollout(router={"type": "haproxy", "admin": "unix@/run/haproxy.sock", "backend": "app", "baseline": "blue",
                    "canary": "green", "timeout": "2s", "retries": 1}),
    rollout(router={"type": "webhook", "url": "https://lb/weights", "read_url": "https://lb/weights",
                    "headers": {"Authorization": "x"}, "signature_header": "X-Sig"}),
])
def test_schema_and_loader_accept_the_same_good_configs(doc):
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []
    assert validate_structure(doc, "svc.yaml") == []
    parse_config(doc, "svc.yaml")


def test_a_third_party_router_type_keeps_its_own_keys():
    doc = rollout(router={"type": "f5", "pool": "web"})
    assert list(VALIDATOR.iter_errors(doc)) == []


@pytest.mark.parametrize("doc, message", [
    # the typo from issue 11: an option the judge does not take is an error, not silently ignored
    (metric(options={"autocorelation": False}),
     "svc.yaml: metrics[latency].options.autocorelation: unknown option of judge 'mann-whitney'; known options: "
     "autocorrelation"),
    # the judge a metric gets from defaults.judge (the schema cannot see it; the judge's options class does)
    ({"defaults": {"judge": "rate"}, "metrics": [{"name": "errors", "options": {"autocorrelation": False}}]},
     "svc.yaml: metrics[errors].options.autocorrelation: unknown option of judge 'rate'; known options: "
     "overdispersion"),
    (metric(judge="threshold", upper=1, options={"x": 1}),
     "svc.yaml: metrics[latency].options.x: unknown option of judge 'threshold'; known options: none"),
    (metric(judge="sequential-rate", options={"canary_share": 1}),
     "svc.yaml: metrics[latency].options.canary_share: must be < 1; got 1"),
])
def test_judge_options_are_checked_against_the_judge_the_metric_gets(doc, message):
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "svc.yaml")
    assert str(e.value) == message


def test_the_schemas_judge_options_are_the_judges_options_classes():
    from dataclasses import MISSING, fields

    from judges import available, get_plugin

    py = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}
    defs = {k[len("options_"):]: v for k, v in schema()["$defs"].items() if k.startswith("options_")}
    assert set(defs) <= set(available())
    for name, definition in defs.items():
        declared = {f.name: f for f in fields(get_plugin(name).options)}
        assert list(definition["properties"]) == list(declared), name
        for key, f in declared.items():
            prop = definition["properties"][key]
            assert prop["type"] == py[f.type if isinstance(f.type, str) else f.type.__name__], (name, key)
            assert f.default is not MISSING and prop["default"] == f.default, (name, key)


THREE = """\
name: shop
metrics:
  - name: latency_p99
    direction: up
  - name: errors
    judge: rate
    confidence: 1.5
scoring: {pass: 95, marginal: 75, extra: 1}
"""


def test_every_error_at_once_in_document_order_metrics_by_name(tmp_path):
    p = tmp_path / "shop.yaml"
    p.write_text(THREE)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == (
        f"{p}: 3 errors: "
        "metrics[latency_p99].direction: must be one of increase, decrease, either; got 'up' | "
        "metrics[errors].confidence: must be < 1; got 1.5 | "
        "scoring.extra: unknown key 'extra'; known keys: alpha, holm, marginal, pass")
    assert e.value.exit_code == 2


def test_a_semantic_error_joins_the_structural_ones():
    doc = {"metrics": [{"name": "a", "judge": "magic", "direction": "up"}]}
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "svc.yaml")
    head, _, rest = str(e.value).partition(": 2 errors: ")
    lines = rest.split(" | ")  # in document order
    assert head == "svc.yaml" and "\n" not in str(e.value)
    assert lines[0].startswith("metrics[a].judge: unknown judge 'magic'; known judges:")
    assert lines[1].startswith("metrics[a].direction: must be one of")


def test_cli_prints_every_error_exit_2_no_traceback(tmp_path):
    p = tmp_path / "shop.yaml"
    p.write_text(THREE)
    run = subprocess.run([sys.executable, "-m", "analysis.cli", "validate", str(p)], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stdout == ""
    err = run.stderr.splitlines()
    assert err[0].startswith(f"canary: error: {p}: 3 errors: metrics[latency_p99].direction") and len(err) == 1
    assert "Traceback" not in run.stderr


def test_duplicate_names_fall_back_to_the_index():
    with pytest.raises(ConfigError) as e:
        parse_config({"metrics": [{"name": "a"}, {"name": "a", "direction": "up"}]}, "svc.yaml")
    assert "svc.yaml: metrics[1].direction: must be one of" in str(e.value)


def test_canary_schema_prints_the_schema_and_its_path():
    run = subprocess.run([sys.executable, "-m", "analysis.cli", "schema"], capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode == 0 and json.loads(run.stdout) == schema()
    run = subprocess.run([sys.executable, "-m", "analysis.cli", "schema", "--path"], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 0 and Path(run.stdout.strip()).resolve() == SCHEMA_PATH.resolve()
