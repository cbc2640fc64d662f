"""Durable runs: a process killed mid-plan resumes from SQLite without repeating finished tools."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("durability_worker.py")


def start(mode: str, log: Path, db: Path, plan: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(log), str(db), plan],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def entries(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(log: Path, event: str, query: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["event"] == event and e["query"] == query for e in entries(log)):
            return
        time.sleep(0.02)
    raise AssertionError(f"{event} {query} never logged: {entries(log)}")


def wait_for_saved_result(db: Path, result: str, timeout: float = 60.0) -> None:
    """Wait until LangGraph has written a task's result to the checkpoint database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db) as connection:
                blobs = [row[0] for row in connection.execute("SELECT value FROM writes")]
        except sqlite3.OperationalError:  # database or table not created yet
            blobs = []
        if any(result.encode() in bytes(blob) for blob in blobs if blob):
            return
        time.sleep(0.02)
    raise AssertionError(f"{result} never saved")


def run_to_end(mode: str, log: Path, db: Path, plan: str) -> dict[str, object]:
    process = start(mode, log, db, plan)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("plan", "finished_before_kill", "repeated_after"),
    [
        ("finished-dependant", "after found<fast>", ["again found<fast>", "slow"]),
        ("running-dependant", "fast", ["again found<fast>", "slow", "slow after found<fast>"]),
    ],
)
def test_sigkilled_run_resumes_from_sqlite_without_repeating_finished_tools(
    tmp_path: Path, plan: str, finished_before_kill: str, repeated_after: list[str]
) -> None:
    reference = run_to_end("run", tmp_path / "reference.log", tmp_path / "reference.sqlite", plan)

    log, db = tmp_path / "calls.log", tmp_path / "checkpoints.sqlite"
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for(log, "end", finished_before_kill)
    wait_for_saved_result(db, f"found<{finished_before_kill}>")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    before = entries(log)
    killed_pid = before[0]["pid"]
    finished_before = {e["query"] for e in before if e["event"] == "end"}
    assert "slow" not in finished_before

    resumed = run_to_end("resume", log, db, plan)

    assert resumed["answer"] == reference["answer"]
    after = [e for e in entries(log) if e["pid"] != killed_pid]
    started_after = sorted(str(e["query"]) for e in after if e["event"] == "start")
    # Only calls that had not returned run again; the replan reuses $1 from before the crash.
    assert started_after == repeated_after
    assert not finished_before & set(started_after)


def test_eager_run_killed_while_the_plan_streams_keeps_the_tool_results_that_came_in(tmp_path: Path) -> None:
    plan = "eager-mid-plan"
    reference = run_to_end("run", tmp_path / "reference.log", tmp_path / "reference.sqlite", plan)

    log, db = tmp_path / "calls.log", tmp_path / "checkpoints.sqlite"
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for(log, "end", "after found<fast>")
    wait_for_saved_result(db, "found<after found<fast>>")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    before = entries(log)
    killed_pid = before[0]["pid"]
    # The kill landed in the planner's own step: the plan had not finished streaming.
    assert not any(e["event"] == "plan" and e["query"] == "second" for e in before)

    resumed = run_to_end("resume", log, db, plan)

    assert resumed["answer"] == reference["answer"]
    after = [e for e in entries(log) if e["pid"] != killed_pid]
    started_after = sorted(str(e["query"]) for e in after if e["event"] == "start")
    assert started_after == ["again found<fast>", "slow"]  # $1 and $3 were not called again
    plans_after = [e["query"] for e in after if e["event"] == "plan"]
    assert plans_after == ["first", "second"]  # the unfinished plan stream was asked for again


def test_eager_run_killed_after_the_plan_streamed_asks_the_model_for_that_plan_only_once(
    tmp_path: Path,
) -> None:
    plan = "eager-after-plan"
    reference = run_to_end("run", tmp_path / "reference.log", tmp_path / "reference.sqlite", plan)

    log, db = tmp_path / "calls.log", tmp_path / "checkpoints.sqlite"
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for_saved_result(db, "found<after found<fast>>")
    wait_for_saved_result(db, "join()")  # the recorded plan stream
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    before = entries(log)
    killed_pid = before[0]["pid"]
    assert "slow" not in {e["query"] for e in before if e["event"] == "end"}

    resumed = run_to_end("resume", log, db, plan)

    assert resumed["answer"] == reference["answer"]
    after = [e for e in entries(log) if e["pid"] != killed_pid]
    assert sorted(str(e["query"]) for e in after if e["event"] == "start") == ["again found<fast>", "slow"]
    assert [e["query"] for e in after if e["event"] == "plan"] == [
        "second"
    ]  # the first plan came from the save
