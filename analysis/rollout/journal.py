"""The rollout journal: an append-only JSON-lines state file, each record fsynced before the action it announces.

Records are ``{"seq": N, "t": EPOCH_S, "run": ID, "event": NAME, ...}``. A run starts with ``start`` (the plan
and the service); ``weights`` announces a change before the router is called and ``weights_applied`` records
what the router read back; ``decision`` (next, pause, rollback, halt, promote, approve) is written before it is
acted on; ``stage_done`` marks a completed stage; ``end`` closes the run (promoted, rolled_back, paused, halted).
``signal`` records a SIGINT/SIGTERM and the action taken; ``journaled_verdict`` records that a resume acted on a
verdict written before the interruption.
``RolloutState.replay`` folds the records of the last run into the state a resume starts from.

A journal that cannot be read (a line that is not JSON, a field of the wrong type) is a ``DataError`` (exit 2)
naming the line and the field, with the way to recover: the records before that line are intact, so keep them
(``head -n LINE-1``) and ``--resume`` or ``--abort`` from the repaired copy.

Test hook: with ``CANARY_TEST_KILL_AFTER_RECORD=K`` the process kills itself (SIGKILL) right after the K-th record
it appends is on disk, so crash tests can stop a rollout at every journal boundary.

Two locks (``fcntl.flock``, released by the kernel when the process dies, even on ``kill -9``) keep two
rollouts apart: one on the state file, one per service in the lock directory (``CANARY_LOCK_DIR``, default
``$TMPDIR/canary-engine-locks``), so two rollouts of one service refuse to run at once even with different files.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from analysis.errors import DataError, UsageError

FINAL = ("promoted", "rolled_back")
RESUMABLE = ("paused", "halted")


class RolloutLocked(UsageError):
    """Another rollout holds the lock (exit 2)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_dir() -> Path:
    return Path(os.environ.get("CANARY_LOCK_DIR") or Path(tempfile.gettempdir()) / "canary-engine-locks")


