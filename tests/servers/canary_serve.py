"""Our own server for tests: ``canary serve`` under uvicorn as a real subprocess on 127.0.0.1, stopped by PID.

    >>> with CanaryServe(tmpdir, config_dir, token="t0ken", prometheus_url=prom.url) as srv:
    ...     urllib.request.urlopen(srv.url + "/healthz")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Sequence

from . import free_port, stop_process, wait_ready

READY_TIMEOUT = 30.0


class CanaryServe:
    """``canary serve`` with its own SQLite file in ``workdir``; ``restart()`` keeps the file (and the port)."""

    def __init__(self, workdir: Path, config_dir: Path, token: str | None = "t0ken-for-tests",
                 prometheus_url: str | None = None, extra_args: Sequence[str] = ()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_dir = Path(config_dir)
        self.token = token
        self.prometheus_url = prometheus_url
        self.extra_args = tuple(extra_args)
        self.db = self.dir / "executions.db"
        self.log = self.dir / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def address(self, user: str = "argo") -> str:
        """The URL with the token as user info, as Argo's kayenta provider and Flagger are given it."""
        return f"http://{user}:{self.token}@127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "analysis.cli", "serve", "--config-dir", str(self.config_dir), "--host",
               "127.0.0.1", "--port", str(self.port), "--db", str(self.db), "--log-level", "warning"]
        if self.prometheus_url:
            cmd += ["--prometheus-url", self.prometheus_url]
        if self.token is None:
            cmd.append("--no-auth")
        else:
            token_file = self.dir / "token"
            token_file.write_text(self.token + "\n", encoding="utf-8")
            cmd += ["--token-file", str(token_file)]
        return cmd + list(self.extra_args)

    def start(self, keep_port: bool = False) -> "CanaryServe":
        env = {k: v for k, v in os.environ.items() if k != "CANARY_SERVE_TOKEN"}
        for _ in range(5):  # the free port can be taken between bind(0) and uvicorn's bind
            if not keep_port or not self.port:
                self.port = free_port()
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
            if wait_ready(self.proc, self._ready, READY_TIMEOUT):
                return self
            stop_process(self.proc)
            self.proc = None
        raise RuntimeError(f"canary serve did not become ready; log:\n{self.log_tail()}")

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
            return r.status == 200 and json.load(r) == {"status": "ok"}

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM by PID; (exit code, seconds it took to exit)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            stop_process(self.proc)
        self.proc = None
        return code, time.monotonic() - t0

    def restart(self) -> "CanaryServe":
        if self.proc is not None:
            self.terminate()
        return self.start(keep_port=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)

    def __enter__(self) -> "CanaryServe":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
