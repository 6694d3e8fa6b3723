"""The canary config: a YAML (or JSON) file, validated once, into frozen dataclasses.

Every error names the file and the key path (``metrics[2].effect_size.allowed_increase``) and what is expected;
it is raised as ``ConfigError`` (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from judges import (
    Direction,
    EffectMeasure,
    EffectSizeParams,
    JudgeParams,
    NanStrategy,
    OutlierStrategy,
    available as available_judges,
    get_plugin,
)

from analysis.config._reader import Reader
from analysis.errors import ConfigError, parse_json, read_text
from analysis.config.schema import config_error, in_document_order, metric_labels, validate_structure

STATISTICS = ("mean", "median", "p90", "p95", "p99", "max", "last")
RANK_JUDGES = ("kayenta", "mann-whitney")
NONFINITE = ("error", "fail")
# the judge of a metric that names none: paired by timestamp, falling back to mann-whitney when timestamps do not pair
DEFAULT_JUDGE = "paired"


@dataclass(frozen=True, slots=True)
class MetricConfig:
    """One metric: where its data comes from, how it is judged and where it scores."""

    name: str
    judge: str
    group: str
    params: JudgeParams
    query: str | None = None
    muted: bool = False
    # name of another metric whose series are the denominators (rate judge)
    denominator: str | None = None
    # how several series returned for one scope are combined (Prometheus collector): None means "exactly one"
    aggregate: str | None = None
    # what an infinite value (x/0 in PromQL, a number too large for a float) does: error (no verdict) or fail
    nonfinite: str = "error"

    @property
    def critical(self) -> bool:
        return self.params.critical

    @property
    def must_have_data(self) -> bool:
        return self.params.must_have_data


@dataclass(frozen=True, slots=True)
class Thresholds:
    pass_: float = 95.0
    marginal: float = 75.0

    def to_dict(self) -> dict[str, float]:
        return {"pass": self.pass_, "marginal": self.marginal}


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """Where and how to query Prometheus. Secrets (headers, token) are never printed or written into results."""

    url: str | None = None
    step: float = 60.0
    timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    bearer_token_file: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    retries: int = 2
    concurrency: int = 8
    # every fetch of one collect call ends by then (None: 6 * timeout, at least 60 s)
    total_timeout: float | None = None
    max_response_bytes: int = 64 * 1024 * 1024

    @property
    def run_timeout(self) -> float:
        return self.total_timeout if self.total_timeout is not None else max(60.0, 6 * self.timeout)


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """The ``collector:`` section: which collector plugin to open and its options (default: Prometheus)."""

    name: str = "prometheus"
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    """A validated config. ``source`` is the file it came from (for messages)."""

    name: str
    metrics: tuple[MetricConfig, ...]
    group_weights: Mapping[str, float] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)
    description: str = ""
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    scopes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    holm: bool = True
    alpha: float = 0.05
    rollout: Any = None
    source: str = "<config>"
    collector: CollectorSettings | None = None

    def metric(self, name: str) -> MetricConfig:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.metrics:
            seen.setdefault(m.group, None)
        return list(seen)

    def with_overrides(self, **changes: Any) -> "CanaryConfig":
        return replace(self, **changes)


def _effect_size(r: Reader | None) -> EffectSizeParams:
    if r is None:
        return EffectSizeParams()
    measure = EffectMeasure(r.str("measure", "mean-ratio", choices=[m.value for m in EffectMeasure]))
    vals = {}
    # Kayenta reads each threshold as any double (MapUtils.getAsDoubleWithDefault) and never relates them: a
    # critical threshold below the allowed one simply makes every flagged result critical. Accept what it accepts.
    for key in ("allowed_increase", "allowed_decrease", "critical_increase", "critical_decrease"):
        vals[key] = r.num(key, None)
    r.finish()
    return EffectSizeParams(measure=measure, **vals)


def _metric(r: Reader, defaults: Mapping[str, Any]) -> MetricConfig:
    name = r.str("name")
    if not name.strip():
        raise r.error("must not be empty", "name")
    judge = r.str("judge", defaults.get("judge", DEFAULT_JUDGE))
    known = available_judges()
    if judge not in known:
        raise r.error(f"unknown judge {judge!r}; known judges: {', '.join(known)}", "judge")
    direction = Direction(r.str("direction", "either", choices=[d.value for d in Direction]))
    outliers = r.child("outliers", None)
    o_strategy, o_factor = OutlierStrategy.KEEP, 3.0
    if outliers is not None:
        o_strategy = OutlierStrategy(outliers.str("strategy", "keep", choices=[o.value for o in OutlierStrategy]))
        o_factor = outliers.num("factor", 3.0, lo=0.0, lo_open=True)
        outliers.finish()
    params = dict(
        name=name,
        direction=direction,
        critical=r.bool("critical", False),
        must_have_data=r.bool("must_have_data", False),
        nan_strategy=NanStrategy(r.str("nan_strategy", "remove", choices=[n.value for n in NanStrategy])),
        outlier_strategy=o_strategy,
        outlier_factor=o_factor,
        effect_size=_effect_size(r.child("effect_size", None)),
        confidence=r.num("confidence", defaults.get("confidence", 0.98), lo=0.5, hi=1.0, hi_open=True),
        tolerance=r.num("tolerance", defaults.get("tolerance", get_plugin(judge).tolerance), lo=0.0),
        margin=r.num("margin", defaults.get("margin"), lo=0.0),
        statistic=r.str("statistic", "mean", choices=STATISTICS),
        upper=r.num("upper", None),
        lower=r.num("lower", None),
        max_ratio=r.num("max_ratio", None, lo=0.0, lo_open=True),
        min_ratio=r.num("min_ratio", None, lo=0.0),
    )
    options = r.mapping("options", {})
    try:
        options = get_plugin(judge).parse_options(options)
    except ValueError as e:
        raise ConfigError(f"{r.source}: {r.key('options')}.{e}") from None
    if judge == "threshold" and all(params[k] is None for k in ("upper", "lower", "max_ratio", "min_ratio")):
        raise r.error("a threshold metric needs at least one of upper, lower, max_ratio, min_ratio")
    if params["upper"] is not None and params["lower"] is not None and params["lower"] > params["upper"]:
        raise r.error(f"must be <= upper ({params['upper']:g}); got {params['lower']:g}", "lower")
    if params["max_ratio"] is not None and params["min_ratio"] is not None \
            and params["min_ratio"] > params["max_ratio"]:
        raise r.error(f"must be <= max_ratio ({params['max_ratio']:g}); got {params['min_ratio']:g}", "min_ratio")
    query = r.str("query", None)
    group = r.str("group", "default")
    muted = r.bool("muted", False)
    denominator = r.str("denominator", None)
    aggregate = r.str("aggregate", None, choices=["sum", "avg", "max", "min"])
    nonfinite = r.str("nonfinite", "error", choices=NONFINITE)
    r.finish()
    return MetricConfig(name=name, judge=judge, group=group, params=JudgeParams(**params, options=dict(options)),
                        query=query, muted=muted, denominator=denominator, aggregate=aggregate,
                        nonfinite=nonfinite)


def _groups(r: Reader | None, metrics: tuple[MetricConfig, ...]) -> dict[str, float]:
    if r is None:
        return {}
    weights = {}
    used = {m.group for m in metrics}
    for g in r.data:
        if not isinstance(g, str):
            raise r.error(f"group names must be strings; got {g!r}")
        weights[g] = r.num(g, lo=0.0, hi=100.0)
        if g not in used:
            raise r.error(f"no metric is in group {g!r}; groups in use: {', '.join(sorted(used))}", g)
    total = sum(weights.values())
    unweighted = used - set(weights)
    if not unweighted and abs(total - 100.0) > 1e-9:
        raise r.error(f"weights must add up to 100 when every group is weighted; they add up to {total:g}")
    if unweighted and total >= 100.0:
        raise r.error(f"weights add up to {total:g}, leaving nothing for the unweighted group(s) "
                      f"{', '.join(sorted(unweighted))}; weight every group (total 100) or lower the weights")
    r.finish()
    return weights


def _prometheus(r: Reader | None) -> PrometheusSettings:
    if r is None:
        return PrometheusSettings()
    headers = check_headers(r, r.mapping("headers", {}))
    total = r.duration("total_timeout", None)
    s = PrometheusSettings(
        url=r.str("url", None),
        step=r.duration("step", 60.0),
        timeout=r.duration("timeout", 10.0),
        headers=dict(headers),
        bearer_token_file=r.str("bearer_token_file", None),
        verify_tls=r.bool("verify_tls", True),
        retries=int(r.num("retries", 2, lo=0, hi=10)),
        concurrency=int(r.num("concurrency", 8, lo=1, hi=64)),
        total_timeout=total,
        max_response_bytes=int(r.num("max_response_bytes", 64 * 1024 * 1024, lo=1024, hi=2 ** 34)),
    )
    if s.step <= 0:
        raise r.error("must be > 0", "step")
    if s.timeout <= 0:
        raise r.error("must be > 0", "timeout")
    if s.total_timeout is not None and s.total_timeout <= 0:
        raise r.error("must be > 0", "total_timeout")
    r.finish()
    return s


def check_headers(r: Reader, headers: Mapping[Any, Any]) -> dict[str, str]:
    """HTTP headers from a config: strings without line breaks or control characters. Values are secrets, so
    an error names the header, never its value."""
    out = {}
    for k, v in headers.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise r.error("header names and values must be strings", "headers")
        if not k or any(ord(c) <= 32 or ord(c) == 127 or c == ":" for c in k):
            raise r.error(f"header name {k[:40]!r} is not a valid header name", "headers")
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in v) or v != v.strip():
            raise r.error(f"the value of header {k!r} holds a line break, a control character or surrounding "
                          f"spaces (value not shown)", f"headers.{k}")
        out[k] = v
    return out


def _string_map(r: Reader | None, what: str) -> dict[str, str]:
    if r is None:
        return {}
    out = {}
    for k in r.data:
        v = r.raw(k)
        if not isinstance(k, str) or isinstance(v, (dict, list, bool)) or v is None:
            raise r.error(f"{what} must map names to strings or numbers; got {v!r}", str(k))
        out[k] = str(v)
    r.finish()
    return out


def parse_config(data: Any, source: str = "<config>") -> CanaryConfig:
    """Validate a loaded mapping into a ``CanaryConfig``.

    The schema (:mod:`analysis.config.schema`) checks the structure first and reports every error it finds; the
    semantic checks below (weights, references between metrics, routers) then run on the same document, and their
    first error joins the list when it names a key the schema did not.

    Raises
    ------
    ConfigError
        One line ``source: key.path: message`` for one error; for several, ``source: N errors`` and a line each.
    """
    errors = validate_structure(data, source)
    try:
        config = _parse(data, source)
    except ConfigError as e:
        if not errors:
            raise
        semantic = str(e)
        where = semantic.split(": ", 2)[1] if semantic.count(": ") >= 2 else ""
        if not any(err.startswith(f"{source}: {where}:") for err in errors):
            errors = in_document_order(data, [*errors, semantic], source)
        raise config_error(errors, source) from None
    if errors:
        raise config_error(errors, source)
    return config


def _parse(data: Any, source: str) -> CanaryConfig:
    """The loader's own checks (first error only), on any document: structure and semantics."""
    top = Reader(data, "", source)
    name = top.str("name", Path(source).stem if source != "<config>" else "canary")
    description = top.str("description", "")
    defaults_r = top.child("defaults", None)
    defaults: dict[str, Any] = {}
    if defaults_r is not None:
        defaults = {"judge": defaults_r.str("judge", DEFAULT_JUDGE),
                    "confidence": defaults_r.num("confidence", 0.98, lo=0.5, hi=1.0, hi_open=True),
                    "tolerance": defaults_r.num("tolerance", None, lo=0.0),
                    "margin": defaults_r.num("margin", None, lo=0.0)}
        if defaults["tolerance"] is None:  # each judge's own default (judges.registry.JudgePlugin.tolerance)
            del defaults["tolerance"]
        defaults_r.finish()
    raw_metrics = top.list("metrics")
    if not raw_metrics:
        raise top.error("needs at least one metric", "metrics")
    metrics = []
    names: dict[str, int] = {}
    labels = metric_labels(raw_metrics)
    for i, m in enumerate(raw_metrics):
        mc = _metric(Reader(m, f"metrics[{labels[i]}]", source), defaults)
        if mc.name in names:
            raise ConfigError(f"{source}: metrics[{i}].name: duplicate metric name {mc.name!r} "
                              f"(also metrics[{names[mc.name]}])")
        names[mc.name] = i
        metrics.append(mc)
    metrics_t = tuple(metrics)
    for i, mc in enumerate(metrics_t):
        if mc.denominator is not None and mc.denominator not in names:
            raise ConfigError(f"{source}: metrics[{labels[i]}].denominator: no metric named {mc.denominator!r}")
        if mc.denominator == mc.name:
            raise ConfigError(f"{source}: metrics[{labels[i]}].denominator: a metric cannot be its own "
                              "denominator")
    weights = _groups(top.child("groups", None), metrics_t)
    sc = top.child("scoring", None)
    thresholds = Thresholds()
    holm, alpha = True, 0.05
    if sc is not None:
        p = sc.num("pass", 95.0, lo=0.0, hi=100.0)
        mg = sc.num("marginal", 75.0, lo=0.0, hi=100.0)
        if mg > p:
            raise sc.error(f"must be <= pass ({p:g}); got {mg:g}", "marginal")
        holm = sc.bool("holm", True)
        alpha = sc.num("alpha", 0.05, lo=0.0, hi=0.5, lo_open=True)
        sc.finish()
        thresholds = Thresholds(p, mg)
    prometheus = _prometheus(top.child("prometheus", None))
    scopes_r = top.child("scopes", None)
    scopes: dict[str, dict[str, str]] = {}
    if scopes_r is not None:
        for scope in ("baseline", "canary"):
            scopes[scope] = _string_map(scopes_r.child(scope), "scope labels")
        scopes_r.finish()
        if scopes["baseline"] == scopes["canary"]:
            raise scopes_r.error("baseline and canary select the same series (equal labels); a canary judged "
                                 "against itself always passes", "canary")
    variables = _string_map(top.child("variables", None), "variables")
    collector = _collector(top.child("collector", None))
    rollout = top.raw("rollout", None)
    if rollout is not None:
        rollout = _parse_rollout(rollout, source)
    top.finish()
    return CanaryConfig(name=name, description=description, metrics=metrics_t, group_weights=weights,
                        thresholds=thresholds, prometheus=prometheus, scopes=scopes, variables=variables,
                        holm=holm, alpha=alpha, rollout=rollout, source=source, collector=collector)


