"""Router hooks: the registry (built-ins through entry points, like third-party routers), HAProxy's runtime API
on a real HAProxy, the command router with real commands and the webhook router against a real HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from analysis.config._reader import Reader
from analysis.errors import ConfigError
from analysis.rollout.routers import ENTRY_POINT_GROUP, available, router_from_config
from analysis.rollout.routers.base import Router, RouterError, Weights
from analysis.rollout.routers.haproxy import HAProxyRouter, parse_admin
from analysis.rollout.routers.webhook import sign
from conftest import require_haproxy
from servers.backends import Backend, Load
from servers.haproxy import HAProxyServer

BUILTINS = ("command", "dry-run", "haproxy", "webhook")


def build(options: dict) -> Router:
    return router_from_config(Reader(options, "rollout.router", "svc.yaml"))


# -- registry ---------------------------------------------------------------------------------------------------

def test_builtins_are_registered_through_the_entry_point_group():
    registered = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name in BUILTINS:
        assert name in registered, f"{name} missing from pyproject's [project.entry-points.{ENTRY_POINT_GROUP}]"
        assert registered[name].startswith("analysis.rollout.routers.")
    assert set(BUILTINS) <= set(available())


def test_a_third_party_router_registers_through_an_entry_point(tmp_path, monkeypatch):
    (tmp_path / "acme_router.py").write_text(textwrap.dedent("""
        from analysis.rollout.routers.base import Weights

        class Acme:
            def __init__(self, zone):
                self.zone, self.w = zone, None
            def set_weights(self, baseline, canary):
                self.w = Weights(baseline, canary)
            def get_weights(self):
                return self.w

        def factory(reader):
            zone = reader.str("zone")
            reader.finish()
            return Acme(zone)
    """))
    dist = tmp_path / "acme_router-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-router\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nacme = acme_router:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "acme" in available()
    router = build({"type": "acme", "zone": "eu"})
    router.set_weights(75, 25)
    assert router.zone == "eu" and router.get_weights() == Weights(75, 25)


@pytest.mark.parametrize("options, message", [
    ({"type": "nginx"}, "rollout.router.type: unknown router type 'nginx'; known types: command, dry-run, "),
    ({"type": "haproxy", "admin": "127.0.0.1:1", "backend": "app", "baseline": "a"}, "rollout.router.canary: "
                                                                                     "is required"),
    ({"type": "haproxy", "admin": "nowhere", "backend": "app", "baseline": "a", "canary": "b"},
     "rollout.router.admin: expected HOST:PORT or a UNIX socket path"),
    ({"type": "haproxy", "admin": "127.0.0.1:1", "backend": "app", "baseline": "a", "canary": "a"},
     "baseline and canary must be different servers"),
    ({"type": "haproxy", "admin": "127.0.0.1:1", "backend": "app", "baseline": "a", "canary": "b", "wieght": 1},
     "rollout.router.wieght: unknown key 'wieght'"),
    ({"type": "command"}, "rollout.router.set: is required"),
    ({"type": "command", "set": "kubectl 'unclosed"}, "rollout.router.set: cannot split the command"),
    ({"type": "webhook", "url": "ftp://x"}, "rollout.router.url: expected an http:// or https:// URL"),
    ({"type": "webhook", "url": "http://x", "secret_env": "CANARY_TEST_UNSET_SECRET"},
     "rollout.router.secret_env: environment variable CANARY_TEST_UNSET_SECRET is not set"),
])
def test_router_config_errors_name_the_key(options, message):
    with pytest.raises(ConfigError) as e:
        build(options)
    assert str(e.value).startswith("svc.yaml: ") and message in str(e.value)


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:9999", ("127.0.0.1", 9999)),
    ("ipv4@127.0.0.1:9999", ("127.0.0.1", 9999)),
    ("[::1]:9999", ("::1", 9999)),
    ("/run/haproxy/admin.sock", "/run/haproxy/admin.sock"),
    ("unix@/tmp/h.sock", "/tmp/h.sock"),
])
def test_admin_addresses(address, expected):
    assert parse_admin(address)[1] == expected


def test_weights_are_percentages():
    assert Weights.canary_at(30) == Weights(70, 30)
    for bad in (-1, 101, 1.5, True):
        with pytest.raises(ValueError):
            Weights(50, bad)


# -- HAProxy ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def haproxy_pair():
    require_haproxy()
    sock_dir = tempfile.mkdtemp(prefix="ce-", dir="/tmp")  # runtime API socket paths must stay <= 97 chars
    with Backend("blue") as blue, Backend("green") as green, tempfile.TemporaryDirectory() as d:
        with HAProxyServer(Path(d), {"blue": blue.port, "green": green.port}, {"blue": 100, "green": 0},
                           unix_socket=f"{sock_dir}/admin.sock") as ha:
            yield ha
    shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.mark.parametrize("via", ["tcp", "unix"])
def test_haproxy_router_sets_weights_and_reads_them_back(haproxy_pair, via):
    ha = haproxy_pair
    admin = ha.admin if via == "tcp" else ha.unix_socket
    router = build({"type": "haproxy", "admin": admin, "backend": "app", "baseline": "blue", "canary": "green"})
    for split in (Weights(80, 20), Weights(0, 100), Weights(100, 0)):
        router.set_weights(split.baseline, split.canary)
        assert router.get_weights() == split
        assert (ha.weight("blue"), ha.weight("green")) == (split.baseline, split.canary)


def test_haproxy_weights_split_real_traffic(haproxy_pair):
    ha = haproxy_pair
    HAProxyRouter(ha.admin, "app", "blue", "green").set_weights(80, 20)
    before = ha.served()
    load = Load(ha.url, rate=1000)
    with load:
        while sum(load.counts.values()) < 200:
            time.sleep(0.02)
    got = load.counts
    n = got["blue"] + got["green"]
    # smooth weighted round-robin is deterministic; allow for the requests in flight when counting stopped
    assert abs(got["green"] - 0.2 * n) <= 3
    after = ha.served()
    assert after["green"] - before["green"] == got["green"]


@pytest.mark.parametrize("server, message", [("nope", "No such server."), ("green", None)])
def test_haproxy_router_reports_what_haproxy_refused(haproxy_pair, server, message):
    if message is None:  # HAProxy refuses weights above 256; a percentage split never sends one
        with pytest.raises(RouterError, match="between 0 and 256"):
            HAProxyRouter(haproxy_pair.admin, "app", "blue", server)._set(server, 300)
        return
    with pytest.raises(RouterError, match=f"get weight app/{server}: {message}"):
        HAProxyRouter(haproxy_pair.admin, "app", "blue", server).set_weights(90, 10)


def test_haproxy_router_unreachable_is_a_router_error():
    with tempfile.TemporaryDirectory() as d:
        router = HAProxyRouter(f"{d}/none.sock", "app", "blue", "green", timeout=1, retries=1)
        with pytest.raises(RouterError, match="get weight failed: No such file or directory"):
            router.get_weights()


# -- command ----------------------------------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, os, sys
    state = sys.argv[1]
    if sys.argv[2] == "get":
        print(open(state).read()); sys.exit(0)
    if os.environ.get("FAIL"):
        print("error: admission webhook denied the change", file=sys.stderr); sys.exit(3)
    json.dump({"argv": sys.argv[2:], "env": [os.environ["CANARY_BASELINE_WEIGHT"],
               os.environ["CANARY_CANARY_WEIGHT"], os.environ["CANARY_SERVICE"], os.environ["CANARY_STEP"]]},
              open(state + ".call", "w"))
    open(state, "w").write(f"{sys.argv[-2]} {sys.argv[-1]}")
""")


