"""Running a rollout's own commands (router commands, hooks): no shell, bounded in time, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Mapping


def run_bounded(argv: list[str], env: Mapping[str, str], timeout: float,
                merge_stderr: bool = False) -> tuple[int | None, str, str]:
    """Run ``argv`` and return ``(returncode, stdout, stderr)``; ``returncode`` is ``None`` when it timed out.

    The command runs in a session of its own, and on timeout the whole process group is killed, so a hung
    ``kubectl`` or ``curl`` that a script started dies with it (``subprocess.run`` kills only the script).
    With ``merge_stderr`` the error output is part of ``stdout``. Raises ``OSError`` when it cannot start.
    """
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=dict(env), text=True, errors="replace", start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return None, out or "", err or ""
    return p.returncode, out or "", err or ""
