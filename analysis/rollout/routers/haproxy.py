"""HAProxy through its Runtime API (the ``stats socket ... level admin``), over TCP or a UNIX socket.

``set_weights`` sends ``set weight BACKEND/SERVER N`` for both servers and then reads both back with
``get weight``; a read-back that differs from what was set raises ``RouterError``. Weights are HAProxy's relative
weights (0-256), and a rollout uses 0-100 so they read as percentages. The backend must balance with a dynamic
algorithm (``roundrobin``, ``leastconn``, ``random``): ``static-rr`` ignores runtime weight changes.
Reference: HAProxy 2.6 management guide, section 9.3 (Unix Socket commands).
"""

from __future__ import annotations

import re
import socket
import time

from analysis.config._reader import Reader
from analysis.rollout.routers.base import RouterError, Weights

_GET_WEIGHT = re.compile(r"^(\d+) \(initial \d+\)$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


def parse_admin(address: str) -> tuple[int, object]:
    """``(family, address)`` for ``socket.connect``: ``HOST:PORT``, ``ipv4@HOST:PORT``, ``unix@PATH`` or a path."""
    a = address.strip()
    for prefix in ("unix@", "unix:"):
        if a.startswith(prefix):
            return socket.AF_UNIX, a[len(prefix):]
    if a.startswith(("/", ".")):
        return socket.AF_UNIX, a
    for prefix in ("ipv4@", "ipv6@", "tcp:"):
        if a.startswith(prefix):
            a = a[len(prefix):]
    host, sep, port = a.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT or a UNIX socket path, got {address!r}")
    return socket.AF_INET6 if host.startswith("[") else socket.AF_INET, (host.strip("[]"), int(port))


class HAProxyRouter:
    """Sets the weights of two servers of one HAProxy backend at runtime (no reload)."""

    def __init__(self, admin: str, backend: str, baseline: str, canary: str, timeout: float = 5.0,
                 retries: int = 2):
        self.admin = admin
        self.family, self.address = parse_admin(admin)
        self.backend, self.baseline, self.canary = backend, baseline, canary
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:
        return f"HAProxyRouter({self.admin!r}, {self.backend}/{{{self.baseline},{self.canary}}})"

    def command(self, cmd: str) -> str:
        """Send one Runtime API command and return HAProxy's answer (HAProxy closes the connection after it)."""
        last: OSError | None = None
        for attempt in range(self.retries + 1):
            try:
                with socket.socket(self.family, socket.SOCK_STREAM) as s:
                    s.settimeout(self.timeout)
                    s.connect(self.address)  # type: ignore[arg-type]
                    s.sendall(cmd.encode() + b"\n")
                    chunks = []
                    while chunk := s.recv(65536):
                        chunks.append(chunk)
                return b"".join(chunks).decode(errors="replace")
            except OSError as e:
                last = e
                time.sleep(0.1 * (attempt + 1))
        raise RouterError(f"haproxy {self.admin}: {cmd.split()[0]} {cmd.split()[1]} failed: "
                          f"{last.strerror or last}")  # type: ignore[union-attr]

    def _set(self, server: str, weight: int) -> None:
        answer = self.command(f"set weight {self.backend}/{server} {weight}").strip()
        if answer:
            raise RouterError(f"haproxy {self.admin}: set weight {self.backend}/{server} {weight}: {answer}")

    def _get(self, server: str) -> int:
        answer = self.command(f"get weight {self.backend}/{server}").strip()
        m = _GET_WEIGHT.match(answer)
        if m is None:
            raise RouterError(f"haproxy {self.admin}: get weight {self.backend}/{server}: {answer or 'no answer'}")
        return int(m.group(1))

    def set_weights(self, baseline: int, canary: int) -> None:
        """Apply the split, moving the canary's share first when it shrinks (a rollback takes effect at once)."""
        target = Weights(baseline, canary)
        current = self._get(self.canary)
        order = ((self.canary, canary), (self.baseline, baseline)) if canary <= current else \
            ((self.baseline, baseline), (self.canary, canary))
        for server, weight in order:
            self._set(server, weight)
        got = self.get_weights()
        if got != target:
            raise RouterError(f"haproxy {self.admin}: set {target} on {self.backend} but read back {got}")

    def get_weights(self) -> Weights:
        b, c = self._get(self.baseline), self._get(self.canary)
        if b > 100 or c > 100:
            raise RouterError(f"haproxy {self.admin}: weights {b}/{c} on {self.backend} are not percentages (>100)")
        return Weights(b, c)


def from_config(r: Reader) -> HAProxyRouter:
    """Keys: ``admin`` (HOST:PORT or socket path), ``backend``, ``baseline``, ``canary`` (server names),
    ``timeout`` (default 5s), ``retries`` (default 2)."""
    admin = r.str("admin")
    try:
        parse_admin(admin)
    except ValueError as e:
        raise r.error(str(e), "admin") from None
    names = {}
    for key in ("backend", "baseline", "canary"):
        names[key] = r.str(key)
        if not _NAME.match(names[key]):
            raise r.error(f"expected an HAProxy name (letters, digits, _ . : -), got {names[key]!r}", key)
    if names["baseline"] == names["canary"]:
        raise r.error("baseline and canary must be different servers", "canary")
    timeout = r.duration("timeout", 5.0)
    retries = int(r.num("retries", 2, lo=0, hi=10))
    r.finish()
    return HAProxyRouter(admin, names["backend"], names["baseline"], names["canary"], timeout, retries)