@pytest.fixture
def command_router(tmp_path):
    script = tmp_path / "route.py"
    script.write_text(SCRIPT)
    state = tmp_path / "weights"

    def make(**extra):
        return build({"type": "command", "set": [sys.executable, str(script), str(state), "set"],
                      "get": [sys.executable, str(script), str(state), "get"], **extra}), state

    return make


def test_command_router_passes_weights_as_arguments_and_environment(command_router):
    router, state = command_router()
    router.bind({"service": "shop", "step": "step-2"})
    router.set_weights(75, 25)
    call = json.loads(Path(f"{state}.call").read_text())
    assert call == {"argv": ["set", "75", "25"], "env": ["75", "25", "shop", "step-2"]}
    assert router.get_weights() == Weights(75, 25)


def test_command_router_substitutes_placeholders(tmp_path):
    out = tmp_path / "patch.json"
    patch = '[{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":{baseline}},' \
            '{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":{canary}}]'
    code = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    router = build({"type": "command", "set": [sys.executable, "-c", code, str(out), patch]})
    router.set_weights(90, 10)
    assert json.loads(out.read_text())[1] == {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight",
                                              "value": 10}
    assert router.get_weights() is None  # no get command: the split cannot be read back


def test_command_router_failure_carries_the_commands_message(command_router):
    router, _ = command_router(env={"FAIL": "1"})
    with pytest.raises(RouterError, match=r"exited 3: .*admission webhook denied the change"):
        router.set_weights(50, 50)


def test_command_router_timeout_and_unreadable_output(tmp_path):
    slow = build({"type": "command", "set": [sys.executable, "-c", "import time; time.sleep(5)"],
                  "timeout": "0.3s"})
    with pytest.raises(RouterError, match="timed out after 0.3s"):
        slow.set_weights(50, 50)
    odd = build({"type": "command", "set": ["true"], "get": ["echo", "fifty-fifty"]})
    with pytest.raises(RouterError, match="printed 'fifty-fifty'"):
        odd.get_weights()
    missing = build({"type": "command", "set": ["/nonexistent/kubectl"]})
    with pytest.raises(RouterError, match="not found: /nonexistent/kubectl"):
        missing.set_weights(50, 50)


