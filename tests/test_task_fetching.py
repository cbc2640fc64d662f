"""The task fetching unit on its own: the readiness rule, and one round's tasks run by a unit.

The tool calls are made by a runner that records them instead of going through a graph,
so each test states which calls were made, in which order, and what each task recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.execution.fetching_unit import (
    Dispatches,
    Gate,
    TaskFetchingUnit,
    readiness,
    verdicts,
)
from llmcompiler_graph.execution.records import finished
from llmcompiler_graph.execution.runner import PreparedCall, TaskRunner
from llmcompiler_graph.plan.tool_schemas import normalize_tools
from llmcompiler_graph.state import Task


def task(
    idx: int, *deps: int, tool: str = "search", query: str | None = None, status: str = "pending"
) -> Task:
    refs = " ".join(f"${d}" for d in deps)
    return {
        "idx": idx,
        "tool": tool,
        "args": {"query": query if query is not None else f"q{idx} {refs}".strip()},
        "dependencies": list(deps),
        "thought": None,
        "plan_round": 0,
        "status": status,  # type: ignore[typeddict-item]
        "resolved_args": None,
        "result": None,
        "error": None if status in ("pending", "done") else "failed",
        "started_at": None,
        "finished_at": None,
    }


def search(query: str) -> str:
    """Look it up."""
    return query


def send(query: str) -> str:
    """Send it (a side effect)."""
    return query


class RecordingRunner(TaskRunner):
    """Calls no tool: records each call and answers after `latency` seconds."""

    def __init__(self, latency: dict[int, float] | None = None, **kwargs: Any) -> None:
        super().__init__(normalize_tools([search, send]), task_timeout=5, **kwargs)
        self.latency = latency or {}
        self.started: list[int] = []
        self.running = 0
        self.most_running = 0

    async def call(self, call: PreparedCall, limit: asyncio.Semaphore | None = None) -> Task:
        async with limit if limit is not None else _nothing():
            self.started.append(call.task["idx"])
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            try:
                await asyncio.sleep(self.latency.get(call.task["idx"], 0.0))
            finally:
                self.running -= 1
            now = time.time()
            answer = f"<{call.args['query']}>"
            return finished(call.task, status="done", result=answer, resolved_args=call.args, finished_at=now)


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def run_all(
    unit: TaskFetchingUnit, tasks: list[Task], known: dict[int, Any] | None = None
) -> list[Any]:
    return await asyncio.gather(*(unit.run(t, known or {}, {}) for t in tasks))


# --- the rule -----------------------------------------------------------------------------


def test_readiness_in_order_late_hold_skip_run_wait() -> None:
    done, failed, pending = task(1, status="done"), task(2, status="error"), task(3)
    records = {1: done, 2: failed, 3: pending}
    assert readiness(task(9, 1), records).verdict == "run"
    assert readiness(task(9, 3), records).verdict == "wait"
    assert readiness(task(9, 1, 2), records).verdict == "skip"
    assert readiness(task(9, 1, 2), records).failed == failed
    assert readiness(task(9, 1), records, held={1}).verdict == "hold"
    assert readiness(task(9, 2), records, held={2}).verdict == "hold"  # hold comes before skip
    assert readiness(task(9, tool="send"), records, gate=Gate(needs_approval={"send"})).verdict == "hold"
    decided = Gate(needs_approval={"send"}, approvals={9: "approved"})
    assert readiness(task(9, tool="send"), records, gate=decided).verdict == "run"
    late = Gate(needs_approval={"send"}, deadline=100.0)
    assert readiness(task(9, 2, tool="send"), records, gate=late, now=100.0).verdict == "late"
    assert readiness(task(9), records, gate=late, now=99.9).verdict == "run"
    assert readiness(task(9, 4), records).verdict == "wait"  # an input not recorded yet


def test_verdicts_carry_holds_and_failures_down_the_chain() -> None:
    chain = [task(1, tool="send"), task(2, 1), task(3, 2), task(4)]
    found = verdicts(chain, {t["idx"]: t for t in chain}, gate=Gate(needs_approval={"send"}))
    assert {i: r.verdict for i, r in found.items()} == {1: "hold", 2: "hold", 3: "hold", 4: "run"}

    chain = [task(1, status="error"), task(2, 1), task(3, 2), task(4, 3), task(5)]
    found = verdicts(chain[1:], {t["idx"]: t for t in chain})
    assert {i: r.verdict for i, r in found.items()} == {2: "skip", 3: "skip", 4: "skip", 5: "run"}
    assert found[4].failed is not None and found[4].failed["idx"] == 3
    assert "$2 did not succeed" in (found[4].failed["error"] or "")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pending", "done", "error", "skipped"]), st.sets(st.integers(0, 30), max_size=3)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_rule_agrees_with_its_definition(plan: list[tuple[str, set[int]]]) -> None:
    tasks = [
        task(i, *sorted(d for d in deps if d < i), status=status) for i, (status, deps) in enumerate(plan)
    ]
    records = {t["idx"]: t for t in tasks}
    for t in tasks:
        statuses = [records[d]["status"] for d in t["dependencies"]]
        verdict = readiness(t, records)
        if any(s in ("error", "skipped") for s in statuses):
            assert verdict.verdict == "skip"
            assert verdict.failed is not None and verdict.failed["status"] in ("error", "skipped")
        elif all(s == "done" for s in statuses):
            assert verdict.verdict == "run"
        else:
            assert verdict.verdict == "wait"


# --- the unit -----------------------------------------------------------------------------


async def test_each_task_starts_when_its_own_inputs_are_ready() -> None:
    # 1 is slow, 2 fast; 3 needs 2 only, 4 needs 1 and 3: 3 must not wait for 1.
    runner = RecordingRunner(latency={1: 0.2, 2: 0.01})
    unit = TaskFetchingUnit(runner)
    records = await run_all(unit, [task(4, 1, 3), task(3, 2), task(2), task(1)])
    assert runner.started.index(3) < runner.started.index(4)
    assert runner.started[:3] == [2, 1, 3] or runner.started[:3] == [1, 2, 3]
    by_idx = {r["idx"]: r for r in records}
    assert by_idx[4]["resolved_args"] == {"query": "q4 <q1> <q3 <q2>>"}


async def test_identical_calls_run_once_but_side_effect_calls_each_run() -> None:
    runner = RecordingRunner(latency={1: 0.05}, side_effect_tools={"send"})
    unit = TaskFetchingUnit(runner)
    same = [
        task(1, query="x"),
        task(2, query="x"),
        task(3, query="x", tool="send"),
        task(4, query="x", tool="send"),
    ]
    records = {r["idx"]: r for r in await run_all(unit, same)}
    assert sorted(runner.started) == [1, 3, 4]
    assert records[2]["result"] == "<x>" and records[2].get("same_as") == 1


async def test_a_call_made_in_an_earlier_round_is_not_made_again() -> None:
    earlier = {1: {**task(1, query="x", status="done"), "resolved_args": {"query": "x"}, "result": "old"}}
    runner = RecordingRunner()
    unit = TaskFetchingUnit(runner, earlier)  # type: ignore[arg-type]
    (record,) = await run_all(unit, [task(5, query="x")])
    assert runner.started == []
    assert (record["result"], record.get("same_as")) == ("old", 1)


async def test_a_failed_input_skips_the_task_without_calling_its_tool() -> None:
    runner = RecordingRunner()
    unit = TaskFetchingUnit(runner)
    waiting = asyncio.ensure_future(unit.run(task(2, 1), {}, {}))
    unit.publish({**task(1), "status": "error", "error": "boom"})
    record = await waiting
    assert runner.started == []
    assert (record["status"], record["error"]) == ("skipped", "not run because $1 did not succeed (boom)")


async def test_a_cancelled_run_still_publishes_so_nothing_waits_forever() -> None:
    runner = RecordingRunner(latency={1: 10.0})
    unit = TaskFetchingUnit(runner)
    slow = asyncio.ensure_future(unit.run(task(1), {}, {}))
    dependent = asyncio.ensure_future(unit.run(task(2, 1), {}, {}))
    await asyncio.sleep(0.05)
    slow.cancel()
    record = await asyncio.wait_for(dependent, 1.0)
    assert record["status"] == "skipped" and "cancelled before it finished" in record["error"]


async def test_a_unit_from_another_process_defers_what_needs_an_unreported_sibling() -> None:
    runner = RecordingRunner()
    unit = TaskFetchingUnit(runner, authoritative=False)
    assert await unit.run(task(2, 1), {}, {}) is None  # its input ran before the crash
    assert unit.recorded(2) is None  # deferred, not failed: the scheduler sends it again
    record = await unit.run(task(3, 1), {1: "saved"}, {})  # sent again with the result in hand
    assert record is not None and record["resolved_args"] == {"query": "q3 saved"}


async def test_max_concurrency_bounds_the_calls_of_a_round() -> None:
    runner = RecordingRunner(latency={i: 0.02 for i in range(1, 9)})
    unit = TaskFetchingUnit(runner, max_concurrency=2)
    await run_all(unit, [task(i) for i in range(1, 9)])
    assert runner.most_running == 2 and len(runner.started) == 8


async def test_dispatches_share_one_unit_per_step_and_drop_it_after_the_last_report() -> None:
    dispatches = Dispatches(RecordingRunner())
    dispatches.open("step-a", 2, {})
    first, second = dispatches.attach("step-a", 2), dispatches.attach("step-a", 2)
    assert first is second and first.authoritative
    dispatches.report("step-a")
    assert len(dispatches) == 1
    dispatches.report("step-a")
    assert len(dispatches) == 0
    assert not dispatches.attach("step-b", 1).authoritative  # its step ran in another process


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"configurable": {"thread_id": "t", "checkpoint_ns": "scheduler:abc"}}, "t|scheduler:abc"),
        ({"configurable": {"checkpoint_ns": "scheduler:abc"}}, "|scheduler:abc"),
    ],
)
def test_step_key_is_langgraphs_own_id_of_the_step(config: Any, key: str) -> None:
    assert RunContext.of(config).step_key == key
