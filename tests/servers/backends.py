"""Real HTTP backends for the rollout tests, with their own Prometheus metrics and faults injected on demand.

    >>> with Backend("blue") as blue, Backend("green") as green:
    ...     green.error_rate = 0.5          # every second request answers 500
    ...     green.latency = 0.05            # 50 ms more per request

Each backend is a ``ThreadingHTTPServer`` on 127.0.0.1 (random port) answering any path with its name (header
``X-Version``), and ``/metrics`` in the Prometheus text format from its own ``prometheus_client`` registry:
``http_requests_total{version, code}`` and the histogram ``http_request_duration_seconds{version}`` (created up front,
or, with ``precreate=False``, when the first request with that code is served, as most services do). Errors are
spread evenly (every 1/rate-th request), so a given rate gives the same count every run. ``Load`` sends requests
through a frontend (HAProxy) from a thread and counts the answers per backend.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter as Tally
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Backend:
    """One version of the service. ``error_rate`` (0-1) and ``latency`` (seconds) may be changed at any time."""

    def __init__(self, name: str, precreate: bool = True):
        self.name = name
        self.error_rate = 0.0
        self.latency = 0.0
        self.served = 0
        self._acc = 0.0
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "Requests served", ["version", "code"], registry=self.registry)
        self.duration = Histogram("http_request_duration_seconds", "Request duration", ["version"],
                                  buckets=BUCKETS, registry=self.registry)
        if precreate:  # both series exist from the first scrape, so rates are never empty
            for code in ("200", "500"):
                self.requests.labels(version=name, code=code)
            self.duration.labels(version=name)
        # without, as most services export them: a code="500" series appears with the first error
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _fail_next(self) -> bool:
        with self._lock:
            self.served += 1
            self._acc += self.error_rate
            if self._acc >= 1.0 - 1e-9:
                self._acc -= 1.0
                return True
            return False

    def _handler(self):
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = generate_latest(backend.registry)
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                t0 = time.perf_counter()
                if backend.latency:
                    time.sleep(backend.latency)
                code = 500 if backend._fail_next() else 200
                body = f"{backend.name}\n".encode()
                self.send_response(code)
                self.send_header("X-Version", backend.name)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                backend.requests.labels(version=backend.name, code=str(code)).inc()
                backend.duration.labels(version=backend.name).observe(time.perf_counter() - t0)

        return Handler

    def start(self) -> "Backend":
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"backend-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def heal(self) -> None:
        self.error_rate, self.latency = 0.0, 0.0

    def __enter__(self) -> "Backend":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Load:
    """Requests through ``url`` at about ``rate`` per second from one thread; ``counts`` tallies the answering
    backend (``X-Version``) and ``codes`` the status codes. ``mark()`` starts a fresh tally."""

    def __init__(self, url: str, rate: float = 40.0):
        self.url, self.interval = url, 1.0 / rate
        self.counts: Tally[str] = Tally()
        self.codes: Tally[int] = Tally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    self.counts[r.headers.get("X-Version", "?")] += 1
                    self.codes[r.status] += 1
            except urllib.error.HTTPError as e:
                self.counts[e.headers.get("X-Version", "?")] += 1
                self.codes[e.code] += 1
            except (urllib.error.URLError, OSError):
                self.codes[0] += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def mark(self) -> None:
        self.counts, self.codes = Tally(), Tally()

    def start(self) -> "Load":
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
