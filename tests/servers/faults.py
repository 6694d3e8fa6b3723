"""Fault injection in front of a real Prometheus, for faults it cannot produce on demand (a 503 that heals, a
malformed body), and a recorder of the request headers. Runs in a thread on 127.0.0.1; ``stop()`` closes it.

``script`` is consumed one entry per request: ``(status, body)`` answers with that, ``None`` forwards the request
to ``upstream``; when the script is empty every request is forwarded.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultProxy:
    def __init__(self, upstream: str | None, script: list[tuple[int, bytes] | None] | None = None):
        self.upstream = upstream
        self.script = list(script or [])
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                with proxy._lock:
                    proxy.requests.append(dict(self.headers.items()) | {"path": self.path})
                    step = proxy.script.pop(0) if proxy.script else None
                if step is None:
                    status, body = proxy._forward(self.path)
                else:
                    status, body = step
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _forward(self, path: str) -> tuple[int, bytes]:
        if self.upstream is None:
            return 502, b'{"status":"error","errorType":"unavailable","error":"no upstream"}'
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
