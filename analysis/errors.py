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


# a pipe, FIFO or socket has no size to check first: read at most this much from it
PIPE_LIMIT = 256 * 1024 * 1024
SECRET_LIMIT = 64 * 1024
_CONSUMED: dict[tuple[int, int], str] = {}


def read_bytes(path, error: type[CanaryError], limit: int | None = None) -> bytes:
    """A whole file's bytes, or ``error`` with one line naming the file; never hangs, never reads without bound.

    A regular file is read whole (``limit`` caps it when given). A pipe or FIFO (``/dev/stdin``, ``<(cmd)``) is
    opened without waiting for a writer and read up to ``limit`` (default ``PIPE_LIMIT``); it can be read once per
    process, so giving ``/dev/stdin`` twice is an error instead of a silently empty second read. Devices
    (``/dev/zero``, a terminal) and directories are refused.
    """
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror or type(e).__name__}") from None
    try:
        st = os.fstat(fd)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: cannot read: Is a directory")
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise error(f"{path}: cannot read: a device, not a file")
        regular = stat.S_ISREG(mode)
        cap = limit if limit is not None else (None if regular else PIPE_LIMIT)
        if regular and cap is not None and st.st_size > cap:
            raise error(f"{path}: too large ({st.st_size} bytes; the limit is {cap})")
        if not regular:
            key = (st.st_dev, st.st_ino)
            if key in _CONSUMED:
                raise error(f"{path}: already read as {_CONSUMED[key]}; a pipe (standard input) can be read once")
            _CONSUMED[key] = str(path)
            os.set_blocking(fd, True)  # opened without waiting for a writer; now wait for its data
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if cap is not None and total > cap:
                raise error(f"{path}: too large (more than {cap} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror or type(e).__name__}") from None
    finally:
        os.close(fd)


def read_text(path, error: type[CanaryError]) -> str:
    """A whole UTF-8 text file, or ``error`` with one line naming the file (missing, unreadable, not UTF-8)."""
    data = read_bytes(path, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: cannot read: not UTF-8 text (byte {e.start})") from None


def read_secret(path, where: str) -> str:
    """A token or key file: one line of text. Errors (exit 2) name ``where`` and the file, never the content."""
    try:
        data = read_bytes(path, ConfigError, SECRET_LIMIT)
    except ConfigError as e:
        raise ConfigError(f"{where}: cannot read {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {path} is not text (a binary file?)") from None
    token = text.strip()
    if not token or any(ord(c) < 32 or ord(c) == 127 for c in token):
        raise ConfigError(f"{where}: {path} must hold one token on one line (no control characters)")
    return token


class _DuplicateKey(Exception):
    def __init__(self, key: str, pos: int | None = None):
        super().__init__(key)
        self.key, self.pos = key, pos


def _unique_pairs(pairs: list) -> dict:
    seen: dict = {}
    for k, v in pairs:
        if k in seen:
            raise _DuplicateKey(k)
        seen[k] = v
    return seen


def _duplicate_position(text: str, key: str) -> int | None:
    """Offset of the second ``key`` in the first object that repeats it (the slow, position-aware parse)."""
    import json
    import json.decoder
    import json.scanner

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        s, start = s_and_end
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, None, lambda p: p, memo)
        keys = [k for k, _ in pairs]
        dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if dup is not None:
            needle = json.dumps(dup)
            first = s.find(needle, start - 1, end)
            second = s.find(needle, first + len(needle), end) if first >= 0 else -1
            raise _DuplicateKey(dup, second if second >= 0 else start)
        return dict(pairs), end

    decoder = json.JSONDecoder()
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        decoder.decode(text)
    except _DuplicateKey as e:
        return e.pos
    except (ValueError, RecursionError):
        return None
    return None


def parse_json(text: str, source, error: type[CanaryError]):
    """Parsed JSON, or ``error`` with one line naming the file and the line of the syntax error or of a
    repeated key (the last one would otherwise win silently)."""
    import json

    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as e:
        pos = _duplicate_position(text, e.key)
        where = f"line {text.count(chr(10), 0, pos) + 1}: " if pos is not None else ""
        raise error(f"{source}: {where}duplicate key {e.key!r} (the same key twice in one object)") from None
    except json.JSONDecodeError as e:
        raise error(f"{source}: line {e.lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise error(f"{source}: not valid JSON: nested too deeply") from None


class ClusterError(CanaryError):
    """The Dask cluster a run was sent to is unreachable, has no workers, or failed (exit 4: no result)."""
