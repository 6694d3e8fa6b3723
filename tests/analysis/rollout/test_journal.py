"""The journal: records are on disk before they are acted on, a torn last line is survived, a run is replayed
into the state a resume starts from, and the locks keep two rollouts apart (and die with their process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analysis.errors import DataError, UsageError
from analysis.rollout.journal import FileLock, Journal, RolloutLocked, RolloutState, holder, read_records

PLAN = [{"name": "step-1", "kind": "step", "baseline": 90, "canary": 10, "analyze": True},
        {"name": "step-2", "kind": "step", "baseline": 50, "canary": 50, "analyze": True},
        {"name": "promote", "kind": "promote", "baseline": 0, "canary": 100, "analyze": False}]


def test_each_record_is_on_disk_when_append_returns(tmp_path):
    path = tmp_path / "s.jsonl"
    with Journal(path) as j:
        j.new_run()
        j.append("start", service="shop", plan=PLAN)
        rec = j.append("weights", stage="step-1", weights={"baseline": 90, "canary": 10})
        # another reader (a resume after kill -9 would be one) sees it already
        on_disk = [json.loads(line) for line in path.read_text().splitlines()]
    assert on_disk[-1] == rec and [r["seq"] for r in on_disk] == [1, 2]
    assert rec["run"] == on_disk[0]["run"] and rec["event"] == "weights"


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_record(tmp_path):
    path = tmp_path / "s.jsonl"
    with Journal(path) as j:
        j.new_run()
        j.append("start", service="shop", plan=PLAN)
    with open(path, "a") as f:
        f.write('{"seq": 2, "event": "wei')  # a crash in the middle of a write
    assert [r["event"] for r in read_records(path)] == ["start"]
    with Journal(path) as j:
        j.append("stage_start", stage="step-1")
    assert [r["event"] for r in read_records(path)] == ["start", "stage_start"]
    assert read_records(path)[-1]["seq"] == 2


def test_a_corrupt_record_in_the_middle_names_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"event": "start", "run": "a", "t": 1}\nnot json\n{"event": "end", "t": 2}\n')
    with pytest.raises(DataError, match=r"s.jsonl: line 2: not a journal record"):
        read_records(path)


def test_state_file_in_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        Journal(tmp_path / "nope" / "s.jsonl").open()


def _replay(*events):
    recs = [{"seq": i + 1, "t": 100.0 + i, "run": "r1", **e} for i, e in enumerate(events)]
    return RolloutState.replay(recs)


START = {"event": "start", "service": "shop", "strategy": "canary", "plan": PLAN}


def test_replay_of_a_run_interrupted_mid_step():
    s = _replay(START,
                {"event": "stage_start", "stage": "step-1"},
                {"event": "weights", "stage": "step-1", "weights": {"baseline": 90, "canary": 10}},
                {"event": "weights_applied", "stage": "step-1", "weights": {"baseline": 90, "canary": 10},
                 "read_back": {"baseline": 90, "canary": 10}},
                {"event": "verdict", "stage": "step-1", "verdict": "pass", "score": 100.0, "reason": "ok"},
                {"event": "decision", "action": "next", "stage": "step-1"},
                {"event": "stage_done", "stage": "step-1"},
                {"event": "stage_start", "stage": "step-2"},
                {"event": "weights", "stage": "step-2", "weights": {"baseline": 50, "canary": 50}})
    assert s.completed == ("step-1",) and s.next_index == 1 and s.stage == "step-2"
    assert s.weights == {"baseline": 90, "canary": 10}  # applied
    assert s.intended == {"baseline": 50, "canary": 50}  # announced, maybe not applied
    assert s.outcome is None and s.pending is None and not s.final
    assert [v["verdict"] for v in s.verdicts] == ["pass"]


def test_replay_keeps_a_decision_that_was_not_carried_out():
    s = _replay(START, {"event": "stage_start", "stage": "step-1"},
                {"event": "verdict", "stage": "step-1", "verdict": "fail", "reason": "error_ratio high"},
                {"event": "decision", "action": "rollback", "reason": "step-1: verdict fail"})
    assert s.pending["action"] == "rollback" and s.outcome is None


def test_replay_of_ended_runs_and_of_the_last_run_only():
    s = _replay(START, {"event": "end", "outcome": "rolled_back", "exit_code": 1, "reason": "bad"},
                {**START, "run": "r2"}, {"event": "end", "outcome": "paused", "exit_code": 3, "reason": "meh"})
    assert s.outcome == "paused" and not s.final and s.exit_code == 3
    s = _replay(START, {"event": "end", "outcome": "promoted", "exit_code": 0, "reason": "ok"})
    assert s.final
    assert RolloutState.replay([]) is None


def test_a_second_journal_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    with Journal(path):
        with pytest.raises(RolloutLocked, match=f"state file {path} is already running \\(pid {os.getpid()}"):
            Journal(path).open()
        assert holder(tmp_path / "s.jsonl.lock") == os.getpid()
    assert holder(tmp_path / "s.jsonl.lock") is None
    with Journal(path):  # released on close
        pass


def test_a_lock_dies_with_its_process_even_on_kill_9(tmp_path):
    lock = tmp_path / "svc.lock"
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from pathlib import Path
        from analysis.rollout.journal import FileLock
        FileLock(Path({str(lock)!r}), "x").acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert holder(lock) == proc.pid
        with pytest.raises(RolloutLocked, match=f"pid {proc.pid}"):
            FileLock(lock, "a rollout of service 'svc'").acquire()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    deadline = time.monotonic() + 5
    while holder(lock) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    FileLock(lock, "x").acquire().release()


def test_a_corrupt_journal_does_not_keep_its_lock(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"event": "start", "run": "a", "t": 1}\nnot json\n{"event": "end", "t": 2}\n')
    for _ in range(2):  # the second open must fail the same way, not as "already running"
        with pytest.raises(DataError, match="line 2"):
            Journal(path).open()
    assert holder(Path(f"{path}.lock")) is None
