"""``canary analyze``, ``canary validate`` and ``canary demo``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from analysis.config import CanaryConfig, load_config
from analysis.series import Window
from analysis.errors import UsageError
from analysis.results import AnalysisResult
from analysis.output import check_target, write_atomic
from analysis.cli.cmd_report import report_options, write_requested
from analysis.cli._options import source_options
from analysis.runs.source import SourceOptions


def emit(result: AnalysisResult, json_path: str | None, only_failed: bool = False,
         json_data: bool = True) -> None:
    """Print the table (to stderr when JSON goes to stdout) and write the JSON result."""
    from analysis.cli.terminal import render, use_color

    to_stderr = json_path == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo(render(result, color=use_color(stream), only_failed=only_failed), err=to_stderr)
    if json_path:
        write_atomic(json_path, result.to_json(include_data=json_data))
    write_requested(result)


def emit_intervals(run: Any, json_path: str | None, json_data: bool, only_failed: bool) -> None:
    """Print an interval run's final table and write its JSON and reports."""
    from analysis.cli.cmd_report import write_requested
    from analysis.cli.terminal import render, use_color

    to_stderr = json_path == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    click.echo("", err=to_stderr)
    click.echo(render(run.result, color=use_color(stream), only_failed=only_failed), err=to_stderr)
    if json_path:
        write_atomic(json_path, run.to_json(include_data=json_data))
    write_requested(run.result)


def run_analyze(cfg: CanaryConfig, opts: SourceOptions, json_path: str | None, json_data: bool,
                only_failed: bool, quiet: bool = False) -> int:
    """``canary analyze``: one library call (one window, or interval by interval), then print and write. A
    progress bar shows the metrics fetched and judged on a terminal, unless ``quiet``."""
    from analysis.cli.progress import progress_bar
    from analysis.runs.analyze import analyze_intervals, analyze_source

    if not opts.interval_run:
        with progress_bar("analyzing", quiet=quiet) as progress:
            result = analyze_source(cfg, opts, progress)
        emit(result, json_path, only_failed, json_data=json_data)
        return result.exit_code
    to_stderr = json_path == "-"

    def on_interval(i: int, total: int, result: Any, stop: str | None) -> None:
        w = result.window.to_dict()
        line = f"interval {i}/{total}  {w['start']} .. {w['end']}  {result.verdict.value.upper():<8} score {result.score:g}"
        click.echo(line + (f"  (stopping: {stop})" if stop else ""), err=to_stderr)

    def on_wait(i: int, total: int, until: float) -> None:
        click.echo(f"interval {i}/{total}: waiting until {Window(until, until).to_dict()['end']} "
                   f"({max(0.0, until - time.time()):.0f}s)", err=True)

    run = analyze_intervals(cfg, opts, on_interval=on_interval, on_wait=on_wait)
    emit_intervals(run, json_path, json_data, only_failed)
    return run.exit_code


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--data", "data", type=click.Path(dir_okay=False), help="Recorded data: CSV or Parquet with columns "
              "metric, scope, timestamp, value.")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the result as JSON ('-' for stdout).")
@click.option("--json-no-data", is_flag=True, help="Leave the collected series out of the JSON result.")
@click.option("--only-failed", is_flag=True, help="List only metrics that did not pass.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal).")
@report_options
@source_options
def analyze(config: str, data: str | None, json_path: str | None, json_no_data: bool, only_failed: bool,
            quiet: bool, **source: object) -> int:
    """Judge baseline against canary for every metric of CONFIG and print the verdict.

    The data comes from a recorded file (--data) or from Prometheus (--prometheus-url, --start, --end). With any
    of --lifetime, --interval, --warmup, --lookback or --mode, the window is judged interval by interval
    (Kayenta's canary stage) and the final verdict comes from the last interval.

    Exit codes: 0 pass, 1 fail, 2 usage or config error, 3 marginal, 4 nodata or error.
    """
    cfg = load_config(config)
    return run_analyze(cfg, SourceOptions(data=data, **source), json_path,  # type: ignore[arg-type]
                       not json_no_data, only_failed, quiet)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--explain", is_flag=True, help="Also print the plan a rollout of CONFIG would follow: stages, "
              "weights, waits, the analysis per step, and what a fail, marginal, no verdict or signal does.")
def validate(config: str, explain: bool) -> int:
    """Check CONFIG and describe every section it defines (metrics, scoring, data source, rollout, router,
    hooks); exit 0, or print the first error and exit 2. Nothing is contacted."""
    from analysis.config.describe import describe

    cfg = load_config(config)
    click.echo(describe(cfg))
    if explain:
        from analysis.rollout.explain import explain as explain_plan

        click.echo("")
        click.echo(explain_plan(cfg))
    return 0


def demo_dir() -> Path:
    """The demo fixtures: ``fixtures/demo`` of the source tree, or the current directory's."""
    import os

    candidates = [Path(os.environ["CANARY_DEMO_DIR"])] if os.environ.get("CANARY_DEMO_DIR") else []
    candidates += [Path(__file__).resolve().parents[2] / "fixtures" / "demo", Path.cwd() / "fixtures" / "demo"]
    for c in candidates:
        if (c / "canary.yaml").is_file():
            return c
    raise UsageError("demo data not found: run from the repository checkout (fixtures/demo) "
                     "or set CANARY_DEMO_DIR")


@click.command()
@click.option("--json", "json_dir", type=click.Path(file_okay=False), help="Also write each result as JSON here.")
def demo(json_dir: str | None) -> int:
    """Run the two embedded scenarios: a healthy canary (never fails: passes, or is inconclusive when the judge
    cannot tell) and a latency and error-rate regression (fails)."""
    from analysis import analyze_file

    if json_dir:
        check_target(Path(json_dir) / "healthy.json")
    d = demo_dir()
    cfg = load_config(d / "canary.yaml")
    outcomes = []
    # the healthy canary is never failed; whether it is shown within its allowed effects (pass) or not enough data
    # to tell (inconclusive) depends on how much of the load both arms share the judge can take out
    for scenario, expect in (("healthy", ("pass", "inconclusive")), ("regression", ("fail",))):
        click.echo(f"=== scenario: {scenario} (expected: {' or '.join(expect)}) ===")
        result = analyze_file(cfg, d / f"{scenario}.csv")
        emit(result, str(Path(json_dir) / f"{scenario}.json") if json_dir else None)
        click.echo("")
        outcomes.append((scenario, expect, result.verdict.value))
    click.echo("demo summary:")
    ok = True
    for scenario, expect, got in outcomes:
        mark = "as expected" if got in expect else "UNEXPECTED"
        ok &= got in expect
        click.echo(f"  {scenario:<11} verdict {got.upper():<8} ({mark})")
    return 0 if ok else 1
