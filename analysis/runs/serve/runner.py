"""Where analyses run: a queue of Kayenta executions worked by daemon threads, and bounded synchronous runs.

Every accepted execution is in the store before it is queued (the journal), so one that a stop interrupts is run
again when the server starts next. Worker threads are daemons: a stop waits ``drain`` seconds for running analyses
to finish, then exits, leaving the unfinished ones journaled.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any, Callable, TypeVar

from analysis.errors import CanaryError
from analysis.runs.serve.configs import ConfigDir
from analysis.runs.serve.jobs import NO_VERDICT, BadRequest, Job, ServerConfigError, explain, fail_closed_score, run
from analysis.runs.serve.kayenta import judge_result
from analysis.runs.serve.store import Store
from analysis.runs.serve.telemetry import Telemetry

__all__ = ["Busy", "Runner"]

log = logging.getLogger("canary.serve")
T = TypeVar("T")


class Busy(RuntimeError):
    """Too many analyses at once (429 with ``Retry-After``)."""


class Runner:
    """Runs Kayenta executions in the background and web/Flagger analyses on request, both bounded."""

    def __init__(self, store: Store, configs: ConfigDir, telemetry: Telemetry, prometheus_url: str | None,
                 workers: int = 4, max_queued: int = 200, max_sync: int = 8):
        self.store = store
        self.configs = configs
        self.telemetry = telemetry
        self.prometheus_url = prometheus_url
        self.max_queued = max_queued
        self.max_sync = max_sync
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0  # queued or running executions
        self._sync = 0
        self._idle = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._work, name=f"canary-exec-{i}", daemon=True)
                         for i in range(max(1, workers))]

    def start(self) -> int:
        """Start the workers and queue the executions a previous stop left unfinished; returns how many."""
        for t in self._threads:
            t.start()
        resumed = self.store.unfinished()
        for e in resumed:
            self._enqueue(e.id, force=True)
        return len(resumed)

    def _enqueue(self, execution_id: str, force: bool = False) -> None:
        with self._lock:
            if not force and self._pending >= self.max_queued:
                self.telemetry.rejected.inc()
                raise Busy(f"{self._pending} executions are queued or running (limit {self.max_queued}); retry later")
            self._pending += 1
            self.telemetry.queued.set(self._pending)
        self._queue.put(execution_id)

    def submit(self, execution_id: str, config_id: str, job: Job, journal: dict[str, Any]) -> None:
        """Journal and queue one execution (``Busy`` when the queue is full; nothing is stored then)."""
        with self._lock:
            if self._pending >= self.max_queued:
                self.telemetry.rejected.inc()
                raise Busy(f"{self._pending} executions are queued or running (limit {self.max_queued}); retry later")
        self.store.add(execution_id, config_id, {**journal, "job": job.to_dict()})
        self._enqueue(execution_id, force=True)

    def _work(self) -> None:
        while True:
            execution_id = self._queue.get()
            if execution_id is None:
                return
            try:
                self._execute(execution_id)
            except Exception as e:  # never lose the execution: it ends terminal with the reason
                log.exception("execution %s failed", execution_id)
                self.store.finish(execution_id, None, f"internal error: {type(e).__name__}: {e}")
            finally:
                with self._lock:
                    self._pending -= 1
                    self.telemetry.queued.set(self._pending)
                    self._idle.notify_all()

    def _execute(self, execution_id: str) -> None:
        execution = self.store.get(execution_id)
        if execution is None or execution.complete:
            return
        self.store.started(execution_id)
        job = Job.from_dict(execution.request["job"])
        t0 = time.monotonic()
        try:
            entry = self.configs.get(job.config_id)
            if entry is None:
                raise ServerConfigError(f"config {job.config_id} no longer exists")
            result = run(entry, job, self.prometheus_url)
        except (BadRequest, ServerConfigError, CanaryError) as e:
            self.telemetry.failed(job.config_id, time.monotonic() - t0)
            self.store.finish(execution_id, None, str(e))
            log.info("execution %s: terminal: %s", execution_id, e)
            return
        self.telemetry.observe(job.config_id, result, time.monotonic() - t0)
        if result.verdict in NO_VERDICT:
            # fail closed: no result, so no score any client could read as a pass (Argo: Error; Orca: TERMINAL)
            self.store.finish(execution_id, None, f"{result.verdict.value}: {explain(result)}")
            log.info("execution %s: terminal: %s", execution_id, result.verdict.value)
            return
        assert job.thresholds is not None
        self.store.finish(execution_id, judge_result(result, job.thresholds), None)
        log.info("execution %s: %s score %g", execution_id, result.verdict.value, fail_closed_score(result))

    async def run_sync(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a daemon thread, at most ``max_sync`` at once (``Busy`` beyond)."""
        with self._lock:
            if self._sync >= self.max_sync:
                self.telemetry.rejected.inc()
                raise Busy(f"{self._sync} analyses are running (limit {self.max_sync}); retry later")
            self._sync += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def deliver(value: Any, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

        def target() -> None:
            try:
                value, error = fn(), None
            except BaseException as e:  # handed to the awaiting request
                value, error = None, e
            finally:
                with self._lock:
                    self._sync -= 1
            try:
                loop.call_soon_threadsafe(deliver, value, error)
            except RuntimeError:  # the loop closed (shutdown) while this ran
                pass

        threading.Thread(target=target, name="canary-sync", daemon=True).start()
        return await future

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued and running executions; returns how many are left (journaled)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0 and (remaining := deadline - time.monotonic()) > 0:
                self._idle.wait(remaining)
            left = self._pending
        for _ in self._threads:
            self._queue.put(None)
        return left
