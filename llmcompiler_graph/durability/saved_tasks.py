"""Saved tasks of the planner step: the plan stream and eager tool calls, saved as they finish.

With a checkpointer, the planner runs the model stream and every eagerly started tool call
as LangGraph tasks (`langgraph.func.task`) of its own step. LangGraph saves a task's
result the moment it returns, even while the planner is still running, and hands the saved
result back when the step is re-run after a crash. So a resumed run replays the plan
stream it had already received and gets back every tool result that had come in, instead
of calling the model and the tools again.

Tasks are told apart by the order in which the planner starts them, so a re-run must start
them in the same order: the planner feeds the recorded stream through the same parser, which
starts the same tasks in the same order. A saved tool result is used only if it belongs to
the same call (same id, tool and planned arguments); otherwise the tool runs again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from langgraph.func import task

from llmcompiler_graph.nodes import PLAN_STREAM_TASK
from llmcompiler_graph.state import Task

__all__ = [
    "PLAN_STREAM_TASK",
    "PlanStreamRecord",
    "run_plan_stream",
    "run_tool",
    "same_call",
]


class PlanStreamRecord(TypedDict):
    """What the model streamed for one plan, as the planner consumed it."""

    chunks: list[str]
    """The text of every chunk the planner read, in order (not those after it stopped)."""
    timed_out: bool
    """Whether the run deadline cut the stream."""


async def plan_stream(stream: Callable[[], Awaitable[PlanStreamRecord]]) -> PlanStreamRecord:
    """The body of the saved plan-stream task: stream, parse and dispatch, return the record."""
    return await stream()


async def execute_task(run: Callable[[], Awaitable[Task | None]]) -> Task | None:
    """The body of a saved tool-run task: wait for the task's inputs, call the tool, return the record."""
    return await run()


# LangGraph names a task after its function: these names are what Studio shows.
_plan_stream = task(plan_stream)
_tool_run = task(execute_task)


async def run_plan_stream(stream: Callable[[], Awaitable[PlanStreamRecord]]) -> PlanStreamRecord:
    """Run `stream` as a saved task of the current node; a re-run gets the saved record back."""
    result: PlanStreamRecord = await _plan_stream(stream)
    return result


def run_tool(run: Callable[[], Awaitable[Task | None]]) -> Awaitable[Task | None]:
    """Start `run` as a saved task of the current node; a re-run gets the saved record back."""
    future: Awaitable[Task | None] = _tool_run(run)
    return future


def same_call(saved: Any, task: Task) -> bool:
    """Whether a saved record is the outcome of `task` (and not of another plan's task)."""
    return (
        isinstance(saved, dict)
        and saved.get("idx") == task["idx"]
        and saved.get("tool") == task["tool"]
        and saved.get("args") == task["args"]
        and saved.get("plan_round") == task["plan_round"]
    )
