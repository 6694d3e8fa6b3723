"""A real HAProxy (Debian 2.6) for the rollout tests: one backend of two servers, runtime API on loopback TCP.

    >>> with HAProxyServer(workdir, {"blue": blue.port, "green": green.port}, {"blue": 100, "green": 0}) as ha:
    ...     ha.url, ha.admin                      # frontend URL, "127.0.0.1:PORT" for the router
    ...     ha.weight("green"), ha.served()       # get weight; requests per server from "show stat"

Started in the foreground (``-db``) so the PID is ours, stopped by it (terminate, wait, kill). The admin socket is
TCP (``ipv4@127.0.0.1:PORT level admin``) because UNIX socket paths longer than 97 characters are refused and
pytest's temporary paths can be longer. ``balance roundrobin`` (dynamic weights; ``static-rr`` would ignore
runtime changes) and ``option http-server-close`` (no reset noise in the Python backends), as in
``shared/docs/real-stack.md`` section 5.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Mapping

from . import free_port, stop_process, wait_ready

READY_TIMEOUT = 10.0


def binary() -> str | None:
    return shutil.which("haproxy")


def admin_command(address: tuple[str, int], cmd: str, timeout: float = 5.0) -> str:
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(cmd.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


class HAProxyServer:
    """HAProxy with backend ``backend`` holding ``servers`` (name -> port on 127.0.0.1) at initial ``weights``."""

    def __init__(self, workdir: Path, servers: Mapping[str, int], weights: Mapping[str, int],
                 backend: str = "app", unix_socket: str | None = None):
        self.dir = Path(workdir)
        self.unix_socket = unix_socket  # also serve the runtime API here (a path of at most 97 characters)
        self.servers, self.initial, self.backend = dict(servers), dict(weights), backend
        self.proc: subprocess.Popen | None = None
        self.port = self.admin_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    def config(self) -> str:
        lines = ["global", f"    stats socket ipv4@127.0.0.1:{self.admin_port} level admin"]
        if self.unix_socket:
            lines.append(f"    stats socket {self.unix_socket} mode 600 level admin")
        lines += ["defaults", "    mode http", "    option http-server-close", "    timeout connect 2s",
                  "    timeout client 10s", "    timeout server 10s",
                  "frontend fe", f"    bind 127.0.0.1:{self.port}", f"    default_backend {self.backend}",
                  f"backend {self.backend}", "    balance roundrobin"]
        lines += [f"    server {name} 127.0.0.1:{port} weight {self.initial.get(name, 1)}"
                  for name, port in self.servers.items()]
        return "\n".join(lines) + "\n"

    def start(self) -> "HAProxyServer":
        self.dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # a free port can be taken between bind(0) and HAProxy's bind
            self.port, self.admin_port = free_port(), free_port()
            cfg = self.dir / "haproxy.cfg"
            cfg.write_text(self.config(), encoding="utf-8")
            with open(self.dir / "haproxy.log", "ab") as log:
                self.proc = subprocess.Popen([binary(), "-db", "-f", str(cfg)], stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"HAProxy did not start; log:\n{(self.dir / 'haproxy.log').read_text()[-2000:]}")

    def _wait_ready(self) -> bool:
        def probe() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
            return "Name: HAProxy" in self.command("show info")

        return wait_ready(self.proc, probe, READY_TIMEOUT)

    def command(self, cmd: str) -> str:
        return admin_command(("127.0.0.1", self.admin_port), cmd)

    def weight(self, server: str) -> int:
        return int(self.command(f"get weight {self.backend}/{server}").split()[0])

    def served(self) -> dict[str, int]:
        """Requests each server has been sent since start (``show stat`` column ``stot``)."""
        rows = self.command("show stat").splitlines()
        header = rows[0].lstrip("# ").split(",")
        out = {}
        for row in rows[1:]:
            cells = dict(zip(header, row.split(",")))
            if cells.get("pxname") == self.backend and cells.get("svname") in self.servers:
                out[cells["svname"]] = int(cells["stot"])
        return out

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc)

    def __enter__(self) -> "HAProxyServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
