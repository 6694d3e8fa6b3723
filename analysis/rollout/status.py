"""``canary status``: where a journaled rollout stands, read from its state file (no router or Prometheus call)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.rollout.journal import RolloutState, holder, read_records, service_lock


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds") \
        .replace("+00:00", "Z")


def status(path: str | Path) -> dict[str, Any] | None:
    """The state of the last run in ``path`` as a JSON-safe dict, or ``None`` when the file records no run.

    ``status`` is ``running`` while a process holds the lock, the outcome once the run ended, and
    ``interrupted`` when it stopped without an outcome (a crash or kill: ``canary rollout --resume``).
    """
    p = Path(path)
    state = RolloutState.replay(read_records(p))
    if state is None:
        return None
    pid = holder(Path(f"{p}.lock"))
    if pid is None and state.service:
        pid = holder(service_lock(state.service).path)
    running = pid is not None
    if running:
        current = "running"
    else:
        current = state.outcome or "interrupted"
    names = [s["name"] for s in state.plan]
    return {
        "state_file": str(p), "run": state.run, "service": state.service, "strategy": state.strategy,
        "status": current, "pid": pid if running else None, "outcome": state.outcome, "reason": state.reason,
        "exit_code": state.exit_code, "stage": state.stage,
        "stage_index": names.index(state.stage) + 1 if state.stage in names else 0, "stages": len(names),
        "completed": list(state.completed), "weights": dict(state.weights) if state.weights else None,
        "pending": state.pending.get("action") if state.pending else None,
        "last_verdict": dict(state.verdicts[-1]) if state.verdicts else None,
        "verdicts": [dict(v) for v in state.verdicts], "plan": [dict(s) for s in state.plan],
        "started": _iso(state.started), "updated": _iso(state.last_time),
        "hook_failures": list(state.hooks_failed),
    }


def render(s: dict[str, Any]) -> str:
    """``status`` as a few readable lines."""
    w = s["weights"]
    lines = [f"{s['service']} ({s['strategy']}): {s['status'].upper().replace('_', ' ')}"
             + (f" (pid {s['pid']})" if s["pid"] else ""),
             f"  state file: {s['state_file']} (run {s['run']}, started {s['started']}, updated {s['updated']})",
             f"  stage: {s['stage'] or '-'} ({s['stage_index']}/{s['stages']}); completed: "
             f"{', '.join(s['completed']) or 'none'}",
             "  weights baseline/canary: " + (f"{w['baseline']}/{w['canary']}" if w else "unknown")]
    if s["pending"]:
        lines.append(f"  pending decision: {s['pending']} (canary rollout --resume completes it)")
    for v in s["verdicts"]:
        score = v.get("score")
        lines.append(f"  {v['stage']}: {str(v['verdict']).upper()}"
                     + (f" score {score:g}" if isinstance(score, (int, float)) else "") + f": {v.get('reason')}")
    if s["reason"]:
        lines.append(f"  reason: {s['reason']}")
    for h in s["hook_failures"]:
        lines.append(f"  hook failed: {h}")
    if s["status"] == "interrupted":
        lines.append("  the rollout stopped without an outcome: canary rollout CONFIG --resume continues it")
    return "\n".join(lines)
