"""Settings of ``canary serve`` and where the token comes from (a file or ``CANARY_SERVE_TOKEN``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import UsageError

__all__ = ["ServeSettings", "TOKEN_ENV", "load_token"]

TOKEN_ENV = "CANARY_SERVE_TOKEN"


@dataclass(frozen=True)
class ServeSettings:
    """Everything the server needs. ``token`` None means no authentication (``--no-auth``)."""

    config_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    prometheus_url: str | None = None
    token: str | None = field(default=None, repr=False)
    db: Path = Path("canary-serve.db")
    workers: int = 4
    max_queued: int = 200
    max_sync: int = 8
    max_body: int = 1 << 20
    drain: float = 7.0


def load_token(token_file: str | None, no_auth: bool = False) -> str | None:
    """The token from ``token_file`` or the environment; ``UsageError`` when neither is set (unless ``no_auth``).

    The message names the file, never its content.
    """
    if no_auth:
        if token_file or os.environ.get(TOKEN_ENV):
            raise UsageError(f"--no-auth cannot be combined with --token-file or {TOKEN_ENV}")
        return None
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--token-file {token_file}: cannot read: {getattr(e, 'strerror', None) or type(e).__name__}") from None
        where = f"--token-file {token_file}"
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        where = TOKEN_ENV
        if not token:
            raise UsageError(f"give a token: --token-file FILE or the environment variable {TOKEN_ENV} "
                             f"(or --no-auth for a server nobody else can reach)")
    if not token or any(c.isspace() for c in token) or not token.isprintable():
        raise UsageError(f"{where}: the token must be one line of printable characters without spaces")
    return token
