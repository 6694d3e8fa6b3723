"""Errors with the exit code the CLI turns them into. Each message is one line that names the file, key or line."""

from __future__ import annotations


class CanaryError(Exception):
    """Base class. ``exit_code`` is what ``canary`` exits with when this error stops a command."""

    exit_code = 4


class UsageError(CanaryError):
    """Bad command-line use or bad input the user must fix (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file that cannot be read or does not validate (exit 2)."""


class DataError(UsageError):
    """A data file that cannot be read or has the wrong shape (exit 2)."""


class CollectorError(CanaryError):
    """A source of metrics that failed (unreachable, bad query, malformed answer). Fails closed (exit 4)."""


def read_text(path, error: type[CanaryError]) -> str:
    """A whole UTF-8 text file, or ``error`` with one line naming the file (missing, unreadable, not UTF-8)."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read: {e}") from None


def parse_json(text: str, source, error: type[CanaryError]):
    """Parsed JSON, or ``error`` with one line naming the file and the line of the syntax error."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{source}: line {e.lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise error(f"{source}: not valid JSON: nested too deeply") from None


class ClusterError(CanaryError):
    """The Dask cluster a run was sent to is unreachable, has no workers, or failed (exit 4: no result)."""
