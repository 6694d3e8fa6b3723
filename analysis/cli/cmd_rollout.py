"""``canary rollout`` and ``canary status``."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from analysis.config import load_config
from analysis.errors import ConfigError, UsageError
from analysis.output import write_atomic


def default_state(service: str) -> str:
    return f"canary-rollout-{service}.jsonl"


def _no_analysis(baseline, canary):
    raise UsageError("--abort does not analyse")


def _interrupt(signum, frame):
    """SIGINT and SIGTERM stop a rollout with its safe action (rollout.on_interrupt, journaled)."""
    from analysis.rollout.strategies import Interrupted

    raise Interrupted(signal.Signals(signum).name)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--prometheus-url", metavar="URL", help="Prometheus to analyse each step with (overrides "
              "prometheus.url).")
@click.option("--state", "state", metavar="FILE", help="Journal (state file), JSON lines. "
              "Default: canary-rollout-SERVICE.jsonl in the current directory.")
@click.option("--resume", is_flag=True, help="Continue the rollout recorded in the state file from its last "
              "completed stage, after reconciling the router's weights with the journal.")
@click.option("--approve", is_flag=True, help="With --resume: accept the step a marginal verdict paused on.")
@click.option("--abort", is_flag=True, help="Roll back the unfinished rollout recorded in the state file.")
@click.option("--json", "json_path", metavar="PATH|-", help="Write the result (with every stage's analysis) as "
              "JSON.")
@click.option("-q", "--quiet", is_flag=True, help="On a terminal: the event lines only, without the live status "
              "line and its step timer.")
def rollout(config: str, prometheus_url: str | None, state: str | None, resume: bool, approve: bool,
            abort: bool, json_path: str | None, quiet: bool) -> int:
    """Roll the canary of CONFIG out step by step (or blue-green), letting each step's verdict decide.

    Exit codes: 0 promoted, 1 rolled back, 2 usage or config error (or another rollout of the service is
    running), 3 paused on a marginal verdict, 4 no verdict reached (the router is left at the last safe weights).
    SIGINT or SIGTERM rolls back to 0% canary (exit 1), or holds the last safe weights with
    rollout.on_interrupt: hold (exit 4, --resume continues). Progress is a live status line on a terminal, JSON
    lines otherwise; it never delays a router action.
    """
    from analysis.rollout import Rollout, source_analyzer
    from analysis.rollout.settings import service_name
    from analysis.rollout.progress import Background, JsonLines, LiveProgress

    if abort and (resume or approve):
        raise UsageError("--abort cannot be combined with --resume or --approve")
    cfg = load_config(config)
    if cfg.rollout is None:
        raise ConfigError(f"{config}: rollout: is required for canary rollout (strategy, steps, interval, router)")
    if prometheus_url:
        cfg = cfg.with_overrides(prometheus=dataclasses.replace(cfg.prometheus, url=prometheus_url))

    # built first, so a missing or bad Prometheus URL is a config error before any weight moves;
    # --abort only rolls back and needs no Prometheus
    analyzer = _no_analysis if abort else source_analyzer(cfg)
    stream = sys.stderr if json_path == "-" else sys.stdout  # stdout then carries the result document only
    tty = stream.isatty()
    display = Background(LiveProgress(stream, show_end=False, quiet=quiet) if tty else JsonLines(stream))
    state_file = state or default_state(service_name(cfg.rollout, cfg.name))
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live there only
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if main_thread else {}
    try:
        result = Rollout(cfg, analyzer, state_file, observer=display).run(resume=resume, approve=approve,
                                                                          abort=abort)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stuck = not display.close(timeout=2.0)
        if display.error:
            _silence(stream)
    if json_path and not (stuck and json_path == "-"):
        write_atomic(json_path, result.to_json())
    if stuck:
        # nobody reads the output (a full pipe): the outcome is journaled and the router acted; exiting normally
        # would block on flushing that output forever
        os._exit(result.exit_code)
    if tty:
        lines = [f"{result.outcome.value.upper().replace('_', ' ')} (exit {result.exit_code}): {result.reason}",
                 *(f"warning: {w}" for w in result.warnings)]
    else:
        lines = [json.dumps({"event": "result", **result.to_dict()})]
    try:
        for line in lines:
            click.echo(line, file=stream)
    except OSError:  # the reader went away: the outcome is in the journal and the exit code, not lost
        _silence(stream)
    return result.exit_code


def _silence(stream) -> None:
    """Point a closed output at /dev/null, so the flush at exit cannot fail and replace the exit code."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--state", "state", metavar="FILE", help="State file of the rollout (default: from CONFIG's "
              "service, or the only canary-rollout-*.jsonl here).")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def status(config: str | None, state: str | None, as_json: bool) -> int:
    """Print where a rollout stands: stage, weights, verdicts, outcome (read from its state file).

    Exit code 0 when a rollout is recorded, 2 when there is none.
    """
    from analysis.rollout.settings import service_name
    from analysis.rollout.status import render, status as read_status

    if state is None and config is not None:
        cfg = load_config(config)
        if cfg.rollout is None:
            raise ConfigError(f"{config}: rollout: is required to find the rollout's state file")
        state = default_state(service_name(cfg.rollout, cfg.name))
    if state is None:
        found = sorted(Path(".").glob("canary-rollout-*.jsonl"))
        if len(found) != 1:
            raise UsageError("give the state file (--state FILE) or the config; "
                             + (f"found {len(found)} state files here" if found else "none found here"))
        state = str(found[0])
    s = read_status(state)
    if s is None:
        raise UsageError(f"{state}: no rollout recorded")
    from analysis._text import printable

    click.echo(json.dumps(s, indent=2) if as_json else "\n".join(printable(line) for line in render(s).splitlines()))
    return 0
