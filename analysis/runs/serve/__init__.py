"""``canary serve``: canary-engine behind the HTTP APIs that Argo Rollouts, Flagger and Kayenta clients speak.

    >>> from analysis.runs.serve import ServeSettings, serve
    >>> serve(ServeSettings(config_dir=Path("configs"), token="s3cret"))

Endpoints and their contract: ``shared/docs/integrations.md`` §6 and ``docs/serve.md``.
"""

from __future__ import annotations

from .settings import ServeSettings, load_token

__all__ = ["ServeSettings", "create_app", "load_token", "serve"]


def create_app(settings: ServeSettings):  # noqa: ANN201 (an ASGI callable)
    """The ASGI application for ``settings`` (see ``analysis.runs.serve.app``)."""
    from .app import create_app as make

    return make(settings)


def serve(settings: ServeSettings, log_level: str = "info") -> None:
    """Run the server under uvicorn until SIGTERM or SIGINT.

    On a stop, uvicorn stops accepting, gives open requests up to 2 s, then the app waits up to ``settings.drain``
    seconds for running executions; what is left is journaled in the SQLite file and resumed at the next start.
    """
    import uvicorn

    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
                            timeout_graceful_shutdown=2, lifespan="on", proxy_headers=False,
                            server_header=False, limit_concurrency=1000)
    uvicorn.Server(config).run()
