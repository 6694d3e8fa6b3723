"""A real Dask cluster for tests: ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, stopped by PID.

    >>> with DaskCluster(tmpdir, workers=2) as cluster:
    ...     backtest(config, data, scheduler=cluster.address)

The processes run this interpreter's ``python -m dask`` (the ``dask`` command), so the workers import the
canary-engine under test. Workers run without a nanny, so each PID is the worker itself.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from . import free_port, stop_process, wait_ready

READY_TIMEOUT = 60.0


class DaskCluster:
    """A scheduler and ``workers`` single-threaded workers, each logging to its own file in ``workdir``."""

    def __init__(self, workdir: Path, workers: int = 2):
        self.dir = Path(workdir)
        self.n_workers = workers
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.dir / f"{name}.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.dir)

    def start(self) -> "DaskCluster":
        for _ in range(5):  # the free port can be taken between bind(0) and the scheduler's bind
            self.port = free_port()
            self.scheduler = self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--no-dashboard")
            if wait_ready(self.scheduler, self._listening, READY_TIMEOUT):
                break
            stop_process(self.scheduler)
        else:
            raise RuntimeError(f"the Dask scheduler did not start; log:\n{self.log_tail('scheduler')}")
        self.workers = [self._spawn(f"worker{i}", "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                                    "--no-nanny", "--no-dashboard", "--name", f"worker{i}")
                        for i in range(self.n_workers)]
        from distributed import Client

        with Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(self.n_workers, timeout=READY_TIMEOUT)
        return self

    def _listening(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        for proc in self.workers:
            stop_process(proc)
        self.workers = []
        proc, self.scheduler = self.scheduler, None
        stop_process(proc)

    def __enter__(self) -> "DaskCluster":
        return self.start() if self.scheduler is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