def _collector(r: Reader | None) -> CollectorSettings | None:
    if r is None:
        return None
    name = r.str("name")
    if not name.strip():
        raise r.error("must not be empty", "name")
    options = dict(r.mapping("options", {}))
    r.finish()
    return CollectorSettings(name, options)


def _parse_rollout(data: Any, source: str) -> Any:
    """The ``rollout:`` section belongs to ``analysis.rollout``; imported lazily to keep analysis light."""
    try:
        from analysis.rollout.settings import parse_rollout
    except ImportError:  # rollout support not installed in this build
        raise ConfigError(f"{source}: rollout: this build has no rollout support") from None
    return parse_rollout(Reader(data, "rollout", source))


def _unique_key_loader() -> type:
    """A ``yaml.SafeLoader`` that rejects a key repeated in one mapping (the last would win silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(key)
                    except TypeError:  # an unhashable key; SafeLoader reports it itself
                        continue
                    if first is not None:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {str(key)[:60]!r} (first on line {first})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def load_config(path: str | Path) -> CanaryConfig:
    """Read and validate a YAML or JSON config file."""
    p = Path(path)
    source = str(path)
    text = read_text(p, ConfigError)
    if p.suffix.lower() == ".json":
        data = parse_json(text, source, ConfigError)
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{source}: {where}invalid YAML: {problem}") from None
        except RecursionError:
            raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
        except (ValueError, OverflowError, TypeError) as e:  # e.g. a date like 2024-13-45
            raise ConfigError(f"{source}: invalid YAML: {' '.join(str(e).split())[:200]}") from None
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    return parse_config(data, source)
