"""The one fault-injection server, for faults a real server cannot produce on demand. Runs in a thread on
127.0.0.1; ``stop()`` closes it.

``script`` is consumed one entry per request (GET or POST): ``(status, body)`` answers with that, a ``Fault``
answers as described below, ``None`` forwards the request to ``upstream``; when the script is empty every request
is forwarded (or, without an upstream, answered 502). ``requests`` records each request's headers, ``path``,
``method`` and ``body``.

A ``Fault`` can be slow (``delay`` before the headers), drip its body (``drip`` seconds between bytes), be cut
short (``truncate``: announce more than it sends, then hang up), send gzip whatever was asked (``gzip``; see
``gzip_bomb``), redirect (``redirect`` to a URL: the same server, or another host such as ``localhost`` vs
``127.0.0.1``; ``{path}`` in it is the request's path and query), carry extra headers (``Retry-After``), or answer anything with any status: a Prometheus
``status: error`` with HTTP 200, ``warnings``, a router that answers 2xx and does nothing.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    truncate: bool = False
    gzip: bool = False
    redirect: str | None = None
    content_type: str = "application/json"


def prometheus_answer(result: list | None = None, status: str = "success", warnings: list[str] | None = None,
                      error: str | None = None, error_type: str | None = None) -> bytes:
    """A Prometheus API body: a matrix ``result``, or ``status: error`` with ``error``; ``warnings`` optional."""
    doc: dict[str, Any] = {"status": status}
    if status == "success":
        doc["data"] = {"resultType": "matrix", "result": result or []}
    if error is not None:
        doc["error"], doc["errorType"] = error, error_type or "execution"
    if warnings:
        doc["warnings"] = warnings
    return json.dumps(doc).encode()


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzipped (about a thousandth of ``size`` on the wire)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


class FaultProxy:
    def __init__(self, upstream: str | None, script: list[Any] | None = None):
        self.upstream = upstream
        self.script = list(script or [])
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append(dict(self.headers.items()) | {"path": self.path, "method": self.command,
                                                                        "body": body})
                    step = proxy.script.pop(0) if proxy.script else None
                if step is None:
                    status, answer = proxy._forward(self.path)
                    step = Fault(status, answer)
                elif isinstance(step, tuple):
                    step = Fault(*step)
                try:
                    proxy._answer(self, step)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (deadline): expected
                    pass

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # clients that give up (deadlines) are expected
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, f: Fault) -> None:
        if f.delay:
            time.sleep(f.delay)
        body = gzip.compress(f.body) if f.gzip and not f.body.startswith(b"\x1f\x8b") else f.body
        handler.send_response(f.status)
        handler.send_header("Content-Type", f.content_type)
        if f.gzip:
            handler.send_header("Content-Encoding", "gzip")
        if f.redirect:
            handler.send_header("Location", f.redirect.replace("{path}", handler.path))
        for k, v in f.headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(body) * 2 if f.truncate else len(body)))
        if f.truncate:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if f.truncate:
            handler.wfile.write(body[: max(1, len(body) // 2)])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if f.drip:
            for i in range(len(body)):
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                time.sleep(f.drip)
            return
        handler.wfile.write(body)

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
