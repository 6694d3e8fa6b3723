"""A small Chrome DevTools Protocol client over the stdlib, for opening reports in a real headless Chromium.

Chromium is started on 127.0.0.1 with ``--remote-debugging-port=0``; the port it picked is read from the
``DevToolsActivePort`` file in its fresh profile directory. The WebSocket framing (RFC 6455, client side: masked
text frames out, unmasked frames in, continuation and ping handled) is written here so the tests need no
third-party WebSocket package.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from servers import stop_process

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _WebSocket:
    def __init__(self, host: str, port: int, path: str, timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"DevTools refused the WebSocket: {status!r}")
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class PageRun:
    """What happened while a page loaded: console errors, uncaught exceptions, requests, and captures."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    pdf: bytes = b""
    title: str = ""
    evaluations: dict[str, object] = field(default_factory=dict)


class Chromium:
    """One headless Chromium process, stopped by PID on ``close()``."""

    def __init__(self, binary: str, startup_timeout: float = 30.0):
        self.profile = tempfile.mkdtemp(prefix="canary-chromium-")
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + startup_timeout
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = _WebSocket("127.0.0.1", int(port), path)
        self._id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        self.ws.sock.settimeout(timeout)
        while True:
            e = json.loads(self.ws.recv())
            if e.get("method") == method:
                return e
            self.events.append(e)

    def open(self, url: str, width: int = 1366, height: int = 768, settle: float = 0.5,
             evaluate: dict[str, str] | None = None) -> PageRun:
        """Load ``url`` in a fresh tab at a laptop viewport; capture a screenshot and a printed PDF, then evaluate.

        ``evaluate`` maps names to JavaScript expressions, run in order after the captures; their JSON values
        land in ``PageRun.evaluations``.
        """
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired")
        time.sleep(settle)
        run = PageRun()
        run.title = self.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                              session)["result"].get("value", "")
        run.screenshot = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, session)["data"])
        run.pdf = base64.b64decode(self.call("Page.printToPDF", {"printBackground": True}, session)["data"])
        for name, expr in (evaluate or {}).items():
            res = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
            if "exceptionDetails" in res:
                raise RuntimeError(f"evaluating {name!r} failed: {res['exceptionDetails'].get('text')}")
            run.evaluations[name] = res["result"].get("value")
        for e in self.events:
            if e.get("sessionId") != session:
                continue
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                run.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                   for a in p.get("args", [])))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                run.console_errors.append(p["entry"].get("text", ""))
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                run.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
            elif method == "Network.requestWillBeSent":
                run.requests.append(p.get("request", {}).get("url", ""))
        self.call("Target.closeTarget", {"targetId": target})
        return run

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                self.call("Browser.close")
            except (OSError, ConnectionError, RuntimeError, ValueError):
                pass
            ws.close()
        stop_process(self.proc)
        shutil.rmtree(self.profile, ignore_errors=True)
