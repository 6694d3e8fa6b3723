"""Hook commands run before and after the stages of a rollout (deploy, smoke test, notify): their config and how
they run.

.. code-block:: yaml

    hooks:
      pre_rollout: ./deploy-canary.sh v2          # a string: split like a shell would, run WITHOUT a shell
      pre_step: [./smoke.sh, "{canary}"]          # a list: ONE command with its arguments (argv)
      post_step:                                  # several commands at one point: a list of mappings
        - {run: [./notify.sh, "{step}", "{previous_canary}", "{canary}"], timeout: 30s}
        - {run: "curl -fsS http://app/health | grep -q ok", shell: true}   # a shell only when asked

A string without ``shell: true`` that uses shell syntax (``|``, ``&&``, ``;``, ``>``, ``$VAR``, backquotes) is a
config error naming the key, instead of being run as something the author did not mean. A list of strings is
always one command: ``[sh, -c, "..."]`` runs ``sh`` once.

Placeholders, in the arguments (quoted for the shell in a ``shell: true`` string) and as environment variables:

================= ============================================ =================================
placeholder       value                                        environment
================= ============================================ =================================
``{service}``     the service rolled out                       ``CANARY_SERVICE``
``{step}``        the stage (``step-2``, ``promote``, ...)     ``CANARY_STEP``
``{canary}``      the canary weight this stage sets (target)   ``CANARY_CANARY_WEIGHT``
``{baseline}``    the baseline weight this stage sets          ``CANARY_BASELINE_WEIGHT``
``{previous_canary}``, ``{previous_baseline}``: the weights before it   ``CANARY_PREVIOUS_CANARY_WEIGHT``, ...
``{outcome}``     ``promoted`` / ``rolled_back`` (post_rollout) ``CANARY_OUTCOME``
================= ============================================ =================================

``CANARY_HOOK`` names the hook point. A hook succeeds when it exits 0 within its timeout; on timeout its whole
process group is killed, so a hung ``kubectl`` or ``curl`` it started dies too. Hooks may run again after a crash
(``--resume`` repeats an unfinished stage), so they should be idempotent.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any, Mapping

from analysis.config._reader import Reader
from analysis.rollout._process import run_bounded

# A failing aborting hook rolls the rollout back; the others run once a decision is final, so a failure there is
# journaled and reported, never acted on.
ABORTING_HOOKS = ("pre_rollout", "pre_step", "post_step", "pre_promote")
REPORTING_HOOKS = ("post_promote", "pre_rollback", "post_rollback", "scale_down", "post_rollout")
HOOK_POINTS = ABORTING_HOOKS + REPORTING_HOOKS
PLACEHOLDERS = ("service", "step", "canary", "baseline", "previous_canary", "previous_baseline", "outcome")
DEFAULT_TIMEOUT = 300.0
SHELL = "/bin/sh"

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_OPERATOR_CHARS = set("|&;<>()")
_PLAIN = re.compile(r"[\w@%+=:,./{}-]+")  # shown unquoted (placeholders included)


@dataclass(frozen=True, slots=True)
class Hook:
    """One command run at a hook point. ``argv`` is the command and its arguments; with ``shell`` it is one
    string run by ``/bin/sh -c``. Either may hold the placeholders of :data:`PLACEHOLDERS`."""

    point: str
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    shell: bool = False

    @property
    def command(self) -> str:
        """The command as written: the shell string, or the argv joined as a shell would read it."""
        if self.shell:
            return self.argv[0]
        return " ".join(a if _PLAIN.fullmatch(a) else shlex.quote(a) for a in self.argv)

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "run": self.command, "shell": self.shell, "timeout": self.timeout}


def _argv_of_string(r: Reader, key: str, run: str) -> list[str]:
    """A command string split without a shell; shell syntax in it is refused (it would not mean what it says)."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as e:
        raise r.error(f"cannot split the command: {e}", key) from None
    bad = [t for t in tokens if t and set(t) <= _OPERATOR_CHARS]  # | || && ; > >> < ( ) as separate tokens
    if bad or "$" in run or "`" in run:
        what = bad[0] if bad else "$" if "$" in run else "`"
        raise r.error(f"uses shell syntax ({what}) but runs without a shell; write it as a list [cmd, arg, ...] "
                      f"or as {{run: '...', shell: true}}", key)
    return shlex.split(run)


