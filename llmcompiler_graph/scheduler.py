"""The scheduler node (the paper's task fetching unit): sends every runnable task at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from langgraph.types import Command, Send

from llmcompiler_graph.execution import BatchRegistry
from llmcompiler_graph.executor import skipped
from llmcompiler_graph.state import LLMCompilerState, Task, TaskDispatch

__all__ = ["EXECUTE_TASK_NODE", "JOINER_NODE", "make_scheduler"]

EXECUTE_TASK_NODE = "execute_task"
JOINER_NODE = "joiner"


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
        started_eagerly = (
            bool(pending)
            and execution_id is not None
            and registry.claim(execution_id, len(pending)) is not None
        )
        updates: dict[int, Task] = {}
        if started_eagerly:
            # The planner already started every pending task; send them all to be collected.
            batch = pending
        else:
            if execution_id is not None:
                registry.discard(execution_id)
            batch = []
            latest: dict[int, Task] = dict(tasks)
            for task in pending:
                failed = next(
                    (latest[d] for d in task["dependencies"] if latest[d]["status"] in ("error", "skipped")),
                    None,
                )
                if failed is not None:
                    updates[task["idx"]] = latest[task["idx"]] = skipped(task, failed)
                else:
                    batch.append(task)
            if not batch:
                return Command(goto=JOINER_NODE, update={"tasks": updates, "execution_id": None})
            execution_id = uuid.uuid4().hex
            registry.open(execution_id, len(batch))
        assert execution_id is not None
        sends = [
            Send(
                EXECUTE_TASK_NODE,
                TaskDispatch(
                    task=task,
                    execution_id=execution_id,
                    batch_size=len(batch),
                    dependency_results={
                        d: tasks[d]["result"] for d in task["dependencies"] if tasks[d]["status"] == "done"
                    },
                ),
            )
            for task in batch
        ]
        return Command(goto=sends, update={"tasks": updates, "execution_id": execution_id})

    return scheduler