class FileLock:
    """An exclusive, non-blocking ``flock`` on ``path``; the holder's PID is written into the file."""

    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what
        self._fd: int | None = None

    def acquire(self) -> "FileLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise UsageError(f"{self.path}: cannot lock: {e.strerror}") from None
            raise RolloutLocked(f"{self.what} is already running (pid {holder(self.path) or 'unknown'}; "
                                f"lock {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder(path: Path) -> int | None:
    """PID of the process that holds the lock on ``path``, or ``None`` when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def service_lock(service: str) -> FileLock:
    return FileLock(lock_dir() / f"{service}.lock", f"a rollout of service {service!r}")


def _recovery(path: Path, line: int) -> str:
    if line <= 1:
        return ("to recover: no record is usable; move the file aside, check the router's weights by hand and "
                "start the rollout again")
    keep = f"{path}.repaired"
    return (f"to recover: the records before line {line} are intact; keep them with 'head -n {line - 1} {path} "
            f"> {keep}', then 'canary status --state {keep}' and 'canary rollout CONFIG --resume --state {keep}' "
            f"(reconciles the router with the journal) or '--abort' to roll back")


def _weights_ok(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(v.get(k), int) and not isinstance(v.get(k), bool)
                                       and 0 <= v[k] <= 100 for k in ("baseline", "canary"))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# field -> (check, what it must be); fields marked optional may be missing or null
_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "seq": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "t": (_is_num, "a number (epoch seconds)"),
    "event": (lambda v: isinstance(v, str), "a string"),
    "run": (lambda v: v is None or isinstance(v, str), "a string"),
    "stage": (lambda v: isinstance(v, str), "a string"),
    "verdict": (lambda v: isinstance(v, str), "a string"),
    "outcome": (lambda v: v is None or isinstance(v, str), "a string"),
    "action": (lambda v: isinstance(v, str), "a string"),
    "reason": (lambda v: isinstance(v, str), "a string"),
    "score": (lambda v: v is None or _is_num(v), "a number or null"),
    "weights": (lambda v: v is None or _weights_ok(v), "{baseline, canary} integers from 0 to 100"),
    "read_back": (lambda v: v is None or _weights_ok(v), "{baseline, canary} integers from 0 to 100 or null"),
    "completed": (lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
                  "a list of stage names"),
    "plan": (lambda v: isinstance(v, list) and all(isinstance(x, dict) and isinstance(x.get("name"), str)
                                                   and _weights_ok(x) for x in v), "a list of stages"),
    "service": (lambda v: isinstance(v, str), "a string"),
    "strategy": (lambda v: isinstance(v, str), "a string"),
    "exit_code": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an integer"),
}
# fields each event needs for a replay (the others are checked only when present)
_REQUIRED = {"start": ("run",), "stage_start": ("stage",), "weights": ("weights",),
             "weights_applied": ("weights",), "verdict": ("stage", "verdict"), "decision": ("action",),
             "stage_done": ("stage",), "end": ("outcome",)}


def _check_record(rec: dict[str, Any], path: Path, line: int) -> None:
    event = rec.get("event")
    if not isinstance(event, str):
        raise DataError(f"{path}: line {line}: field event: expected a string; {_recovery(path, line)}")
    for name in ("t",) + _REQUIRED.get(event, ()):
        if name not in rec:
            raise DataError(f"{path}: line {line}: {event} record without field {name}; {_recovery(path, line)}")
    for name, value in rec.items():
        check = _FIELD_CHECKS.get(name)
        if check is None or (name == "weights" and event == "end" and value is None):
            continue
        ok, what = check
        if not ok(value):
            shown = json.dumps(value)[:60]
            raise DataError(f"{path}: line {line}: field {name}: expected {what}, got {shown}; "
                            f"{_recovery(path, line)}")


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record of the journal. A torn last line (a crash during a write) is ignored; anything
    else that is not a well-formed record is a ``DataError`` naming the line, the field and how to recover."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    lines = data.split(b"\n")
    records = []
    for i, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            raise DataError(f"{path}: line {i}: not a journal record (invalid JSON); {_recovery(path, i)}") from None
        if not isinstance(rec, dict) or "event" not in rec:
            raise DataError(f"{path}: line {i}: not a journal record (no event); {_recovery(path, i)}")
        _check_record(rec, path, i)
        records.append(rec)
    return records


_appended = 0  # records this process has appended (the crash-test hook counts them)


class Journal:
    """Appends records to the state file; ``append`` returns only after the record is on disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = FileLock(Path(f"{self.path}.lock"), f"a rollout with state file {self.path}")
        self._fd: int | None = None
        self.run: str | None = None
        self._seq = 0

    def open(self) -> "Journal":
        if not self.path.parent.is_dir():
            raise UsageError(f"{self.path}: directory {self.path.parent} does not exist")
        self._lock.acquire()
        try:
            records = self._open_locked()
            self._seq = max((int(r.get("seq", 0)) for r in records), default=0)
        except BaseException:
            self.close()  # a corrupt or unreadable journal must not keep the lock for the rest of the process
            raise
        starts = [r for r in records if r["event"] == "start"]
        self.run = starts[-1].get("run") if starts else None
        return self

    def _open_locked(self) -> list[dict[str, Any]]:
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(self._fd).st_size
        if size:
            # drop a torn last line so the next record starts on a line of its own
            with open(self.path, "rb") as f:
                data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                os.ftruncate(self._fd, keep)
        if created:
            _fsync_dir(self.path.parent)
        return read_records(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._lock.release()

    def __enter__(self) -> "Journal":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def new_run(self) -> str:
        self.run = uuid.uuid4().hex[:12]
        return self.run

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one record and fsync it; only then may the caller act on it."""
        if self._fd is None:
            raise RuntimeError("journal is not open")
        self._seq += 1
        rec = {"seq": self._seq, "t": round(time.time(), 3), "run": self.run, "event": event, **fields}
        line = (json.dumps(rec, sort_keys=False, allow_nan=False) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)
        global _appended
        _appended += 1
        kill_after = os.environ.get("CANARY_TEST_KILL_AFTER_RECORD")
        if kill_after and kill_after.isdigit() and _appended == int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)  # crash tests: die right after record K is on disk
        return rec

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.path)


@dataclass(frozen=True, slots=True)
class RolloutState:
    """The last run of a journal, folded: where it stands and what it was about to do."""

    run: str
    service: str
    strategy: str
    plan: tuple[Mapping[str, Any], ...]
    started: float
    completed: tuple[str, ...] = ()
    stage: str | None = None
    weights: Mapping[str, int] | None = None
    intended: Mapping[str, int] | None = None
    verdicts: tuple[Mapping[str, Any], ...] = ()
    pending: Mapping[str, Any] | None = None
    outcome: str | None = None
    reason: str = ""
    exit_code: int | None = None
    switched_at: float | None = None
    window: Mapping[str, Any] | None = None
    # the verdict of the current stage when nothing acted on it yet (a crash between verdict and decision)
    stage_verdict: Mapping[str, Any] | None = None
    last_time: float = 0.0
    hooks_failed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def final(self) -> bool:
        return self.outcome in FINAL

    @property
    def next_index(self) -> int:
        """Index in the plan of the first stage not completed yet."""
        names = [s["name"] for s in self.plan]
        done = [names.index(n) for n in self.completed if n in names]
        return max(done) + 1 if done else 0

    @staticmethod
    def replay(records: list[dict[str, Any]]) -> "RolloutState | None":
        """The state of the last run in ``records``, or ``None`` when there is none."""
        starts = [i for i, r in enumerate(records) if r["event"] == "start"]
        if not starts:
            return None
        first = records[starts[-1]]
        s: dict[str, Any] = dict(run=first["run"], service=first.get("service", ""),
                                 strategy=first.get("strategy", ""), plan=tuple(first.get("plan", ())),
                                 started=first["t"])
        completed: list[str] = []
        verdicts: list[dict[str, Any]] = []
        hooks_failed: list[str] = []
        for r in records[starts[-1]:]:
            ev = r["event"]
            s["last_time"] = r["t"]
            if ev == "stage_start":
                s["stage"] = r["stage"]
                s["stage_verdict"] = None
            elif ev == "weights":
                s["intended"] = r["weights"]
            elif ev == "weights_applied":
                s["weights"] = r["read_back"] if r.get("read_back") else r["weights"]
                if r.get("stage") == "switch":
                    s["switched_at"] = r["t"]
            elif ev == "window":
                s["window"] = {k: r[k] for k in ("stage", "baseline", "canary", "start", "end") if k in r}
            elif ev == "verdict":
                verdicts.append({k: r.get(k) for k in ("stage", "verdict", "score", "reason", "exit_code")})
                if r.get("stage") == s.get("stage"):
                    s["stage_verdict"] = verdicts[-1]
            elif ev == "decision":
                s["pending"] = {k: v for k, v in r.items() if k not in ("seq", "run")}
            elif ev == "stage_done":
                if r["stage"] not in completed:
                    completed.append(r["stage"])
                s["pending"] = None
                s["stage_verdict"] = None
            elif ev == "hook" and r.get("ok") is False:
                hooks_failed.append(f"{r.get('point')}: {r.get('reason')}")
            elif ev == "end":
                s.update(outcome=r["outcome"], reason=r.get("reason", ""), exit_code=r.get("exit_code"),
                         pending=None, stage_verdict=None)
            elif ev in ("start", "resume"):
                s.update(outcome=None, reason="", exit_code=None)
        return RolloutState(**s, completed=tuple(completed), verdicts=tuple(verdicts),
                            hooks_failed=tuple(hooks_failed))
