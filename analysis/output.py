"""Writing command output safely: whole files or nothing (write to a temporary file, then rename)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from analysis.errors import UsageError


def check_target(path: str | Path | None) -> None:
    """Refuse an output path ``write_atomic`` could not write, before a command does its work."""
    if path is None or str(path) == "-":
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: directory {parent} does not exist")
    if p.is_dir():
        raise UsageError(f"{path}: cannot write: Is a directory")


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` (or ``bytes``) to ``path`` (``-`` is stdout) so that a reader never sees a half-written file."""
    if str(path) == "-" and isinstance(text, bytes):
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
        return
    if str(path) == "-":
        assert isinstance(text, str)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    check_target(path)
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=parent)
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs are meant to be shared (CI artifacts)
        os.replace(tmp, p)
    except OSError as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise UsageError(f"{path}: cannot write: {e.strerror or e}") from None
