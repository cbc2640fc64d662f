"""The task node (`execute_task`): runs the tasks one `Send` of the scheduler carries.

Each node finds the :class:`~llmcompiler_graph.execution.fetching_unit.TaskFetchingUnit` of the
scheduler step that sent it, so tasks sent together hand each other their results, and
reports when it is done so the unit is dropped after the last of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from langchain_core.runnables import RunnableConfig

from llmcompiler_graph.execution.fetching_unit import Dispatches
from llmcompiler_graph.execution.records import task_updates
from llmcompiler_graph.state import TaskDispatch

__all__ = ["TaskNode", "make_task_node"]

TaskNode = Callable[[TaskDispatch, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]


def make_task_node(dispatches: Dispatches) -> TaskNode:
    """Build the task node that the scheduler `Send`s tasks to.

    A task that must wait for a sibling that is not running in this process (a run
    resumed elsewhere) is left pending; the scheduler sends it again with the result.
    """

    async def execute_task(dispatch: TaskDispatch, config: RunnableConfig) -> dict[str, Any]:
        key = dispatch["dispatch_key"]
        unit = dispatches.attach(key, dispatch["dispatch_size"])
        known, deadline, state = dispatch["dependency_results"], dispatch["deadline"], dispatch.get("state")
        try:
            runs = [unit.run(task, known, config, deadline, state) for task in dispatch["tasks"]]
            records = [await runs[0]] if len(runs) == 1 else await asyncio.gather(*runs)
            return task_updates(record for record in records if record is not None)
        finally:
            dispatches.report(key)

    return execute_task
