"""``canary serve`` and ``canary import-kayenta``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from analysis.errors import UsageError


@click.command()
@click.option("--config-dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Configs served: DIR/<configId>.yaml, .yml, .json or Kayenta's JSON form.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--prometheus-url", metavar="URL", help="Query this Prometheus (default: each config's prometheus.url).")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="File holding the API token (default: the environment variable CANARY_SERVE_TOKEN).")
@click.option("--no-auth", is_flag=True, help="Accept requests without a token (only where nobody else can reach).")
@click.option("--db", default="canary-serve.db", show_default=True, type=click.Path(dir_okay=False), metavar="PATH",
              help="SQLite file keeping executions across restarts.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Kayenta executions analysed at once.")
@click.option("--max-queued", default=200, show_default=True, type=click.IntRange(50, 100000),
              help="Kayenta executions queued or running before POST /canary answers 429.")
@click.option("--max-sync", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Web-provider and Flagger analyses at once before 429.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(config_dir: str, host: str, port: int, prometheus_url: str | None, token_file: str | None, no_auth: bool,
          db: str, workers: int, max_queued: int, max_sync: int, log_level: str) -> int:
    """Serve canary analyses over HTTP: Kayenta's API (Argo Rollouts' kayenta provider, Spinnaker), Argo's web
    provider (GET /analysis/CONFIG) and Flagger webhooks (POST /flagger/CONFIG).

    The token is accepted as 'Authorization: Bearer TOKEN' or as the HTTP Basic password. Runs until SIGTERM, then
    finishes running executions (or journals them for the next start). See docs/serve.md.
    """
    try:
        from analysis.runs.serve import ServeSettings, load_token, serve as run
    except ImportError as e:
        raise UsageError(f"canary serve needs the serve extra: pip install 'canary-engine[serve]' ({e.name} is "
                         f"missing)") from None
    if prometheus_url:
        from analysis.collectors.prometheus import display_url

        if not display_url(prometheus_url).startswith(("http://", "https://")):
            raise UsageError(f"--prometheus-url {display_url(prometheus_url)!r}: expected http(s)://host[:port]")
    settings = ServeSettings(config_dir=Path(config_dir), host=host, port=port, prometheus_url=prometheus_url,
                             token=load_token(token_file, no_auth), db=Path(db), workers=workers,
                             max_queued=max_queued, max_sync=max_sync)
    from analysis.runs.serve.configs import ConfigDir

    entries, broken = ConfigDir(settings.config_dir).entries()
    for message in broken:
        click.echo(f"canary serve: warning: {message}", err=True)
    for entry in entries:
        if entry.config.name != entry.id:
            click.echo(f"canary serve: note: {entry.path} is listed as {entry.config.name!r} (its name), served as "
                       f"/canary/{entry.id}; Argo's canaryConfigName must be {entry.config.name!r}", err=True)
    click.echo(f"canary serve: {len(entries)} config(s) from {config_dir} on http://{host}:{port} "
               f"(auth {'off' if settings.token is None else 'on'})", err=True)
    run(settings, log_level)
    return 0


@click.command("import-kayenta")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), metavar="PATH",
              help="Write the YAML config here (default: stdout).")
def import_kayenta(file: str, out: str | None) -> int:
    """Convert a Kayenta canary config (JSON) to a canary-engine config (YAML).

    Prints one line per field that cannot be carried over (also written as comments at the top of the YAML).
    The result is validated before it is written. Exit codes: 0 converted, 2 unreadable or invalid input.
    """
    from analysis.config.kayenta_import import import_file

    imported = import_file(file)
    imported.config()  # validate before writing anything
    text = imported.to_yaml()
    for note in imported.notes:
        click.echo(f"not carried over: {note}", err=True)
    if out:
        from analysis.output import check_target, write_atomic

        check_target(out)
        write_atomic(out, text)
        click.echo(f"{file}: {len(imported.data['metrics'])} metric(s) -> {out} "
                   f"({len(imported.notes)} note(s))", err=True)
    else:
        sys.stdout.write(text)
    return 0
