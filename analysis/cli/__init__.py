"""The ``canary`` command: parse options, call one library function, print, exit with the verdict's code.

Exit codes: 0 pass, 1 fail, 2 usage or config error, 3 marginal, 4 nodata or error (no verdict reached).
Commands live in small modules and are imported only when run, so ``canary --help`` stays fast.
"""

from __future__ import annotations

import sys
from importlib import import_module

import click

from analysis._text import printable
from analysis.errors import CanaryError

# command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "analyze": "analysis.cli.cmd_analyze:analyze",
    "backtest": "analysis.cli.cmd_backtest:backtest",
    "validate": "analysis.cli.cmd_analyze:validate",
    "demo": "analysis.cli.cmd_analyze:demo",
    "report": "analysis.cli.cmd_report:report",
    "record": "analysis.cli.cmd_record:record",
    "rollout": "analysis.cli.cmd_rollout:rollout",
    "status": "analysis.cli.cmd_rollout:status",
    "watch": "analysis.cli.cmd_watch:watch",
    "plan": "analysis.cli.cmd_plan:plan",
    "schema": "analysis.cli.cmd_schema:schema",
    "serve": "analysis.cli.cmd_serve:serve",
    "import-kayenta": "analysis.cli.cmd_serve:import_kayenta",
}
_HELP: dict[str, str] = {
    "analyze": "Judge baseline against canary and print the verdict.",
    "backtest": "Replay a history of two stable groups: false-alarm and detection rates of a config (Dask).",
    "validate": "Check a config file and print what it defines.",
    "demo": "Run the two embedded demo scenarios (healthy and regression).",
    "report": "Render a saved JSON result as a self-contained HTML report, Markdown summary or JUnit XML.",
    "record": "Fetch the metrics from Prometheus and save them for offline replay (--data).",
    "rollout": "Shift traffic step by step (canary) or at once (blue-green), driven by each step's verdict.",
    "status": "Print where a journaled rollout stands (stage, weights, verdicts, outcome).",
    "watch": "Judge again at every step as data arrives (anytime-valid) and stop once the evidence is conclusive.",
    "plan": "From recorded baseline data: the smallest regression a canary can catch, or how long it must run.",
    "schema": "Print the config's JSON Schema (or its path, for editors).",
    "serve": "Serve analyses over HTTP: Kayenta's API (Argo Rollouts, Spinnaker), Argo's web provider, Flagger.",
    "import-kayenta": "Convert a Kayenta canary config (JSON) to a canary-engine config (YAML).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="canary-engine", prog_name="canary")
def cli() -> None:
    """canary-engine: decide with sound statistics whether a canary is worse than its baseline.

    Exit codes: 0 pass, 1 fail, 2 usage or config error, 3 marginal, 4 nodata or error.
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to one-line messages and exit codes, never a traceback."""
    try:
        rc = cli.main(args=argv, prog_name="canary", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("canary: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:  # one line, like every other error, instead of click's usage block
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"canary: error: {printable(e.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if e.exit_code == 1 else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except CanaryError as e:
        click.echo(f"canary: error: {printable(e)}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("canary: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away before the verdict was printed: fail closed (never report a pass we did not show)
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        sys.exit(4)
    except Exception as e:  # fail closed with one line; CANARY_DEBUG=1 shows the traceback
        import os

        if os.environ.get("CANARY_DEBUG"):
            raise
        click.echo(f"canary: internal error: {type(e).__name__}: {printable(e)}", err=True)
        sys.exit(4)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
