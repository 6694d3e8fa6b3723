"""Kayenta-style executions in a SQLite file, so finished results survive a restart and queued ones are resumed.

One row per execution: its request (the journal: enough to run it again), status, and once complete either the
result document or the exception message. Writes are serialised by one lock; SQLite's WAL mode lets readers in.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Execution", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    config_id TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT,
    exception TEXT,
    build_ms INTEGER NOT NULL,
    start_ms INTEGER,
    end_ms INTEGER
)
"""

RUNNING, SUCCEEDED, TERMINAL = "running", "succeeded", "terminal"


@dataclass(frozen=True, slots=True)
class Execution:
    """One stored execution. ``request`` is the normalised request (JSON-safe); ``result`` the judge result."""

    id: str
    config_id: str
    status: str
    request: dict[str, Any]
    result: dict[str, Any] | None
    exception: str | None
    build_ms: int
    start_ms: int | None
    end_ms: int | None

    @property
    def complete(self) -> bool:
        return self.status in (SUCCEEDED, TERMINAL)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """Executions in the SQLite file ``path`` (created with its directory if missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, execution_id: str, config_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO executions (id, config_id, status, request, build_ms) VALUES (?,?,?,?,?)",
                             (execution_id, config_id, RUNNING, json.dumps(request), _now_ms()))

    def started(self, execution_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE executions SET start_ms=? WHERE id=?", (_now_ms(), execution_id))

    def finish(self, execution_id: str, result: dict[str, Any] | None, exception: str | None) -> None:
        """Record the outcome: a result (``succeeded``) or, with no verdict, an exception (``terminal``)."""
        status = SUCCEEDED if result is not None and exception is None else TERMINAL
        with self._lock:
            self._db.execute("UPDATE executions SET status=?, result=?, exception=?, end_ms=? WHERE id=?",
                             (status, json.dumps(result, allow_nan=False) if result is not None else None,
                              exception, _now_ms(), execution_id))

    def get(self, execution_id: str) -> Execution | None:
        with self._lock:
            row = self._db.execute("SELECT id, config_id, status, request, result, exception, build_ms, start_ms, "
                                   "end_ms FROM executions WHERE id=?", (execution_id,)).fetchone()
        if row is None:
            return None
        return Execution(row[0], row[1], row[2], json.loads(row[3]), json.loads(row[4]) if row[4] else None,
                         row[5], row[6], row[7], row[8])

    def unfinished(self) -> list[Execution]:
        """Executions that were queued or running when the server last stopped, oldest first."""
        with self._lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM executions WHERE status=? ORDER BY build_ms", (RUNNING,)).fetchall()]
        return [e for e in (self.get(i) for i in ids) if e is not None]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM executions GROUP BY status").fetchall()
        return {status: n for status, n in rows}
