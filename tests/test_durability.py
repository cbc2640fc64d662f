"""Durable runs: a process killed mid-plan resumes without repeating finished tools.

Every test runs on SQLite and on PostgreSQL (AsyncPostgresSaver over a throwaway cluster
on a unix socket, see tests/pg_cluster.py): the worker processes share nothing but the
checkpoint database and the tool log.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pg_cluster import needs_postgres, postgres_cluster  # noqa: F401 (a fixture, used through `backend`)

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # worker processes SIGKILLed, a real PostgreSQL

WORKER = Path(__file__).with_name("durability_worker.py")


@dataclass
class Backend:
    """Where the worker processes keep their checkpoints."""

    name: str
    new_database: Callable[[str], str]
    """A fresh, empty database for one thread; returns the worker's DB argument."""
    saved_writes: Callable[[str], list[bytes]]
    """Every pending write (serialized task result) saved in that database so far."""


def _sqlite_writes(db: str) -> list[bytes]:
    try:
        with sqlite3.connect(db) as connection:
            return [bytes(row[0]) for row in connection.execute("SELECT value FROM writes") if row[0]]
    except sqlite3.OperationalError:  # database or table not created yet
        return []


def _postgres_writes(url: str) -> list[bytes]:
    import psycopg

    try:
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT blob FROM checkpoint_writes").fetchall()
    except psycopg.errors.UndefinedTable:  # the first worker has not run setup() yet
        return []
    return [bytes(row[0]) for row in rows if row[0]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", lambda name: str(tmp_path / f"{name}.sqlite"), _sqlite_writes)
    cluster = request.getfixturevalue("postgres_cluster")
    return Backend("postgres", lambda name: cluster.create_database(), _postgres_writes)


def start(mode: str, log: Path, db: str, plan: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(log), db, plan],
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


def wait_for_saved_result(backend: Backend, db: str, result: str, timeout: float = 60.0) -> None:
    """Wait until LangGraph has written a task's result to the checkpoint database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(result.encode() in blob for blob in backend.saved_writes(db)):
            return
        time.sleep(0.02)
    raise AssertionError(f"{result} never saved")


def run_to_end(mode: str, log: Path, db: str, plan: str) -> dict[str, object]:
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
def test_sigkilled_run_resumes_without_repeating_finished_tools(
    tmp_path: Path, backend: Backend, plan: str, finished_before_kill: str, repeated_after: list[str]
) -> None:
    reference = run_to_end("run", tmp_path / "reference.log", backend.new_database("reference"), plan)

    log, db = tmp_path / "calls.log", backend.new_database("checkpoints")
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for(log, "end", finished_before_kill)
    wait_for_saved_result(backend, db, f"found<{finished_before_kill}>")
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


def test_eager_run_killed_while_the_plan_streams_keeps_the_tool_results_that_came_in(
    tmp_path: Path, backend: Backend
) -> None:
    plan = "eager-mid-plan"
    reference = run_to_end("run", tmp_path / "reference.log", backend.new_database("reference"), plan)

    log, db = tmp_path / "calls.log", backend.new_database("checkpoints")
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for(log, "end", "after found<fast>")
    wait_for_saved_result(backend, db, "found<after found<fast>>")
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
    tmp_path: Path, backend: Backend
) -> None:
    plan = "eager-after-plan"
    reference = run_to_end("run", tmp_path / "reference.log", backend.new_database("reference"), plan)

    log, db = tmp_path / "calls.log", backend.new_database("checkpoints")
    first = start("run", log, db, plan)
    wait_for(log, "start", "slow")
    wait_for_saved_result(backend, db, "found<after found<fast>>")
    wait_for_saved_result(backend, db, "join()")  # the recorded plan stream
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


def test_a_run_paused_for_approval_is_approved_from_a_second_process_and_finishes_on_a_third(
    tmp_path: Path, backend: Backend
) -> None:
    plan = "approval"
    reference_log, reference_db = tmp_path / "reference.log", backend.new_database("reference")
    assert run_to_end("run", reference_log, reference_db, plan)["answer"] is None  # paused
    reference = run_to_end("approve", reference_log, reference_db, plan)
    assert reference["answer"]

    log, db = tmp_path / "calls.log", backend.new_database("checkpoints")
    paused = run_to_end("run", log, db, plan)  # process 1: runs $1, then waits for approval
    assert paused["answer"] is None
    [request] = paused["interrupts"]  # type: ignore[misc]
    assert [(c["tool"], c["args"]) for c in request["calls"]] == [
        ("send_email", {"to": "team", "body": "$1"})
    ]
    assert [e["query"] for e in entries(log) if e["event"] == "start"] == ["fast"]

    approver = start("approve", log, db, plan)  # process 2: approves; killed while $3 runs
    email = "email team: found<fast>"
    wait_for(log, "end", email)
    wait_for(log, "start", "slow after sent to team")
    wait_for_saved_result(backend, db, "sent to team")
    approver.send_signal(signal.SIGKILL)
    approver.wait(timeout=30)
    assert approver.returncode == -signal.SIGKILL

    finished = run_to_end("resume", log, db, plan)  # process 3: finishes the run

    assert finished["answer"] == reference["answer"]
    pids = [e["pid"] for e in entries(log)]
    assert len(set(pids)) == 3, pids  # one process each: the first run, the approver, the finisher
    started = [str(e["query"]) for e in entries(log) if e["event"] == "start"]
    assert started.count(email) == 1  # the side effect happened once, in the approver
    assert started.count("fast") == 1  # and $1 ran once, before the pause
    finisher = finished["pid"]
    assert sorted(
        str(e["query"]) for e in entries(log) if e["pid"] == finisher and e["event"] == "start"
    ) == [
        "again found<fast>",
        "slow after sent to team",
    ]
