"""A router that runs a user command: how kubectl, Istio VirtualService or Gateway API HTTPRoute changes are driven.

``set`` is run with the weights substituted for ``{baseline}`` and ``{canary}`` in its arguments (when neither
appears, the two weights are appended as the last arguments) and in the environment as ``CANARY_BASELINE_WEIGHT``
and ``CANARY_CANARY_WEIGHT``; ``{service}`` and ``{step}`` are substituted too. Exit status 0 means the change was
applied. The optional ``get`` command prints the current weights as ``BASELINE CANARY`` (two integers, any
separator) or as JSON ``{"baseline": B, "canary": C}``; without it the router cannot read weights back.
Commands run without a shell; a string is split with ``shlex``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any, Mapping

from analysis.config._reader import Reader
from analysis.rollout._process import run_bounded
from analysis.rollout.routers.base import RouterError, Weights

_TWO_INTS = re.compile(r"^\s*(\d+)\D+(\d+)\s*$")


def _argv(r: Reader, key: str, default: Any) -> list[str] | None:
    v = r.raw(key, default)
    if v is None:
        return None
    if isinstance(v, str):
        try:
            argv = shlex.split(v)
        except ValueError as e:
            raise r.error(f"cannot split the command: {e}", key) from None
    elif isinstance(v, list) and all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in v):
        argv = [str(a) for a in v]
    else:
        raise r.error(f"expected a command (a string or a list of strings), got {v!r}", key)
    if not argv:
        raise r.error("the command is empty", key)
    return argv


def _tail(text: str, limit: int = 300) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else "..." + one[-limit:]


class CommandRouter:
    """Runs ``set_command`` to change the split and ``get_command`` (optional) to read it."""

    def __init__(self, set_command: list[str], get_command: list[str] | None = None, timeout: float = 60.0,
                 env: Mapping[str, str] | None = None):
        self.set_command = set_command
        self.get_command = get_command
        self.timeout = timeout
        self.env = dict(env or {})
        self.context: dict[str, str] = {"service": "", "step": ""}

    def __repr__(self) -> str:
        return f"CommandRouter({shlex.join(self.set_command)!r})"

    def bind(self, context: Mapping[str, Any]) -> None:
        """Rollout context for the substitutions and the environment (``service``, ``step``)."""
        self.context.update({k: str(v) for k, v in context.items()})

    def _run(self, argv: list[str], extra_env: Mapping[str, str]) -> str:
        env = {**os.environ, **self.env, **extra_env,
               "CANARY_SERVICE": self.context.get("service", ""), "CANARY_STEP": self.context.get("step", "")}
        try:
            returncode, out, err = run_bounded(argv, env, self.timeout)
        except FileNotFoundError:
            raise RouterError(f"router command not found: {argv[0]}") from None
        except PermissionError:
            raise RouterError(f"router command not executable: {argv[0]}") from None
        except OSError as e:  # e.g. a script without a #! line (ENOEXEC): a router error, so the rollout halts
            raise RouterError(f"router command cannot run: {argv[0]}: {e.strerror or e}") from None
        if returncode is None:
            raise RouterError(f"router command timed out after {self.timeout:g}s: {shlex.join(argv)}")
        if returncode != 0:
            raise RouterError(f"router command exited {returncode}: {shlex.join(argv)}: "
                              f"{_tail(err or out) or 'no output'}")
        return out

    def set_weights(self, baseline: int, canary: int) -> None:
        w = Weights(baseline, canary)
        values = {"{baseline}": str(w.baseline), "{canary}": str(w.canary),
                  "{service}": self.context.get("service", ""), "{step}": self.context.get("step", "")}
        templated = any(k in a for a in self.set_command for k in ("{baseline}", "{canary}"))
        argv = []
        for a in self.set_command:
            for k, v in values.items():
                a = a.replace(k, v)
            argv.append(a)
        if not templated:
            argv += [str(w.baseline), str(w.canary)]
        self._run(argv, {"CANARY_BASELINE_WEIGHT": str(w.baseline), "CANARY_CANARY_WEIGHT": str(w.canary)})

    def get_weights(self) -> Weights | None:
        if self.get_command is None:
            return None
        out = self._run(self.get_command, {}).strip()
        try:
            if out.startswith("{"):
                d = json.loads(out)
                return Weights(int(d["baseline"]), int(d["canary"]))
            m = _TWO_INTS.match(out)
            if m:
                return Weights(int(m.group(1)), int(m.group(2)))
        except (ValueError, KeyError, TypeError):
            pass
        raise RouterError(f"router get command printed {_tail(out, 80)!r}; expected 'BASELINE CANARY' "
                          f"(integers 0-100) or JSON {{\"baseline\": B, \"canary\": C}}")


def from_config(r: Reader) -> CommandRouter:
    """Keys: ``set`` (command), ``get`` (optional command), ``timeout`` (default 60s), ``env`` (mapping)."""
    set_cmd = _argv(r, "set", None)
    if set_cmd is None:
        raise r.error("is required", "set")
    get_cmd = _argv(r, "get", None)
    timeout = r.duration("timeout", 60.0)
    if timeout <= 0:
        raise r.error("must be > 0", "timeout")
    env = r.mapping("env", {})
    if not all(isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in env.items()):
        raise r.error("must map names to strings", "env")
    r.finish()
    return CommandRouter(set_cmd, get_cmd, timeout, {k: str(v) for k, v in env.items()})
