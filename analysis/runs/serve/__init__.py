"""``canary serve``: canary-engine behind the HTTP APIs that Argo Rollouts, Flagger and Kayenta clients speak.

    >>> from analysis.runs.serve import ServeSettings, serve
    >>> serve(ServeSettings(config_dir=Path("configs"), token="s3cret"))

Endpoints and their contract: ``shared/docs/integrations.md`` §6 and ``docs/serve.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Iterator

from analysis.runs.serve.settings import ServeSettings, load_token

__all__ = ["ServeSettings", "create_app", "load_token", "serve"]


def create_app(settings: ServeSettings):  # noqa: ANN201 (an ASGI callable)
    """The ASGI application for ``settings`` (see ``analysis.runs.serve.app``)."""
    from analysis.runs.serve.app import create_app as make

    return make(settings)


def serve(settings: ServeSettings, log_level: str = "info") -> None:
    """Run the server under uvicorn until SIGTERM or SIGINT.

    On a stop, uvicorn stops accepting, gives open requests up to 2 s, then the app waits up to ``settings.drain``
    seconds for running executions; what is left is journaled in the SQLite file and resumed at the next start,
    and the process exits 0 at once (within 10 s of the signal).
    """
    import uvicorn

    logger = logging.getLogger("canary.serve")  # our lines beside uvicorn's, in its format, at the same level
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(log_level.upper())

    class _Server(uvicorn.Server):
        """uvicorn re-raises the stop signal after a graceful shutdown; a finished stop should exit 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level=log_level,
                            timeout_graceful_shutdown=2, lifespan="on", proxy_headers=False,
                            server_header=False, limit_concurrency=1000)
    server = _Server(config)
    server.run()
    if server.started:
        # the store is closed and every unfinished execution journaled; do not wait at interpreter exit for
        # fetch threads stuck on a hung Prometheus (they would hold the stop past 10 s)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
