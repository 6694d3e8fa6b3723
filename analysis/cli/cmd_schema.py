"""``canary schema``: the config's JSON Schema, for editors and other validators."""

from __future__ import annotations

import click

from analysis.config.schema import SCHEMA_PATH


@click.command()
@click.option("--path", "path_only", is_flag=True, help="Print the path of the installed schema file instead.")
def schema(path_only: bool) -> int:
    """Print the JSON Schema (draft 2020-12) of the config file.

    Editors that use yaml-language-server validate and complete a config that starts with the line
    ``# yaml-language-server: $schema=PATH``, PATH being what ``canary schema --path`` prints.
    """
    click.echo(str(SCHEMA_PATH) if path_only else SCHEMA_PATH.read_text(encoding="utf-8"), nl=path_only)
    return 0
