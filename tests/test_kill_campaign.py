"""Kill campaign: SIGKILL a run at random moments, resume it, count side effects done twice or never.

Each trial runs one thread in worker processes (tests/kill_worker.py) on a SQLite
checkpointer, kills one of them at a random moment (seeded, so the schedule is the same
on every machine; where it lands depends on the machine's speed), then drives the thread
to its answer in fresh processes (`resume`, or `approve` while an approval is pending).
Every tool call is a side effect written to a ledger. Counted per trial:

- **duplicated**: a call that had returned at least `SAVED_AFTER_S` before the kill and
  ran again after it (its result should have been in the checkpoint);
- **in the save window**: a call that returned less than `SAVED_AFTER_S` before the kill
  and ran again (LangGraph saves a result just after the tool returns; a kill in between
  cannot be told apart from a kill during the call);
- **rerun while running**: a call running at the kill, run again (unavoidable: nothing
  can know whether its effect happened; make such tools idempotent);
- **lost**: a call of the plan with no completed run once the thread has answered.

Duplicated and lost must be zero. Trials cover async and sync APIs, eager and lazy
dispatch, an approval pending (and the approving process killed), and a plan of 70 tasks
(more than the 64 `Send`s one step is split into without a checkpointer).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.campaign, pytest.mark.slow]

WORKER = Path(__file__).with_name("kill_worker.py")
SAVED_AFTER_S = 0.25
SEED = 20261202
CONFIGS = [
    (api, eager, plan)
    for api in ("async", "sync")
    for eager in ("eager", "lazy")
    for plan in ("dag", "wide", "approval")
]
TRIALS_PER_CONFIG = 3


@dataclass
class Tally:
    """What one or more trials did."""

    kills: int = 0
    finished_before_kill: int = 0
    duplicated: list[str] = field(default_factory=list)
    in_save_window: int = 0
    rerun_while_running: int = 0
    lost: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.kills += other.kills
        self.finished_before_kill += other.finished_before_kill
        self.duplicated += other.duplicated
        self.in_save_window += other.in_save_window
        self.rerun_while_running += other.rerun_while_running
        self.lost += other.lost


def worker(mode: str, ledger: Path, db: Path, config: tuple[str, str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent.parent)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(ledger), str(db), *config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def expected_calls(plan: str) -> set[str]:
    """The ledger names of the plan's calls, once the thread has answered."""
    if plan == "wide":
        return {f"charge w{i} {i}" for i in range(1, 71)}
    if plan == "approval":
        return {"charge a 10", "transfer b charged a", "charge c after sent to b 30"}
    return {
        "charge a 10",
        "charge b 20",
        "charge c 30",
        "charge d after charged a 40",
        "charge e after charged b and charged d 50",
        "charge f after charged c 60",
    }


def tally(ledger: Path, killed_at: float | None, plan: str) -> Tally:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        entry = json.loads(line)
        if entry["event"] == "start":
            runs[entry["call"]].append({"start": entry["time"], "end": None})
        else:
            open_runs = [r for r in runs[entry["call"]] if r["end"] is None]
            open_runs[0]["end"] = entry["time"]
    result = Tally(kills=killed_at is not None)
    result.lost = sorted(c for c in expected_calls(plan) if not any(r["end"] for r in runs.get(c, [])))
    if killed_at is None:
        return result
    for call, call_runs in runs.items():
        before = [r for r in call_runs if r["start"] < killed_at]
        again = len(call_runs) > len(before)
        ended = [r["end"] for r in before if r["end"] is not None and r["end"] < killed_at]
        if ended and killed_at - min(ended) >= SAVED_AFTER_S:
            result.finished_before_kill += 1
            if again:
                result.duplicated.append(call)
        elif ended and again:
            result.in_save_window += 1
        elif before and again:
            result.rerun_while_running += 1
    return result


def trial(tmp_path: Path, config: tuple[str, str, str], rng: random.Random) -> Tally:
    """Run one thread to its answer, SIGKILLing one of its processes at a random moment."""
    ledger, db = tmp_path / "ledger.jsonl", tmp_path / "checkpoints.sqlite"
    plan = config[2]
    kill_step = rng.choice([0, 1]) if plan == "approval" else 0
    kill_after = rng.uniform(0.05, 0.9)  # after the ledger's first entry of that step
    killed_at: float | None = None
    mode = "run"
    for step in range(6):
        lines_before = len(ledger.read_text().splitlines()) if ledger.exists() else 0
        process = worker(mode, ledger, db, config)
        if step == kill_step and killed_at is None:
            killed_at = kill_when_busy(process, ledger, lines_before, kill_after)
            if killed_at is not None:
                mode = "resume"
                continue
        result = finish(process)
        if result["answer"] is not None:
            assert all(status == "done" for status in result["tasks"].values()), result
            return tally(ledger, killed_at, plan)
        mode = "approve" if result["interrupts"] else "resume"
    raise AssertionError(f"{config}: no answer after 6 steps")


def kill_when_busy(
    process: subprocess.Popen[str], ledger: Path, lines_before: int, after: float
) -> float | None:
    """SIGKILL `process` `after` seconds into its tool calls; `None` if it ended first."""
    started: float | None = None
    while process.poll() is None:
        if started is None and ledger.exists() and len(ledger.read_text().splitlines()) > lines_before:
            started = time.time()
        if started is not None and time.time() - started >= after:
            killed_at = time.time()
            process.send_signal(signal.SIGKILL)
            process.wait()
            return killed_at
        time.sleep(0.01)
    return None


@pytest.mark.timeout(900)
def test_kill_campaign_duplicates_and_loses_no_side_effect(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    total = Tally()
    lines = []
    for number, config in enumerate(config for config in CONFIGS for _ in range(TRIALS_PER_CONFIG)):
        directory = tmp_path / f"trial{number}"
        directory.mkdir()
        result = trial(directory, config, rng)
        total.add(result)
        lines.append(
            f"{'/'.join(config):>20}: killed={result.kills} "
            f"finished-before-kill={result.finished_before_kill} "
            f"duplicated={len(result.duplicated)} save-window={result.in_save_window} "
            f"rerun-while-running={result.rerun_while_running} lost={len(result.lost)}"
        )
    summary = (
        f"{len(lines)} trials, {total.kills} SIGKILLs: {total.finished_before_kill} calls had finished "
        f">= {SAVED_AFTER_S} s before their kill, {len(total.duplicated)} of them ran again; "
        f"{total.in_save_window} reran from the save window, {total.rerun_while_running} were running at "
        f"the kill and ran again; {len(total.lost)} lost"
    )
    print("\n".join([*lines, summary]))
    report = os.environ.get("KILL_CAMPAIGN_REPORT")
    if report:
        Path(report).write_text("\n".join([*lines, summary]) + "\n")
    assert total.duplicated == [], summary
    assert total.lost == [], summary
    assert total.kills >= len(lines) * 3 // 4, summary  # most trials were really killed mid-run
