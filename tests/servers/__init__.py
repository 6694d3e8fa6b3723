"""Real servers started by test fixtures (always on 127.0.0.1, stopped by PID)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def stop_process(proc: subprocess.Popen | None, resume_first: bool = False) -> None:
    """Stop a server we started: SIGTERM by PID, wait, then SIGKILL if it does not go within 10 s.

    ``resume_first`` sends SIGCONT first, for a process a test paused with SIGSTOP (it cannot act on SIGTERM).
    """
    if proc is None or proc.poll() is not None:
        return
    if resume_first:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the servers retry when another process takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, probe, timeout: float) -> bool:
    """Poll ``probe()`` until it returns true (ready), the process exits, or ``timeout`` seconds pass.

    ``OSError`` from the probe (connection refused while the server starts) counts as not ready yet.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if probe():
                return True
        except OSError:  # urllib.error.URLError is an OSError too
            pass
        time.sleep(0.05)
    return False
