"""``canary serve`` refuses to start without what it needs, with one line and exit 2 (and never prints the token)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "CANARY_SERVE_TOKEN"}
    return subprocess.run([sys.executable, "-m", "analysis.cli", "serve", *args], capture_output=True, text=True,
                          timeout=60, env={**base, **(env or {})})


@pytest.mark.parametrize("setup, args, env, needle", [
    ("dir", [], {}, "give a token: --token-file FILE or the environment variable CANARY_SERVE_TOKEN"),
    ("dir", ["--token-file", "{tmp}/missing"], {}, "--token-file {tmp}/missing: cannot read"),
    ("dir", ["--no-auth"], {"CANARY_SERVE_TOKEN": "abc"}, "--no-auth cannot be combined"),
    ("dir", ["--token-file", "{tmp}/two-lines"], {}, "the token must be one line"),
    ("none", ["--no-auth"], {}, "--config-dir is not a directory"),
    ("dir", ["--no-auth", "--prometheus-url", "ftp://x"], {}, "expected http(s)://host"),
])
def test_refusals_are_one_line_exit_2(tmp_path, setup, args, env, needle):
    (tmp_path / "two-lines").write_text("s3cret-one\ns3cret-two\n")
    config_dir = tmp_path / "configs"
    if setup == "dir":
        config_dir.mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = serve("--config-dir", str(config_dir), "--port", "0", *args, env=env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle.replace("{tmp}", str(tmp_path)) in lines[0], r.stderr
    assert "s3cret" not in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_help_documents_the_options():
    r = subprocess.run([sys.executable, "-m", "analysis.cli", "serve", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    for option in ("--config-dir", "--prometheus-url", "--token-file", "--db", "--max-queued", "--max-sync"):
        assert option in r.stdout