def test_command_router_that_cannot_be_executed_is_a_router_error(tmp_path):
    script = tmp_path / "set-weights"
    script.write_text("echo no interpreter line\n")  # no #!: exec fails with ENOEXEC
    script.chmod(0o755)
    router = build({"type": "command", "set": [str(script)]})
    with pytest.raises(RouterError, match="cannot run: .*set-weights: Exec format error"):
        router.set_weights(50, 50)


# -- webhook ----------------------------------------------------------------------------------------------------

class Receiver:
    """A real HTTP endpoint: checks the signature, applies POSTed weights, fails or stalls when told to."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret
        self.weights = {"baseline": 100, "canary": 0}
        self.posts: list[dict] = []
        self.fail_next: list[int] = []
        self.delay = 0.0
        self.answer: dict | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body=b""):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, json.dumps(receiver.weights).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                if receiver.fail_next:
                    return self._send(receiver.fail_next.pop(0))
                if receiver.secret is not None:
                    expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(expected, self.headers.get("X-Canary-Signature", "")):
                        return self._send(401)
                doc = json.loads(body)
                receiver.posts.append(doc)
                receiver.weights = {"baseline": doc["baseline"], "canary": doc["canary"]}
                self._send(200, json.dumps(receiver.answer or receiver.weights).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/weights"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(secret=None):
        made.append(Receiver(secret))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_webhook_posts_signed_json_and_reads_back(receiver, monkeypatch):
    rx = receiver(b"s3cret")
    monkeypatch.setenv("CANARY_TEST_SECRET", "s3cret")
    router = build({"type": "webhook", "url": rx.url, "read_url": rx.url, "secret_env": "CANARY_TEST_SECRET"})
    router.bind({"service": "shop", "step": "step-1"})
    router.set_weights(90, 10)
    assert rx.posts[0]["service"] == "shop" and rx.posts[0]["step"] == "step-1"
    assert (rx.posts[0]["baseline"], rx.posts[0]["canary"]) == (90, 10)
    assert router.get_weights() == Weights(90, 10)
    assert "s3cret" not in repr(router)


def test_webhook_with_a_wrong_secret_is_refused(receiver, tmp_path):
    rx = receiver(b"right")
    (tmp_path / "key").write_text("wrong\n")
    router = build({"type": "webhook", "url": rx.url, "secret_file": str(tmp_path / "key"), "retries": 3})
    with pytest.raises(RouterError, match="HTTP 401") as e:
        router.set_weights(90, 10)
    assert "attempt" not in str(e.value)  # a 4xx is not retried
    assert sign(b"k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()


def test_webhook_retries_server_errors_then_succeeds(receiver):
    rx = receiver()
    rx.fail_next = [503, 502]
    router = build({"type": "webhook", "url": rx.url, "retries": 2, "backoff": "10ms"})
    router.set_weights(50, 50)
    assert rx.weights == {"baseline": 50, "canary": 50} and rx.fail_next == []
    rx.fail_next = [500, 500, 500]
    with pytest.raises(RouterError, match="failed after 3 attempt"):
        router.set_weights(0, 100)


def test_webhook_timeout_and_disagreeing_answer(receiver):
    rx = receiver()
    rx.delay = 1.0
    with pytest.raises(RouterError, match="timed out"):
        build({"type": "webhook", "url": rx.url, "timeout": "0.2s", "retries": 0}).set_weights(50, 50)
    rx.delay, rx.answer = 0.0, {"baseline": 100, "canary": 0}
    with pytest.raises(RouterError, match="applied 100/0 instead of 50/50"):
        build({"type": "webhook", "url": rx.url}).set_weights(50, 50)


def test_dry_run_router_changes_nothing_but_remembers():
    router = build({"type": "dry-run"})
    assert router.get_weights() is None
    router.set_weights(60, 40)
    assert router.get_weights() == Weights(60, 40) and router.history == [Weights(60, 40)]


def test_webhook_answer_cut_short_is_a_router_error():
    class Truncating(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # promises 100 bytes, sends 2, hangs up: http.client raises IncompleteRead
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"{}")
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        router = build({"type": "webhook", "url": f"http://127.0.0.1:{server.server_address[1]}/w",
                        "retries": 0})
        with pytest.raises(RouterError, match="webhook POST .* failed: the answer was cut short"):
            router.set_weights(50, 50)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_command_router_timeout_kills_what_the_command_started(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 >/dev/null 2>&1 & echo $! > {pidfile}; wait"  # a hung kubectl the set script started
    router = build({"type": "command", "set": ["sh", "-c", script], "timeout": "0.5s"})
    try:
        with pytest.raises(RouterError, match="timed out after 0.5s"):
            router.set_weights(50, 50)
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if pidfile.exists() and _alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
