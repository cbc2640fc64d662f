"""The scheduler node: sends every task that may run, each to its own task node, at once.

Tasks the planner started itself (eager dispatch) are already recorded when it runs; it
sends the rest. A task whose input failed is skipped; calls of tools that need approval
(and tasks using their results) are held, and one request for all of them goes to the
approval node in the same step; past the run deadline, pending tasks fail. When nothing
is left to send, control passes to the joiner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command, Send

from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.execution.approval import ApprovalRequest
from llmcompiler_graph.execution.fetching_unit import Dispatches, Gate, Readiness, verdicts
from llmcompiler_graph.execution.records import finished, skipped
from llmcompiler_graph.graph.conversation import round_messages, round_tasks
from llmcompiler_graph.nodes import APPROVE_NODE, EXECUTE_TASK_NODE, JOINER_NODE
from llmcompiler_graph.state import LLMCompilerState, Task, TaskDispatch

__all__ = ["DEADLINE_ERROR", "MAX_SENDS_PER_BATCH", "make_scheduler", "split"]

DEADLINE_ERROR = "not run: the run deadline (run_timeout) was reached"

MAX_SENDS_PER_BATCH = 64
"""Most `Send`s per scheduler step in a run without a checkpointer. LangGraph's cost per
`Send` grows with the number sent in one step, so more tasks are split into this many
`Send`s of consecutive tasks; the tasks of one `Send` still run concurrently, each starting
when its own inputs are ready. With a checkpointer every task has its own `Send`, so each
finished tool call is saved as it finishes, not when its neighbours do."""


def split(tasks: list[Task], parts: int) -> list[list[Task]]:
    """Split into at most `parts` runs of consecutive tasks of near-equal length.

    Example:
        >>> [len(part) for part in split([{"idx": i} for i in range(7)], 3)]
        [3, 2, 2]
    """
    if len(tasks) <= parts:
        return [[task] for task in tasks]
    size, extra = divmod(len(tasks), parts)
    chunks, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        chunks.append(tasks[start:end])
        start = end
    return chunks


def _sends(
    runnable: list[Task],
    tasks: Mapping[int, Task],
    key: str,
    parts: int,
    state: LLMCompilerState,
    with_state: bool,
) -> list[Send]:
    """One `Send` per chunk of `runnable`, each with its tasks' finished inputs."""
    chunks = split(runnable, parts)
    sends = []
    for chunk in chunks:
        dispatch = TaskDispatch(
            tasks=chunk,
            dispatch_key=key,
            dispatch_size=len(chunks),
            deadline=state.get("deadline"),
            dependency_results={
                d: tasks[d]["result"]
                for task in chunk
                for d in task["dependencies"]
                if tasks[d]["status"] == "done"
            },
        )
        if with_state:
            dispatch["state"] = dict(state)
        sends.append(Send(EXECUTE_TASK_NODE, dispatch))
    return sends


def _decided(pending: list[Task], found: Mapping[int, Readiness]) -> dict[int, Task]:
    """Records of the pending tasks that end here: late ones, and those whose input failed."""
    records: dict[int, Task] = {}
    for task in pending:
        verdict = found[task["idx"]]
        if verdict.verdict == "late":
            records[task["idx"]] = finished(
                task, status="error", error=DEADLINE_ERROR, finished_at=time.time()
            )
        elif verdict.failed is not None:
            records[task["idx"]] = skipped(task, verdict.failed)
    return records


def make_scheduler(
    dispatches: Dispatches,
    gate: Gate,
    *,
    with_state: bool = False,
    record_rounds: bool = False,
    name: str | None = None,
) -> Callable[[LLMCompilerState, RunnableConfig], Command[Any]]:
    """Build the scheduler node.

    Args:
        dispatches: Where the task nodes of each step find their shared unit.
        gate: Which tools need approval (`approvals` and `deadline` come from the state).
        with_state: Hand the graph state to the task nodes, for tools that inject it.
        record_rounds: When a round is over, add its calls to `messages` (an `AIMessage`
            with `tool_calls`, then a `ToolMessage` each, named `name`) as it goes to the
            joiner: on `stream_mode="messages"` they come before the answer's tokens, as
            tool results come before the answer under create_agent.
        name: The `name` of the recorded `AIMessage`.
    """

    def scheduler(state: LLMCompilerState, config: RunnableConfig) -> Command[Any]:
        tasks = state.get("tasks", {})
        pending = [tasks[idx] for idx in sorted(tasks) if tasks[idx]["status"] == "pending"]
        approvals = state.get("approvals", {})
        run_gate = Gate(gate.needs_approval, approvals, state.get("deadline"))
        found = verdicts(pending, tasks, gate=run_gate, now=time.time())
        updates = _decided(pending, found)
        runnable = [
            t for t in pending if found[t["idx"]].verdict in ("run", "wait") and t["idx"] not in updates
        ]
        sends: list[Send] = []
        if runnable:
            run = RunContext.of(config)
            key = run.step_key
            parts = len(runnable) if run.checkpointed else MAX_SENDS_PER_BATCH
            sends = _sends(runnable, tasks, key, parts, state, with_state)
            dispatches.open(key, len(sends), tasks)
        to_approve = [
            t
            for t in pending
            if found[t["idx"]].verdict == "hold"
            and t["tool"] in gate.needs_approval
            and t["idx"] not in approvals
        ]
        if to_approve:
            sends.append(Send(APPROVE_NODE, ApprovalRequest(tasks=to_approve, known_ids=sorted(tasks))))
        if sends:
            return Command(goto=sends, update={"tasks": updates})
        update: dict[str, Any] = {"tasks": updates}
        if record_rounds:
            recorded = state["messages"]
            update["messages"] = round_messages(round_tasks({**tasks, **updates}), name, recorded)
        return Command(goto=JOINER_NODE, update=update)

    return scheduler
