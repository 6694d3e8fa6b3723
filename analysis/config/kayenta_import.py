"""Kayenta canary configs (JSON) converted to canary-engine configs, with one note per field that cannot be carried.

    >>> imported = convert(json.load(open("kayenta.json")), "kayenta.json")
    >>> imported.notes          # one line per field not carried over
    >>> cfg = imported.config() # a validated CanaryConfig

What carries over (``shared/docs/kayenta-judge.md`` §1.1, §2): every metric with the ``kayenta`` judge (confidence
0.98, tolerance 0.25, as Kayenta's judge hard-codes), its first group, ``direction``, ``nanStrategy``, ``critical``,
``mustHaveData``, ``muted``, ``effectSize`` and ``outliers`` with Kayenta's defaults and parsing (an unknown
direction is ``either``, an unknown NaN strategy ``remove``), the group weights, the score thresholds, and for
Prometheus metrics the query Kayenta would build (``customInlineTemplate`` with ``PromQL:``, or
``avg(metricName{filter,labelBindings})`` from ``customFilterTemplate``/``templates``). A matcher
``label='${scope}'`` becomes ``${scope}`` (here the scope is a set of label matchers); other ``${name}`` placeholders
(``location``, ``extendedScopeParams``) stay variables that each run supplies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from analysis.config import CanaryConfig, parse_config
from analysis.errors import ConfigError, parse_json, read_text

__all__ = ["Imported", "convert", "import_file", "is_kayenta"]

_SCOPE_MATCHER = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(["']?)\$\{scope\}\2""")
_BARE_SCOPE = re.compile(r"(?<=[{,])\s*\$\{scope\}\s*(?=[},])")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_CANARY_KEYS = {"direction", "nanStrategy", "critical", "mustHaveData", "muted", "effectSize", "outliers"}
_TOP_KEYS = {"id", "name", "description", "configVersion", "applications", "createdTimestamp", "updatedTimestamp",
             "createdTimestampIso", "updatedTimestampIso", "judge", "metrics", "templates", "classifier"}


@dataclass(frozen=True)
class Imported:
    """The converted config as a mapping (ready for YAML), with what could not be carried over."""

    data: dict[str, Any]
    notes: tuple[str, ...]
    applications: tuple[str, ...] = ()
    scope_label: str | None = None
    source: str = "<kayenta>"

    def config(self) -> CanaryConfig:
        """The validated config (``ConfigError`` naming the source if it does not load)."""
        return parse_config(self.data, self.source)

    def to_yaml(self) -> str:
        """YAML text headed by the notes as comments."""
        import yaml

        head = [f"# converted from the Kayenta config {self.source} by canary import-kayenta"]
        head += [f"# not carried over: {n}" for n in self.notes]
        return "\n".join(head) + "\n" + yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)


def is_kayenta(data: Any) -> bool:
    """True when ``data`` looks like a Kayenta canary config (or an ad-hoc request wrapping one)."""
    if not isinstance(data, Mapping):
        return False
    if isinstance(data.get("canaryConfig"), Mapping):
        return True
    metrics = data.get("metrics")
    return "classifier" in data or "judge" in data and isinstance(data.get("judge"), Mapping) or (
        isinstance(metrics, list) and any(isinstance(m, Mapping) and
                                          ("analysisConfigurations" in m or isinstance(m.get("query"), Mapping))
                                          for m in metrics))


