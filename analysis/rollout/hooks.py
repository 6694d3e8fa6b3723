"""Hook commands run before and after the stages of a rollout (deploy, smoke test, notify).

A hook is run without a shell, with ``{baseline}``, ``{canary}``, ``{step}`` and ``{service}`` substituted in its
arguments and the rollout context in its environment (``CANARY_SERVICE``, ``CANARY_HOOK``, ``CANARY_STEP``,
``CANARY_BASELINE_WEIGHT``, ``CANARY_CANARY_WEIGHT``, ``CANARY_OUTCOME``). It succeeds when it exits 0 within its
timeout; on timeout its whole process group is killed, so a hung ``kubectl`` or ``curl`` it started dies too.
Hooks may run again after a crash (``--resume`` repeats an unfinished stage), so they should be idempotent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

from analysis.rollout._process import run_bounded
from analysis.rollout.settings import Hook


@dataclass(frozen=True, slots=True)
class HookResult:
    """How one hook ended. ``reason`` says why when ``ok`` is false; ``output`` is the tail of its output."""

    point: str
    command: str
    ok: bool
    returncode: int | None
    seconds: float
    reason: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "command": self.command, "ok": self.ok, "returncode": self.returncode,
                "seconds": round(self.seconds, 3), "reason": self.reason, "output": self.output}


def _substitute(argv: tuple[str, ...], values: Mapping[str, Any]) -> list[str]:
    out = []
    for a in argv:
        for k, v in values.items():
            a = a.replace("{" + k + "}", "" if v is None else str(v))
        out.append(a)
    return out


def _tail(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def run_hook(hook: Hook, context: Mapping[str, Any]) -> HookResult:
    """Run ``hook`` with ``context`` (``service``, ``step``, ``baseline``, ``canary``, ``outcome``).

    Never raises: a command that cannot start, fails or times out is a ``HookResult`` with ``ok`` false.
    """
    argv = _substitute(hook.argv, context)
    command = " ".join(argv)
    env = {**os.environ, "CANARY_HOOK": hook.point}
    for key in ("service", "step", "outcome"):
        env[f"CANARY_{key.upper()}"] = "" if context.get(key) is None else str(context[key])
    for key in ("baseline", "canary"):
        env[f"CANARY_{key.upper()}_WEIGHT"] = "" if context.get(key) is None else str(context[key])
    t0 = time.monotonic()
    try:
        returncode, out, _ = run_bounded(argv, env, hook.timeout, merge_stderr=True)
    except OSError as e:
        return HookResult(hook.point, command, False, None, time.monotonic() - t0,
                          f"cannot run {argv[0]}: {e.strerror or e}")
    seconds = time.monotonic() - t0
    if returncode is None:
        return HookResult(hook.point, command, False, None, seconds,
                          f"timed out after {hook.timeout:g}s (killed)", _tail(out))
    if returncode != 0:
        return HookResult(hook.point, command, False, returncode, seconds, f"exited {returncode}", _tail(out))
    return HookResult(hook.point, command, True, 0, seconds, "", _tail(out))
