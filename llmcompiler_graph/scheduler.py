"""The scheduler node (the paper's task fetching unit): sends every runnable task at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send

from llmcompiler_graph.approval import APPROVE_NODE, ApprovalRequest, held_for_approval
from llmcompiler_graph.execution import BatchRegistry
from llmcompiler_graph.executor import EXECUTE_TASK_NODE, finished, remember_finished_calls, skipped
from llmcompiler_graph.planner import has_checkpointer
from llmcompiler_graph.state import LLMCompilerState, Task, TaskDispatch

__all__ = ["EXECUTE_TASK_NODE", "JOINER_NODE", "MAX_SENDS_PER_BATCH", "make_scheduler"]

DEADLINE_ERROR = "not run: the run deadline (run_timeout) was reached"

MAX_SENDS_PER_BATCH = 64
"""Most `Send`s per batch in a run without a checkpointer. LangGraph's cost per `Send` grows
with the number sent in one step, so a batch of more tasks is split into this many `Send`s
of consecutive tasks; the tasks of one `Send` still run concurrently, each starting when its
own inputs are ready. With a checkpointer every task has its own `Send`, so each finished
tool call is saved as it finishes, not when its neighbours do."""
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


def _dispatch(
    chunk: list[Task],
    tasks: Mapping[int, Task],
    execution_id: str,
    batch_size: int,
    deadline: float | None,
    tool_state: dict[str, Any] | None,
) -> TaskDispatch:
    """The `Send` payload for one chunk of a batch: its tasks and their finished inputs."""
    dispatch = TaskDispatch(
        tasks=chunk,
        execution_id=execution_id,
        batch_size=batch_size,
        deadline=deadline,
        dependency_results={
            d: tasks[d]["result"]
            for task in chunk
            for d in task["dependencies"]
            if tasks[d]["status"] == "done"
        },
    )
    if tool_state is not None:
        dispatch["state"] = tool_state
    return dispatch


def make_scheduler(
    registry: BatchRegistry, needs_approval: Collection[str] = frozenset(), *, with_state: bool = False
) -> Callable[[LLMCompilerState, RunnableConfig], Command[Any]]:
    """Build the scheduler node.

    Every pending task is sent in one batch, in id order, with the results of its
    finished dependencies; a task whose dependency failed is marked skipped instead.
    Tasks of a batch wait for each other inside the batch (see
    :mod:`llmcompiler_graph.execution`), so each starts as soon as its own inputs are
    ready. With eager dispatch the planner has already started the tasks in its own
    batch, and the task nodes only collect their outcomes. Calls of tools in
    `needs_approval` (and tasks using their results) are held back, and one request for
    all of them goes to the approval node in the same step. When nothing is pending,
    control passes to the joiner. `with_state` hands the graph state to the task nodes,
    for tools that inject it.
    """

    def scheduler(state: LLMCompilerState, config: RunnableConfig) -> Command[Any]:
        tasks = state.get("tasks", {})
        pending = [tasks[idx] for idx in sorted(tasks) if tasks[idx]["status"] == "pending"]
        execution_id = state.get("execution_id")
        deadline = state.get("deadline")
        eager = registry.unclaimed(execution_id)
        if eager is None:
            registry.discard(execution_id)
        if pending and deadline is not None and time.time() >= deadline:
            if eager is not None:
                registry.discard(execution_id)
            late = {
                t["idx"]: finished(t, status="error", error=DEADLINE_ERROR, finished_at=time.time())
                for t in pending
            }
            return Command(goto=JOINER_NODE, update={"tasks": late, "execution_id": None})

        tool_state = dict(state) if with_state else None
        approvals = state.get("approvals", {})
        held = held_for_approval(pending, needs_approval, approvals)
        updates: dict[int, Task] = {}
        runnable: list[Task] = []
        latest: dict[int, Task] = dict(tasks)
        for task in pending:
            if task["idx"] in held:
                continue
            if eager is not None and eager.job(task["idx"]) is not None:
                runnable.append(task)  # already running; its task node collects the outcome
                continue
            failed = next(
                (latest[d] for d in task["dependencies"] if latest[d]["status"] in ("error", "skipped")),
                None,
            )
            if failed is not None:
                updates[task["idx"]] = latest[task["idx"]] = skipped(task, failed)
            else:
                runnable.append(task)

        sends: list[Send] = []
        batch_id: str | None = None
        if runnable:
            chunks = _split(runnable, len(runnable) if has_checkpointer(config) else MAX_SENDS_PER_BATCH)
            if execution_id is not None and registry.claim(execution_id, len(chunks)) is not None:
                batch_id = execution_id
            else:
                batch_id = uuid.uuid4().hex
                remember_finished_calls(registry.open(batch_id, len(chunks)), tasks)
            dispatched_to: str = batch_id
            sends = [
                Send(
                    EXECUTE_TASK_NODE,
                    _dispatch(chunk, tasks, dispatched_to, len(chunks), deadline, tool_state),
                )
                for chunk in chunks
            ]
        elif eager is not None:
            registry.discard(execution_id)
        to_approve = [t for t in pending if t["idx"] in held and t["tool"] in needs_approval]
        to_approve = [t for t in to_approve if t["idx"] not in approvals]
        if to_approve:
            sends.append(Send(APPROVE_NODE, ApprovalRequest(tasks=to_approve, known_ids=sorted(tasks))))
        if not sends:
            return Command(goto=JOINER_NODE, update={"tasks": updates, "execution_id": None})
        return Command(goto=sends, update={"tasks": updates, "execution_id": batch_id})

    return scheduler
