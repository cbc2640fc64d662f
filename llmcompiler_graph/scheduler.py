"""The scheduler node (the paper's task fetching unit): sends every runnable task at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from langgraph.types import Command, Send

from llmcompiler_graph.execution import BatchRegistry
from llmcompiler_graph.executor import finished, remember_finished_calls, skipped
from llmcompiler_graph.state import LLMCompilerState, Task, TaskDispatch

__all__ = ["EXECUTE_TASK_NODE", "JOINER_NODE", "MAX_SENDS_PER_BATCH", "make_scheduler"]

EXECUTE_TASK_NODE = "execute_task"
DEADLINE_ERROR = "not run: the run deadline (run_timeout) was reached"

MAX_SENDS_PER_BATCH = 64
"""Most `Send`s per batch. LangGraph's cost per `Send` grows with the number sent in one
step, so a batch of more tasks is split into this many `Send`s of consecutive tasks; the
tasks of one `Send` still run concurrently, each starting when its own inputs are ready."""
JOINER_NODE = "joiner"


def _split(tasks: list[Task], parts: int) -> list[list[Task]]:
    """Split into at most `parts` runs of consecutive tasks of near-equal length."""
    if len(tasks) <= parts:
        return [[task] for task in tasks]
    size, extra = divmod(len(tasks), parts)
    chunks, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        chunks.append(tasks[start:end])
        start = end
    return chunks


def make_scheduler(registry: BatchRegistry) -> Callable[[LLMCompilerState], Command[Any]]:
    """Build the scheduler node.

    Every pending task is sent in one batch, in id order, with the results of its
    finished dependencies; a task whose dependency failed is marked skipped instead.
    With eager dispatch the planner has already started the tasks in its own batch, and
    the task nodes only collect their outcomes.
    Tasks of a batch wait for each other inside the batch (see
    :mod:`llmcompiler_graph.execution`), so each starts as soon as its own inputs are
    ready. When nothing is pending, control passes to the joiner.
    """

    def scheduler(state: LLMCompilerState) -> Command[Any]:
        tasks = state.get("tasks", {})
        pending = [tasks[idx] for idx in sorted(tasks) if tasks[idx]["status"] == "pending"]
        execution_id = state.get("execution_id")
        deadline = state.get("deadline")
        if pending and deadline is not None and time.time() >= deadline:
            if execution_id is not None:
                registry.discard(execution_id)
            late = {
                t["idx"]: finished(t, status="error", error=DEADLINE_ERROR, finished_at=time.time())
                for t in pending
            }
            return Command(goto=JOINER_NODE, update={"tasks": late, "execution_id": None})
        chunks = _split(pending, MAX_SENDS_PER_BATCH)
        updates: dict[int, Task] = {}
        if not (chunks and execution_id is not None and registry.claim(execution_id, len(chunks))):
            # Nothing was started eagerly by the planner: skip what cannot run, send the rest.
            if execution_id is not None:
                registry.discard(execution_id)
            runnable: list[Task] = []
            latest: dict[int, Task] = dict(tasks)
            for task in pending:
                failed = next(
                    (latest[d] for d in task["dependencies"] if latest[d]["status"] in ("error", "skipped")),
                    None,
                )
                if failed is not None:
                    updates[task["idx"]] = latest[task["idx"]] = skipped(task, failed)
                else:
                    runnable.append(task)
            if not runnable:
                return Command(goto=JOINER_NODE, update={"tasks": updates, "execution_id": None})
            chunks = _split(runnable, MAX_SENDS_PER_BATCH)
            execution_id = uuid.uuid4().hex
            remember_finished_calls(registry.open(execution_id, len(chunks)), tasks)
        sends = [
            Send(
                EXECUTE_TASK_NODE,
                TaskDispatch(
                    tasks=chunk,
                    execution_id=execution_id,
                    batch_size=len(chunks),
                    deadline=deadline,
                    dependency_results={
                        d: tasks[d]["result"]
                        for task in chunk
                        for d in task["dependencies"]
                        if tasks[d]["status"] == "done"
                    },
                ),
            )
            for chunk in chunks
        ]
        return Command(goto=sends, update={"tasks": updates, "execution_id": execution_id})

    return scheduler
