"""What a rollout shows while it runs: a live status line on a terminal, JSON lines otherwise.

``LiveProgress`` prints one line per event (weights applied, verdict, decision) and redraws a status line below
them (stage, weights, a bar of the warm-up or interval gone and the time left, last verdict); with ``quiet`` it
prints the event lines only. ``JsonLines`` prints the significant journal
records, one JSON object per line, for CI logs and scripts.
"""

from __future__ import annotations

import json
import math

from analysis._text import printable
from typing import Any, TextIO

SHOWN = ("start", "resume", "stage_start", "weights_applied", "reconcile", "verdict", "journaled_verdict", "decision",
         "signal", "hook", "end")


def _w(d: Any) -> str:
    return f"{d['baseline']}/{d['canary']}" if isinstance(d, dict) else "?"


def describe(rec: dict[str, Any]) -> str | None:
    """One human line for a journal record (control characters escaped), or None for records not worth a line."""
    line = _describe(rec)
    return None if line is None else printable(line)


def _describe(rec: dict[str, Any]) -> str | None:
    ev = rec["event"]
    if ev == "start":
        stages = ", ".join(f"{s['name']} {s['baseline']}/{s['canary']}" for s in rec.get("plan", ()))
        return f"rollout of {rec.get('service')} ({rec.get('strategy')}): {stages}"
    if ev == "resume":
        return f"resuming after {', '.join(rec.get('completed') or []) or 'no completed stage'}"
    if ev == "weights_applied":
        back = rec.get("read_back")
        return f"{rec['stage']}: weights baseline/canary {_w(rec['weights'])}" + \
            (f" (read back {_w(back)})" if back else " (not readable)")
    if ev == "reconcile":
        return (f"reconcile: router {_w(rec.get('actual'))}, journal {_w(rec.get('journal'))}; "
                f"setting the last safe weights {_w(rec.get('set_to'))}")
    if ev == "verdict":
        score = rec.get("score")
        return f"{rec['stage']}: verdict {str(rec['verdict']).upper()}" + \
            (f" (score {score:g})" if isinstance(score, (int, float)) else "") + f": {rec.get('reason', '')}"
    if ev == "signal":
        return f"{rec.get('signal')} received: {rec.get('action')}"
    if ev == "journaled_verdict":
        return f"{rec.get('stage')}: acting on the journaled verdict {str(rec.get('verdict')).upper()}"
    if ev == "decision":
        return f"decision: {rec['action']}" + (f" ({rec['reason']})" if rec.get("reason") and
                                                 rec["action"] not in ("next",) else "")
    if ev == "hook":
        status = "ok" if rec.get("ok") else f"FAILED: {rec.get('reason')}"
        return f"hook {rec.get('point')}: {rec.get('command')}: {status}"
    if ev == "end":
        return f"{str(rec['outcome']).upper().replace('_', ' ')}: {rec.get('reason', '')}"
    return None


def timer(info: dict[str, Any], width: int = 20) -> str:
    """A bar of the time gone in the current wait: ``[########------------]``."""
    span, left = info.get("span") or 0.0, info.get("left") or 0.0
    done = 0 if span <= 0 else round(width * min(max(1 - left / span, 0.0), 1.0))
    return "[" + "#" * done + "-" * (width - done) + "]"


class LiveProgress:
    """Event lines plus a redrawn status line, for a terminal."""

    def __init__(self, stream: TextIO, show_end: bool = True, quiet: bool = False):
        self.stream = stream
        self.show_end = show_end  # False when the caller prints the outcome itself (the CLI, with its exit code)
        self.quiet = quiet  # event lines only, no redrawn status line (--quiet)
        self._status = False

    def _clear(self) -> None:
        if self._status:
            self.stream.write("\r\033[K")
            self._status = False

    def record(self, rec: dict[str, Any]) -> None:
        line = describe(rec)
        if line is None or (rec["event"] == "end" and not self.show_end):
            return
        self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()

    def tick(self, info: dict[str, Any]) -> None:
        if self.quiet:
            return
        w = info.get("weights")
        self._clear()
        self.stream.write(f"[{info.get('index')}/{info.get('total')}] {info.get('stage')}  "
                          f"weights {w if w is not None else '?'}  {info.get('phase')} {timer(info)} "
                          f"{math.ceil(info['left'])}s left  last verdict: {info.get('last_verdict') or '-'}")
        self.stream.flush()
        self._status = True

    def close(self) -> None:
        self._clear()
        self.stream.flush()


class JsonLines:
    """Journal records as JSON lines (quiet: no status ticks)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def record(self, rec: dict[str, Any]) -> None:
        if rec["event"] in SHOWN:
            self.stream.write(json.dumps(rec) + "\n")
            self.stream.flush()

    def tick(self, info: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        self.stream.flush()


class Background:
    """Hands records and ticks to ``observer`` from a thread of its own, so the rollout never waits on its output.

    A reader that stops reading (a full pipe, a stopped terminal) blocks only this thread: weight changes,
    rollbacks and the journal go on. Records queue up (at most ``limit``; beyond it they are dropped and counted,
    the journal keeps them all); a tick is dropped when the display is far behind. ``close`` waits up to ``timeout``
    seconds for the queue to drain and says whether it did.
    """

    def __init__(self, observer: Any, limit: int = 10_000):
        import queue
        import threading

        self.observer = observer
        self.error: str | None = None
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=limit)
        self._thread = threading.Thread(target=self._run, name="canary-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            kind, item = self._queue.get()
            try:
                if kind == "stop":
                    return
                if self.error is None:
                    getattr(self.observer, kind)(item)
            except OSError as e:  # the output went away: stop showing, never stop the rollout
                self.error = f"progress display stopped: {e.strerror or e}"
            except Exception as e:  # noqa: BLE001 - a display bug must not stop a rollout either
                self.error = f"progress display stopped: {type(e).__name__}: {e}"
            finally:
                self._queue.task_done()

    def record(self, rec: dict[str, Any]) -> None:
        import queue

        try:
            self._queue.put_nowait(("record", rec))
        except queue.Full:
            self.dropped += 1

    def tick(self, info: dict[str, Any]) -> None:
        import queue

        if self._queue.qsize() < 100:  # a display that is far behind skips status redraws
            try:
                self._queue.put_nowait(("tick", info))
            except queue.Full:
                pass

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until everything queued was shown; False when the output is stuck."""
        import time

        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)
        return True

    def stop(self, timeout: float = 2.0) -> bool:
        """Drain (up to ``timeout``) and stop the thread, leaving the observer open; False when stuck."""
        if not self.drain(timeout):
            return False
        self._queue.put_nowait(("stop", None))
        self._thread.join(timeout)
        return True

    def close(self, timeout: float = 2.0) -> bool:
        """Drain (up to ``timeout``), close the observer and stop the thread; False when the output is stuck."""
        if not self.drain(timeout):
            return False
        try:
            self._queue.put_nowait(("stop", None))
        except Exception:  # noqa: BLE001
            pass
        self._thread.join(timeout)
        close = getattr(self.observer, "close", None)
        if close is not None and self.error is None:
            try:
                close()
            except OSError as e:
                self.error = f"progress display stopped: {e.strerror or e}"
        return True
