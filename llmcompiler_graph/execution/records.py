"""Task records: the pure functions that make, copy and merge what a task did.

A :class:`~llmcompiler_graph.state.Task` is plain data. These helpers build the record of a
task's outcome (announcing it as a `task_finished` event), cut what a tool returned to what
may be stored, and turn finished records into the graph-state update that saves them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from llmcompiler_graph.events import emit
from llmcompiler_graph.execution.tool_call import ToolOutcome
from llmcompiler_graph.plan.references import to_text
from llmcompiler_graph.state import Task

__all__ = [
    "NOT_FINISHED",
    "checkpointable",
    "finished",
    "outcome_fields",
    "reused",
    "skip_reason",
    "skipped",
    "task_updates",
    "truncated",
    "unfinished",
]

NOT_FINISHED = "cancelled before it finished"
"""The error of a task whose run was cancelled (the run stopped) before its tool returned."""


def finished(task: Task, **changes: Any) -> Task:
    """A copy of `task` with `changes` applied, announced as a `task_finished` event."""
    record: Task = {**task, **changes}  # type: ignore[typeddict-item]
    started, ended = record["started_at"], record["finished_at"]
    emit(
        {
            "type": "task_finished",
            "idx": record["idx"],
            "tool": record["tool"],
            "status": record["status"],
            "result": record["result"],
            "error": record["error"],
            "duration": ended - started if started is not None and ended is not None else None,
            "time": time.time(),
        }
    )
    return record


def unfinished(task: Task) -> Task:
    """The record of a task whose run stopped before it ended (not announced: the run is stopping)."""
    return {**task, "status": "error", "error": NOT_FINISHED}


def skip_reason(failed_dependency: Task) -> str:
    """Why a task whose input `failed_dependency` did not succeed is not run.

    Example:
        >>> skip_reason({"idx": 2, "status": "error", "error": "timed out"})
        'not run because $2 did not succeed (timed out)'
    """
    reason = failed_dependency["error"] or failed_dependency["status"]
    return f"not run because ${failed_dependency['idx']} did not succeed ({reason})"


def skipped(task: Task, failed_dependency: Task) -> Task:
    """The record of a task that cannot run because one of its inputs failed."""
    return finished(task, status="skipped", error=skip_reason(failed_dependency), finished_at=time.time())


def reused(task: Task, args: dict[str, Any], record: Task) -> Task:
    """The record of a call answered by an identical one that already ran (`same_as`)."""
    now = time.time()
    return finished(
        task,
        status=record["status"],
        result=record["result"],
        error=record["error"],
        resolved_args=args,
        started_at=now,
        finished_at=now,
        same_as=record["idx"],
    )


def truncated(content: Any, limit: int | None) -> Any:
    r"""`content` cut to `limit` characters of text, saying so; unchanged when within it.

    Example:
        >>> truncated("abcdef", 3)
        'abc\n[truncated: kept 3 of 6 characters]'
    """
    if limit is None:
        return content
    text = content if isinstance(content, str) else to_text(content)
    if len(text) <= limit:
        return content
    return f"{text[:limit]}\n[truncated: kept {limit} of {len(text)} characters]"


_SERDE = JsonPlusSerializer()


def checkpointable(value: Any) -> Any:
    """`value` if LangGraph's checkpoint serializer can save it, else its text, saying so.

    A tool's artifact goes into the state; an object msgpack cannot save (an SDK's
    receipt) would make every checkpoint fail, and every resume call the tool again.

    Example:
        >>> checkpointable({"bytes": 12})
        {'bytes': 12}
        >>> checkpointable(object()).startswith("[not checkpointable, kept as text] <object")
        True
    """
    try:
        _SERDE.dumps_typed(value)
    except Exception:
        return f"[not checkpointable, kept as text] {value!r}"
    return value


def _result_value(outcome: ToolOutcome) -> Any:
    """What a task's `result` keeps: the tool's own value when it can be saved, else its message text."""
    if outcome.value is outcome.content:
        return outcome.content
    try:
        _SERDE.dumps_typed(outcome.value)
    except Exception:
        return outcome.content
    return outcome.value


def outcome_fields(outcome: ToolOutcome, max_result_chars: int | None = None) -> dict[str, Any]:
    """The fields of a task record for a tool call's outcome."""
    record: dict[str, Any] = {"status": outcome.status}
    if outcome.status == "done":
        record["result"] = truncated(_result_value(outcome), max_result_chars)
    else:
        record["error"] = outcome.content if isinstance(outcome.content, str) else to_text(outcome.content)
    if outcome.artifact is not None:
        record["artifact"] = checkpointable(outcome.artifact)
    if outcome.update:
        record["state_update"] = outcome.update
    if outcome.handoff is not None:
        record["handoff"] = outcome.handoff
    return record


def task_updates(records: Iterable[Task]) -> dict[str, Any]:
    """The state update for finished task records: the records, plus what tools asked for.

    A tool that returned a `Command` asked for state updates (see
    :attr:`~llmcompiler_graph.state.Task.state_update`); they are applied here, in task
    order, and the records keep only the outcome.

    Example:
        >>> record = {"idx": 1, "status": "done", "state_update": {"mood": "ok"}}
        >>> task_updates([record])
        {'mood': 'ok', 'tasks': {1: {'idx': 1, 'status': 'done'}}}
    """
    update: dict[str, Any] = {}
    done: dict[int, Task] = {}
    for record in sorted(records, key=lambda r: r["idx"]):
        changes = record.get("state_update")
        if changes:
            record = {k: v for k, v in record.items() if k != "state_update"}  # type: ignore[assignment]
            update.update(changes)
        done[record["idx"]] = record
    if done:
        update["tasks"] = done
    return update