def _check_placeholders(r: Reader, key: str, parts: list[str]) -> None:
    for part in parts:
        for name in _PLACEHOLDER.findall(part):
            if name not in PLACEHOLDERS:
                raise r.error(f"unknown placeholder {{{name}}}; placeholders: "
                              + ", ".join("{" + p + "}" for p in PLACEHOLDERS), key)


def _one(r: Reader, point: str, key: str, item: Any) -> Hook:
    timeout, shell, run = DEFAULT_TIMEOUT, False, item
    if isinstance(item, dict):
        sub = Reader(item, r.key(key), r.source)
        run = sub.raw("run")
        timeout = sub.duration("timeout", DEFAULT_TIMEOUT)
        if timeout <= 0:
            raise sub.error("must be > 0", "timeout")
        shell = sub.bool("shell", False)
        sub.finish()
        key = f"{key}.run"
    if shell:
        if not isinstance(run, str):
            raise r.error("shell: true takes the command as one string", key)
        argv = [run] if run.strip() else []
    elif isinstance(run, str):
        argv = _argv_of_string(r, key, run)
    elif isinstance(run, list) and all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in run):
        argv = [str(a) for a in run]
    else:
        raise r.error("expected a command: a string, a list [cmd, arg, ...], or a mapping "
                      "{run: STRING or LIST, timeout: DURATION, shell: BOOL}", key)
    if not argv or not argv[0].strip():
        raise r.error("the command is empty", key)
    _check_placeholders(r, key, argv)
    return Hook(point, tuple(argv), timeout, shell)


def parse_hook_point(r: Reader, point: str) -> list[Hook]:
    """The hooks of one hook point: a string or a list of strings is one command; a mapping is one hook; a list
    of mappings (or of lists) is several, run in order."""
    raw = r.raw(point)
    if isinstance(raw, list) and raw and all(isinstance(i, (dict, list)) for i in raw):
        return [_one(r, point, f"{point}[{i}]", item) for i, item in enumerate(raw)]
    if isinstance(raw, list) and any(isinstance(i, (dict, list)) for i in raw):
        raise r.error("a list is either one command [cmd, arg, ...] or several hooks [{run: ...}, ...], "
                      "not both", point)
    return [_one(r, point, point, raw)]


def parse_hooks(r: Reader | None) -> tuple[Hook, ...]:
    """Validate the ``hooks:`` mapping read by ``r``; raises ``ConfigError`` naming the key."""
    if r is None:
        return ()
    hooks: list[Hook] = []
    for point in r.data:
        if point not in HOOK_POINTS:
            raise r.error(f"unknown hook point {point!r}; hook points: {', '.join(HOOK_POINTS)}", str(point))
        hooks += parse_hook_point(r, point)
    r.finish()
    return tuple(hooks)


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


def _substitute(text: str, values: Mapping[str, Any], quote: bool) -> str:
    def value(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            return m.group(0)
        v = values[m.group(1)]
        s = "" if v is None else str(v)
        return shlex.quote(s) if quote else s

    return _PLACEHOLDER.sub(value, text)


def _tail(text: str, limit: int = 500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def command_line(hook: Hook, context: Mapping[str, Any]) -> list[str]:
    """The argv ``hook`` runs with ``context``: placeholders substituted (shell-quoted in a shell string)."""
    if hook.shell:
        return [SHELL, "-c", _substitute(hook.argv[0], context, quote=True)]
    return [_substitute(a, context, quote=False) for a in hook.argv]


def run_hook(hook: Hook, context: Mapping[str, Any]) -> HookResult:
    """Run ``hook`` with ``context`` (the names of :data:`PLACEHOLDERS`).

    Never raises: a command that cannot start, fails or times out is a ``HookResult`` with ``ok`` false.
    """
    argv = command_line(hook, context)
    command = argv[2] if hook.shell else " ".join(argv)
    env = {**os.environ, "CANARY_HOOK": hook.point}
    for key in ("service", "step", "outcome"):
        env[f"CANARY_{key.upper()}"] = "" if context.get(key) is None else str(context[key])
    for key in ("baseline", "canary", "previous_baseline", "previous_canary"):
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
