"""The task node: waits for one task's inputs, calls its tool, and records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from llmcompiler_graph.events import emit
from llmcompiler_graph.execution import Batch, BatchRegistry
from llmcompiler_graph.parser import substitute_references
from llmcompiler_graph.state import Task, TaskDispatch

__all__ = [
    "EXECUTE_TASK_NODE",
    "DEDUPLICATE_METADATA_KEY",
    "TaskRunner",
    "call_key",
    "deduplicates",
    "finished",
    "make_executor",
    "remember_finished_calls",
    "skipped",
]

EXECUTE_TASK_NODE = "execute_task"


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


def skipped(task: Task, failed_dependency: Task) -> Task:
    """The record of a task that cannot run because one of its inputs failed."""
    reason = failed_dependency["error"] or failed_dependency["status"]
    return finished(
        task,
        status="skipped",
        error=f"not run because ${failed_dependency['idx']} did not succeed ({reason})",
        finished_at=time.time(),
    )


def _describe_error(tool: BaseTool, error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in error.errors()
        )
        return f"invalid arguments for {tool.name}: {problems}"
    return f"{tool.name} raised {type(error).__name__}: {error}"


@dataclass(frozen=True)
class _Inputs:
    results: dict[int, Any] = field(default_factory=dict)
    failed_dependency: Task | None = None
    deferred: bool = False


class TaskRunner:
    """Runs one task: waits for its inputs, substitutes them, calls the tool, records the outcome.

    Used by the task node and, with eager dispatch, by the planner while it streams.
    Holds only configuration; all run state lives in the :class:`Batch` it is given.
    """

    def __init__(self, tools: Mapping[str, BaseTool], task_timeout: float | None) -> None:
        self.tools = tools
        self.task_timeout = task_timeout

    async def run(
        self,
        task: Task,
        known_results: Mapping[int, Any],
        batch: Batch,
        config: RunnableConfig,
        deadline: float | None = None,
    ) -> Task | None:
        """Run `task` within `batch`; return its final record, or `None` when it must be deferred.

        The record is published to the batch (also when the run is cancelled) so that
        tasks waiting on this one never wait forever.
        """
        record: Task | None = None
        inputs = _Inputs(deferred=True)
        try:
            inputs = await self._gather_inputs(task, known_results, batch)
            if inputs.deferred:
                return None
            if inputs.failed_dependency is not None:
                record = skipped(task, inputs.failed_dependency)
            else:
                args = substitute_references(task["args"], inputs.results)
                record = await self._call_once(task, self.tools[task["tool"]], args, batch, config, deadline)
            return record
        finally:
            if record is None and not inputs.deferred:
                record = {**task, "status": "error", "error": "cancelled before it finished"}
            if record is not None:
                batch.publish(record)

    async def _gather_inputs(self, task: Task, known: Mapping[int, Any], batch: Batch) -> _Inputs:
        results: dict[int, Any] = {}
        for dep in task["dependencies"]:
            if dep in known:
                results[dep] = known[dep]
                continue
            outcome = batch.outcome(dep)
            if not batch.authoritative and not outcome.done():
                return _Inputs(deferred=True)
            record = await outcome
            if record["status"] != "done":
                return _Inputs(failed_dependency=record)
            results[dep] = record["result"]
        return _Inputs(results=results)

    async def _call_once(
        self,
        task: Task,
        tool: BaseTool,
        args: dict[str, Any],
        batch: Batch,
        config: RunnableConfig,
        deadline: float | None,
    ) -> Task:
        """Call the tool, unless an identical call already ran (or is running) in this question."""
        key = call_key(tool.name, args) if deduplicates(tool) else None
        if key is None:
            return await self._call_tool(task, tool, args, batch, config, deadline)
        earlier = batch.earlier_call(key)
        if earlier is not None:
            record = await asyncio.shield(earlier) if isinstance(earlier, asyncio.Future) else earlier
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
        claim = batch.claim_call(key)
        outcome: Task | None = None
        try:
            outcome = await self._call_tool(task, tool, args, batch, config, deadline)
            batch.remember_call(key, outcome)
            return outcome
        finally:
            claim.set_result(outcome or {**task, "status": "error", "error": "cancelled before it finished"})

    async def _call_tool(
        self,
        task: Task,
        tool: BaseTool,
        args: dict[str, Any],
        batch: Batch,
        config: RunnableConfig,
        deadline: float | None,
    ) -> Task:
        limit = batch.semaphore()
        async with limit if limit is not None else contextlib.nullcontext():
            started = time.time()
            timeout = self.task_timeout
            reason = f"did not return within {timeout:g} s" if timeout is not None else ""
            if deadline is not None and (timeout is None or deadline - started < timeout):
                timeout, reason = (
                    max(0.0, deadline - started),
                    "was stopped at the run deadline (run_timeout)",
                )
            emit(
                {
                    "type": "task_started",
                    "idx": task["idx"],
                    "tool": task["tool"],
                    "args": args,
                    "time": started,
                }
            )
            outcome: dict[str, Any]
            try:
                result = await asyncio.wait_for(tool.ainvoke(args, config), timeout=timeout)
                outcome = {"status": "done", "result": result}
            except TimeoutError:
                outcome = {"status": "error", "error": f"{tool.name} {reason} and was abandoned"}
            except Exception as exc:  # every tool failure becomes an observation
                outcome = {"status": "error", "error": _describe_error(tool, exc)}
            return finished(task, resolved_args=args, started_at=started, finished_at=time.time(), **outcome)


DEDUPLICATE_METADATA_KEY = "llmcompiler_deduplicate"
"""Set `tool.metadata[DEDUPLICATE_METADATA_KEY] = False` to run every identical call of a tool."""


def deduplicates(tool: BaseTool) -> bool:
    """Whether identical calls of `tool` within one question run once (the default)."""
    return bool((tool.metadata or {}).get(DEDUPLICATE_METADATA_KEY, True))


def call_key(tool_name: str, args: Mapping[str, Any]) -> str | None:
    """A key equal for identical calls (same tool, same resolved arguments); `None` if unhashable."""
    try:
        return json.dumps([tool_name, args], sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def remember_finished_calls(batch: Batch, tasks: Mapping[int, Task]) -> None:
    """Let identical calls in `batch` reuse the outcomes of tasks that already succeeded."""
    for task in tasks.values():
        if task["status"] == "done" and task["resolved_args"] is not None:
            key = call_key(task["tool"], task["resolved_args"])
            if key is not None:
                batch.remember_call(key, task)


TaskNode = Callable[[TaskDispatch, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]


def make_executor(runner: TaskRunner, registry: BatchRegistry) -> TaskNode:
    """Build the task node that the scheduler `Send`s each task to.

    If the planner already started the task (eager dispatch), the node collects that
    run's outcome; otherwise it runs the task itself.
    """

    async def collect(
        task: Task, dispatch: TaskDispatch, batch: Batch, config: RunnableConfig
    ) -> Task | None:
        job = batch.job(task["idx"])
        if job is not None:
            return await job
        return await runner.run(task, dispatch["dependency_results"], batch, config, dispatch["deadline"])

    async def execute_task(dispatch: TaskDispatch, config: RunnableConfig) -> dict[str, Any]:
        batch = registry.attach(dispatch["execution_id"], dispatch["batch_size"])
        try:
            tasks = dispatch["tasks"]
            if len(tasks) == 1:
                records = [await collect(tasks[0], dispatch, batch, config)]
            else:
                records = await asyncio.gather(*(collect(task, dispatch, batch, config) for task in tasks))
            done = {record["idx"]: record for record in records if record is not None}
            return {"tasks": done} if done else {}
        finally:
            registry.report(dispatch["execution_id"])

    return execute_task
