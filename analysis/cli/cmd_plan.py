"""``canary plan``: from baseline history (a recorded file or Prometheus), the smallest regression a canary can
catch or how long it needs."""

from __future__ import annotations

import math

import click

from analysis.cli._options import prometheus_options
from analysis.config import load_config
from analysis.errors import UsageError
from analysis.output import check_target, write_atomic
from analysis.runs.source import SourceOptions, duration as _duration


def _pct(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return "out of reach" if math.isinf(v) else f"{v:+.1%}"


def _time(v: float) -> str:
    if v is None or math.isnan(v):
        return "-"
    if math.isinf(v):
        return "out of reach"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if v >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}s"


def render(p) -> str:
    from analysis.report._format import fmt

    rows = [["metric", "judge", "step", "points/arm", "autocorr", "VIF", "noise", "MDE", "needed", "note"]]
    for m in p.metrics:
        rows.append([m.name, m.judge, _time(m.step), str(m.points or "-"), fmt(m.autocorrelation, 2),
                     fmt(m.vif, 3), "-" if math.isnan(m.noise) else f"{m.noise:.1%}", _pct(m.mde),
                     _time(m.needed), m.note])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    head = [f"plan: split {p.split:.0%} canary, power {p.power:.0%}, Holm over {p.family} gating metric(s)"]
    if p.duration:
        head.append(f"  MDE: smallest relative regression detected in {_time(p.duration)}")
    if p.effect:
        head.append(f"  needed: duration to detect a {p.effect:+.0%} regression")
    return "\n".join(head + [""] + lines)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Recorded data (CSV or Parquet): the baseline scope, and for paired metrics the canary scope "
                   "when it was recorded on the same timestamps (an A/A run, the last canary). Or --prometheus-url "
                   "(or prometheus.url) with --start: the scopes' history in Prometheus.")
@click.option("--duration", metavar="DURATION", help="Planned canary duration (e.g. 30m): gives the minimum "
              "detectable effect of each metric.")
@click.option("--effect", type=float, metavar="FRACTION", help="Regression to detect (0.1 = +10 %, for counts a "
              "rate ratio of 1.1): gives the duration each metric needs.")
@click.option("--split", type=float, default=0.5, show_default=True, metavar="FRACTION",
              help="The canary's share of the traffic that baseline and canary receive together.")
@click.option("--power", type=float, default=0.9, show_default=True, help="Probability of detecting the effect.")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the plan as JSON ('-' for stdout).")
@prometheus_options
def plan(config: str, data: str | None, duration: str | None, effect: float | None, split: float, power: float,
         json_path: str | None, **source: str) -> int:
    """Plan a canary for CONFIG from baseline history: minimum detectable effect for --duration, or the
    duration needed for --effect (or both), per gating metric, under the judges' decision rule.

    The history is a recorded file (--data) or Prometheus (--prometheus-url or prometheus.url, the config's
    scopes, over --start .. --end).

    Exit codes: 0 planned, 2 usage, config or data error, 4 the source cannot be queried.
    """
    import json

    from analysis.runs.plan import plan_source

    check_target(json_path)
    cfg = load_config(config)
    seconds = _duration(duration, "--duration")
    if seconds is None and effect is None:
        raise UsageError("give --duration DURATION, --effect FRACTION, or both")
    if seconds is not None and seconds <= 0:
        raise UsageError("--duration must be longer than zero")
    if effect is not None and not 0 < effect < math.inf:
        raise UsageError("--effect must be a relative regression > 0, e.g. 0.1")
    if not 0 < split < 1:
        raise UsageError("--split must be in (0, 1)")
    if not 0.5 <= power < 1:
        raise UsageError("--power must be in [0.5, 1)")
    opts = SourceOptions(data=data, **source)  # type: ignore[arg-type]
    result = plan_source(cfg, opts, duration=seconds, effect=effect, split=split, power=power)
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    if json_path == "-":
        click.echo(render(result), err=True)
        write_atomic("-", text)
    else:
        click.echo(render(result))
        if json_path:
            write_atomic(json_path, text)
    return 0