def _num(v: Any) -> float | None:
    """A finite number, also from a numeric string (Kayenta's MapUtils parses both); else None."""
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _flag(v: Any) -> bool | None:
    """true/false, also as a string in any case (Kayenta's MapUtils); None when it is neither."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


class _Converter:
    def __init__(self, source: str):
        self.source = source
        self.notes: list[str] = []
        self.scope_labels: list[str] = []

    def note(self, where: str, text: str) -> None:
        self.notes.append(f"{where}: {text}")

    def effect_size(self, es: Any, where: str, critical: bool) -> dict[str, Any] | None:
        if not isinstance(es, Mapping):
            if es is not None:
                self.note(where, f"expected an object, got {es!r}; Kayenta's defaults used")
            return None
        measure = "cles" if es.get("measure") == "cles" else "mean-ratio"
        default = 0.5 if measure == "cles" else 1.0
        vals = {}
        for key, ours in (("allowedIncrease", "allowed_increase"), ("allowedDecrease", "allowed_decrease"),
                          ("criticalIncrease", "critical_increase"), ("criticalDecrease", "critical_decrease")):
            v = es.get(key)
            x = _num(v)
            if v is not None and (x is None or x < 0 or (measure == "cles" and x > 1)):
                self.note(f"{where}.{key}", f"{v!r} is not a usable threshold; Kayenta's default {default:g} used")
                x = None
            vals[ours] = default if x is None else x
        for key in set(es) - {"measure", "allowedIncrease", "allowedDecrease", "criticalIncrease", "criticalDecrease"}:
            self.note(f"{where}.{key}", "unknown effect-size key, ignored (as Kayenta does)")
        ai, ad = vals["allowed_increase"], vals["allowed_decrease"]
        out: dict[str, Any] = {"measure": measure}
        if ai != default:
            out["allowed_increase"] = ai
        if ad != default:
            out["allowed_decrease"] = ad
        if critical:
            # Kayenta escalates a High to critical when ES >= criticalIncrease; a High already has ES >=
            # allowedIncrease, so a critical threshold below the allowed one means "always": the allowed value
            # says the same and passes our check that critical thresholds are at least as strict
            ci, cd = max(vals["critical_increase"], ai), min(vals["critical_decrease"], ad)
            if ci != default:
                out["critical_increase"] = ci
            if cd != default:
                out["critical_decrease"] = cd
        return out if len(out) > 1 or measure != "mean-ratio" else None

    def canary_settings(self, ac: Any, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if ac is None:
            return out
        if not isinstance(ac, Mapping):
            self.note(where, f"expected an object, got {ac!r}; Kayenta's defaults used")
            return out
        for key in set(ac) - {"canary"}:
            self.note(f"{where}.{key}", "only analysisConfigurations.canary is read by Kayenta's judge; ignored")
        c = ac.get("canary")
        if c is None:
            return out
        if not isinstance(c, Mapping):
            self.note(f"{where}.canary", f"expected an object, got {c!r}; Kayenta's defaults used")
            return out
        w = f"{where}.canary"
        direction = c.get("direction", "either")
        out["direction"] = direction if direction in ("increase", "decrease", "either") else "either"
        if direction not in ("increase", "decrease", "either"):
            self.note(f"{w}.direction", f"{direction!r} is read as either (Kayenta's MetricDirection.parse)")
        out["nan_strategy"] = "replace" if c.get("nanStrategy") == "replace" else "remove"
        for key, ours in (("critical", "critical"), ("mustHaveData", "must_have_data"), ("muted", "muted")):
            raw = c.get(key, False)
            v = _flag(raw)
            if v is None:
                self.note(f"{w}.{key}", f"expected true or false, got {raw!r}; false used")
                v = False
            if v:
                out[ours] = True
        es = self.effect_size(c.get("effectSize"), f"{w}.effectSize", bool(out.get("critical")))
        if es:
            out["effect_size"] = es
        o = c.get("outliers")
        if isinstance(o, Mapping) and o.get("strategy") == "remove":
            factor = _num(o.get("outlierFactor", 3.0))
            out["outliers"] = {"strategy": "remove", "factor": factor if factor and factor > 0 else 3.0}
        for key in set(c) - _CANARY_KEYS:
            self.note(f"{w}.{key}", "unknown key, ignored (as Kayenta does)")
        return out

    def scope_text(self, text: str, where: str) -> str:
        """``label='${scope}'`` -> ``${scope}``; notes every other use of ``${scope}``."""

        def sub(m: re.Match) -> str:
            self.scope_labels.append(m.group(1))
            return "${scope}"

        out = _SCOPE_MATCHER.sub(sub, text)
        # a bare ${scope} where a matcher stands (Kayenta pastes the scope text there) means the same here
        rest = _PLACEHOLDER.findall(_BARE_SCOPE.sub("", _SCOPE_MATCHER.sub("", text)))
        if "scope" in rest:
            self.note(where, "${scope} is used inside a value (e.g. a regex); here ${scope} stands for label "
                             "matchers, so rewrite it as a matcher label=\"${scope}\"")
        return out

    def prometheus_query(self, q: Mapping[str, Any], templates: Mapping[str, Any], where: str) -> str | None:
        inline = q.get("customInlineTemplate") or None
        named = q.get("customFilterTemplate") or None
        template: str | None = None
        if isinstance(inline, str):
            template = inline
        elif named is not None:
            if not templates or named not in templates or not isinstance(templates[named], str):
                self.note(f"{where}.customFilterTemplate", f"template {named!r} is not defined in templates "
                                                           f"(Kayenta fails the run); no query")
                return None
            template = templates[named]
        if template is not None and template.startswith("PromQL:"):
            return self.scope_text(template[len("PromQL:"):], f"{where}.customInlineTemplate")
        metric = q.get("metricName")
        if not isinstance(metric, str) or not metric:
            self.note(f"{where}.metricName", "missing (Kayenta requires it without a PromQL: template); no query")
            return None
        bindings = [b for b in (q.get("labelBindings") or []) if isinstance(b, str)]
        if template is not None:
            filters = [f.strip() for f in template.split(",") if f.strip()] + bindings
        else:
            rt = q.get("resourceType")
            if rt in ("gce_instance", "aws_ec2_instance"):
                self.note(f"{where}.resourceType", f"{rt}'s built-in scope filter (instance name pattern, zone from "
                                                   f"location) cannot be carried; the scope's labels select the "
                                                   f"series instead")
            else:
                self.note(where, "neither a resource type nor a custom filter (Kayenta fails the run); the scope's "
                                 "labels select the series")
            filters = bindings + ["${scope}"]
        text = self.scope_text(",".join(filters), where)
        query = f"avg({metric}{{{text}}})"
        if q.get("groupByFields"):
            self.note(f"{where}.groupByFields", "Kayenta judges one result per label set; here the series are "
                                                "averaged into one (split the metric per label value to keep them "
                                                "apart)")
        return query

    def metric(self, m: Any, i: int, templates: Mapping[str, Any]) -> dict[str, Any]:
        where = f"metrics[{i}]"
        if not isinstance(m, Mapping):
            raise ConfigError(f"{self.source}: {where}: expected an object, got {m!r}")
        name = m.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{self.source}: {where}.name: required (Kayenta links results by name)")
        out: dict[str, Any] = {"name": name}
        groups = [g for g in (m.get("groups") or []) if isinstance(g, str)]
        if len(groups) > 1:
            self.note(f"{where}.groups", f"a metric scores in one group here; kept {groups[0]!r}, dropped "
                                         f"{', '.join(repr(g) for g in groups[1:])}")
        if not groups:
            self.note(f"{where}.groups", "none given; the metric is put in group 'default'")
        out["group"] = groups[0] if groups else "default"
        out.update(self.canary_settings(m.get("analysisConfigurations"), f"{where}.analysisConfigurations"))
        q = m.get("query")
        if isinstance(q, Mapping) and q.get("type") == "prometheus":
            query = self.prometheus_query(q, templates, f"{where}.query")
            if query is not None:
                out["query"] = query
        else:
            kind = q.get("type") if isinstance(q, Mapping) else None
            self.note(f"{where}.query", f"type {kind!r} cannot be queried here (Prometheus only); the metric is "
                                        f"kept for recorded --data files")
        scope_name = m.get("scopeName", "default")
        if scope_name != "default":
            self.note(f"{where}.scopeName", f"{scope_name!r}: every metric uses the one baseline/canary scope pair")
        for key in set(m) - {"name", "query", "groups", "analysisConfigurations", "scopeName"}:
            self.note(f"{where}.{key}", "unknown key, ignored")
        return out

    def weights(self, raw: Any, used: list[str]) -> dict[str, float] | None:
        if not isinstance(raw, Mapping) or not raw:
            return None
        configured = {str(g): w for g, w in raw.items() if _num(w) is not None}
        for g in set(map(str, raw)) - set(configured):
            self.note(f"classifier.groupWeights.{g}", f"{raw[g]!r} is not a number; ignored")
        unused = [g for g in configured if g not in used]
        for g in unused:
            self.note(f"classifier.groupWeights.{g}", f"no metric is in this group; its weight {configured[g]:g} "
                                                      f"still counts in Kayenta's total, here it is dropped")
        total_all = sum(float(w) for w in configured.values())
        unweighted = [g for g in used if g not in configured]
        share = (100.0 - total_all) / len(unweighted) if unweighted else 0.0
        effective = {g: float(configured[g]) if g in configured else share for g in used}
        total = sum(effective.values())
        if any(w < 0 for w in effective.values()) or total <= 0:
            self.note("classifier.groupWeights", "weights leave no positive share; every group weighs the same")
            return None
        if abs(total - 100.0) > 1e-9:
            self.note("classifier.groupWeights", f"the groups in use weigh {total:g} in all, not 100 (Kayenta would "
                                                 f"cap the score at {total:g}); scaled to add up to 100")
        scaled = {g: round(w * 100.0 / total, 9) for g, w in effective.items()}
        last = used[-1]
        scaled[last] = round(100.0 - sum(w for g, w in scaled.items() if g != last), 9)
        return scaled

    def thresholds(self, classifier: Mapping[str, Any], fallback: Any) -> dict[str, float] | None:
        st = classifier.get("scoreThresholds", fallback)
        if not isinstance(st, Mapping):
            return None
        p, mg = _num(st.get("pass")), _num(st.get("marginal"))
        if p is None or mg is None or not (0 <= mg <= p <= 100):
            self.note("classifier.scoreThresholds", f"{dict(st)!r} is not 0 <= marginal <= pass <= 100; the "
                                                    f"defaults (pass 95, marginal 75) are used")
            return None
        return {"pass": p, "marginal": mg}


def convert(data: Any, source: str = "<kayenta>") -> Imported:
    """Convert a Kayenta canary config (or an ad-hoc ``{canaryConfig, executionRequest}`` body).

    Raises
    ------
    ConfigError
        Only for what Kayenta itself rejects: not an object, no metrics, a metric without a name.
    """
    c = _Converter(source)
    fallback = None
    if isinstance(data, Mapping) and isinstance(data.get("canaryConfig"), Mapping):
        request = data.get("executionRequest")
        if isinstance(request, Mapping):
            fallback = request.get("thresholds")
            c.note("executionRequest", "a run request, not part of a config; only its thresholds are kept")
        data = data["canaryConfig"]
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a Kayenta canary config (a JSON object)")
    metrics = data.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise ConfigError(f"{source}: metrics: a Kayenta config needs at least one metric")
    templates: Mapping[str, Any] = data["templates"] if isinstance(data.get("templates"), Mapping) else {}
    judge = data.get("judge")
    judge_name = judge.get("name") if isinstance(judge, Mapping) else None
    if judge_name not in (None, "NetflixACAJudge-v1.0"):
        c.note("judge.name", f"{judge_name!r}: judged with the kayenta judge (a port of NetflixACAJudge-v1.0)")
    if isinstance(judge, Mapping) and judge.get("judgeConfigurations"):
        c.note("judge.judgeConfigurations", "ignored (Kayenta's judge reads none)")
    out: dict[str, Any] = {"name": data.get("name") if isinstance(data.get("name"), str) and data.get("name")
                           else Path(source).stem}
    if isinstance(data.get("description"), str) and data["description"]:
        out["description"] = data["description"]
    out["defaults"] = {"judge": "kayenta", "confidence": 0.98, "tolerance": 0.25}
    out["metrics"] = [c.metric(m, i, templates) for i, m in enumerate(metrics)]
    used = list(dict.fromkeys(m["group"] for m in out["metrics"]))
    classifier: Mapping[str, Any] = data["classifier"] if isinstance(data.get("classifier"), Mapping) else {}
    weights = c.weights(classifier.get("groupWeights"), used)
    if weights:
        out["groups"] = weights
    scoring: dict[str, Any] = {"holm": False}
    th = c.thresholds(classifier, fallback)
    if th:
        scoring.update(th)
    out["scoring"] = scoring
    for key in set(data) - _TOP_KEYS:
        c.note(key, "not a Kayenta config field read by the judge; ignored")
    apps = data.get("applications")
    applications = tuple(a for a in apps if isinstance(a, str)) if isinstance(apps, list) else ()
    labels = list(dict.fromkeys(c.scope_labels))
    if len(labels) > 1:
        c.note("templates", f"the scope value stands for different labels ({', '.join(labels)}); a bare scope "
                            f"value cannot be placed, give label matchers")
    placeholders = sorted({p for m in out["metrics"] for p in _PLACEHOLDER.findall(m.get("query", ""))} - {"scope"})
    if placeholders:
        c.note("variables", f"{', '.join('${' + p + '}' for p in placeholders)} come from each run (location, "
                            f"extendedScopeParams, or --var NAME=VALUE)")
    return Imported(out, tuple(c.notes), applications, labels[0] if len(labels) == 1 else None, source)


def import_file(path: str | Path) -> Imported:
    """Read and convert a Kayenta JSON config file (``ConfigError`` naming the file when it cannot be read)."""
    source = str(path)
    data = parse_json(read_text(path, ConfigError), source, ConfigError)
    return convert(data, source)
