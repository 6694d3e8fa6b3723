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
