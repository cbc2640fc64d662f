"""The task node: waits for one task's inputs, calls its tool, and records what happened."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt import ToolNode

from llmcompiler_graph.events import emit
from llmcompiler_graph.execution import Batch, BatchRegistry
from llmcompiler_graph.references import substitute_references, to_text
from llmcompiler_graph.state import Task, TaskDispatch
from llmcompiler_graph.tool_calls import (
    ToolOutcome,
    call_tool,
    describe_failure,
    injected_parameters,
    make_tool_node,
    tool_call_id,
)
from llmcompiler_graph.toolset import coerce_arguments

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
    "task_updates",
]

EXECUTE_TASK_NODE = "execute_task"

T = TypeVar("T")


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


def _being_cancelled() -> bool:
    """Whether the current asyncio task was asked to stop (not merely saw a CancelledError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def within(running: asyncio.Future[T], timeout: float | None, *, cancel: bool = True) -> T:
    """Await `running` for at most `timeout` seconds, even if it ignores cancellation.

    `asyncio.wait_for` waits for a cancelled call to actually stop; a tool that swallows
    `CancelledError` would hold the run past its timeout. Here, at the deadline, the call
    is cancelled (unless `cancel` is false: cancelling a sync tool's wait does not stop
    its thread, and would only lose its result) and `TimeoutError` is raised at once; the
    caller decides who keeps the call until it ends.
    """
    try:
        done, _ = await asyncio.wait({running}, timeout=timeout)
    except asyncio.CancelledError:
        running.cancel()
        raise
    if running in done:
        return running.result()
    if cancel:
        running.cancel()
    raise TimeoutError


def runs_in_thread(tool: BaseTool) -> bool:
    """Whether `tool` is synchronous, so LangChain runs it in a worker thread nothing can stop."""
    if "coroutine" in type(tool).model_fields:  # Tool, StructuredTool: sync unless given a coroutine
        return getattr(tool, "coroutine", None) is None
    return type(tool)._arun is BaseTool._arun


def _spare_thread_pool() -> None:
    """Give the event loop a fresh default thread pool; the abandoned call keeps its old worker.

    LangChain runs sync tools in the loop's default pool. A call abandoned at its timeout
    goes on holding a worker there; enough of them would leave no worker for any later
    sync tool of any run. New calls go to the fresh pool; the old one's threads end with
    their calls.
    """
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(thread_name_prefix="llmcompiler-tools")
    )


class InFlightCalls:
    """Tool calls given up at their timeout that may still be running, by call.

    A call that timed out is not known to have failed: an identical call of the same
    question waits for it (and gets its late result) instead of starting the side effect
    again. Owned by one :class:`TaskRunner`; holds at most `limit` calls, oldest dropped.
    """

    def __init__(self, limit: int = 1000) -> None:
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._unkeyed: set[asyncio.Future[Any]] = set()
        self._limit = limit

    def take(self, key: str | None) -> asyncio.Future[Any] | None:
        """The call still running (or finished unread) for `key`, if one is; it is the caller's now."""
        running = self._calls.pop(key, None) if key is not None else None
        return None if running is None or running.cancelled() else running

    def keep(self, key: str | None, running: asyncio.Future[Any]) -> None:
        """Hold on to a call given up at its timeout, so its result is not lost."""
        if running.done() and running.cancelled():
            return
        if key is None:  # nothing can join it; keep it referenced until it ends
            self._unkeyed.add(running)
            running.add_done_callback(self._unkeyed.discard)
            return
        self._calls[key] = running
        while len(self._calls) > self._limit:
            self._calls.pop(next(iter(self._calls)))


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


def _recorded(outcome: ToolOutcome, max_result_chars: int | None = None) -> dict[str, Any]:
    """The fields of a task record for a tool call's outcome."""
    record: dict[str, Any] = {"status": outcome.status}
    if outcome.status == "done":
        record["result"] = truncated(outcome.content, max_result_chars)
    else:
        record["error"] = outcome.content if isinstance(outcome.content, str) else to_text(outcome.content)
    if outcome.artifact is not None:
        record["artifact"] = checkpointable(outcome.artifact)
    if outcome.update:
        record["state_update"] = outcome.update
    return record


@dataclass(frozen=True)
class _Call:
    """One tool call about to run: the task, its tool, resolved arguments and run context."""

    task: Task
    tool: BaseTool
    args: dict[str, Any]
    config: RunnableConfig
    deadline: float | None
    state: Any

    @functools.cached_property
    def key(self) -> str | None:
        """Equal for identical calls (same tool, same resolved arguments); None if the tool opts out."""
        return call_key(self.tool.name, self.args) if deduplicates(self.tool) else None


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

    def __init__(
        self,
        tools: Mapping[str, BaseTool],
        task_timeout: float | None,
        tool_node: ToolNode | None = None,
        *,
        max_result_chars: int | None = None,
        max_argument_chars: int | None = None,
        side_effect_tools: Collection[str] = (),
    ) -> None:
        self.tools = tools
        self.task_timeout = task_timeout
        self.max_result_chars = max_result_chars
        self.max_argument_chars = max_argument_chars
        self.in_flight = InFlightCalls()
        #: Tools whose calls have side effects (approved by a human): each task runs at most once.
        self.side_effect_tools: frozenset[str] = frozenset(side_effect_tools)
        self._side_effects: dict[str, asyncio.Future[Task]] = {}
        self.tool_node = tool_node if tool_node is not None else make_tool_node(list(tools.values()))
        #: Whether some tool injects graph state, so runs must hand it over.
        self.needs_state = any(injected_parameters(t) for t in tools.values())

    async def run(
        self,
        task: Task,
        known_results: Mapping[int, Any],
        batch: Batch,
        config: RunnableConfig,
        deadline: float | None = None,
        state: Any = None,
    ) -> Task | None:
        """Run `task` within `batch`; return its final record, or `None` when it must be deferred.

        The record is published to the batch (also when the run is cancelled) so that
        tasks waiting on this one never wait forever. `state` is the graph state a tool's
        `InjectedState` / `ToolRuntime.state` sees (`None` when no tool injects it).
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
                tool = self.tools[task["tool"]]
                args = coerce_arguments(
                    tool, task["args"], substitute_references(task["args"], inputs.results)
                )
                too_large = self._oversized(args)
                if too_large is not None:
                    record = finished(task, status="error", error=too_large, finished_at=time.time())
                else:
                    record = await self._call_once(_Call(task, tool, args, config, deadline, state), batch)
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

    def _oversized(self, args: Mapping[str, Any]) -> str | None:
        """Why arguments are too large after substitution (`$1` a thousand times), or None."""
        if self.max_argument_chars is None:
            return None
        size = len(to_text(args))
        if size <= self.max_argument_chars:
            return None
        return (
            f"its arguments are {size} characters after substituting references, over "
            f"max_argument_chars={self.max_argument_chars}; the tool was not called"
        )

    async def _call_once(self, call: _Call, batch: Batch) -> Task:
        """Call the tool, unless an identical call already ran (or is running) in this question."""
        task = call.task
        call_id = task.get("tool_call_id")
        if task["tool"] in self.side_effect_tools and call_id:
            return await self._at_most_once(call_id, call, batch)
        key = call.key
        if key is None:
            return await self._call_tool(call, batch)
        earlier = batch.earlier_call(key)
        if earlier is not None:
            return _reused(
                call, await asyncio.shield(earlier) if isinstance(earlier, asyncio.Future) else earlier
            )
        claim = batch.claim_call(key)
        outcome: Task | None = None
        try:
            outcome = await self._call_tool(call, batch)
            batch.remember_call(key, outcome)
            return outcome
        finally:
            claim.set_result(outcome or {**task, "status": "error", "error": "cancelled before it finished"})

    async def _at_most_once(self, call_id: str, call: _Call, batch: Batch) -> Task:
        """Run a side-effect call once in this process, even if two resumes of one approval race.

        A second run of the same task (same question, same id) gets the first one's outcome.
        """
        earlier = self._side_effects.get(call_id)
        if earlier is not None:
            return _reused(call, await asyncio.shield(earlier))
        claim: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        self._side_effects[call_id] = claim
        while len(self._side_effects) > 10_000:
            self._side_effects.pop(next(iter(self._side_effects)))
        outcome: Task | None = None
        try:
            outcome = await self._call_tool(call, batch)
            return outcome
        finally:
            claim.set_result(
                outcome or {**call.task, "status": "error", "error": "cancelled before it finished"}
            )

    async def _call_tool(self, call: _Call, batch: Batch) -> Task:
        task, tool, args, deadline = call.task, call.tool, call.args, call.deadline
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
            call_id = task.get("tool_call_id") or tool_call_id(None, task["idx"])
            key = _flight_key(call_id, call.key)
            running = self.in_flight.take(key) or asyncio.ensure_future(
                call_tool(self.tool_node, tool.name, args, call_id, call.config, call.state)
            )
            in_thread = runs_in_thread(tool)
            try:
                outcome = _recorded(
                    await within(running, timeout, cancel=not in_thread), self.max_result_chars
                )
            except TimeoutError:
                self.in_flight.keep(key, running)
                if in_thread:
                    _spare_thread_pool()
                still = (
                    "; it may still be running, and an identical call will wait for it" if in_thread else ""
                )
                outcome = {"status": "error", "error": f"{tool.name} {reason} and was abandoned{still}"}
            except (GraphBubbleUp, KeyboardInterrupt, SystemExit):  # a pause, or Python must stop
                raise
            except asyncio.CancelledError as exc:
                if _being_cancelled():  # the run itself is stopping
                    raise
                outcome = {"status": "error", "error": describe_failure(tool.name, exc)}  # the tool's own
            except BaseException as exc:  # every other failure, also outside the tool, is an observation
                outcome = {"status": "error", "error": describe_failure(tool.name, exc)}
            return finished(task, resolved_args=args, started_at=started, finished_at=time.time(), **outcome)


def _flight_key(call_id: str, key: str | None) -> str | None:
    """Identical calls of one question share a key (None when the tool opts out or args are odd)."""
    return f"{call_id.rsplit('_', 1)[0]}:{key}" if key is not None else None


def _reused(call: _Call, record: Task) -> Task:
    """The record of a call answered by an identical one that already ran (`same_as`)."""
    now = time.time()
    return finished(
        call.task,
        status=record["status"],
        result=record["result"],
        error=record["error"],
        resolved_args=call.args,
        started_at=now,
        finished_at=now,
        same_as=record["idx"],
    )


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


def task_updates(records: Iterable[Task]) -> dict[str, Any]:
    """The state update for finished task records: the records, plus what tools asked for.

    A tool that returned a `Command` asked for state updates (see
    :attr:`~llmcompiler_graph.state.Task.state_update`); they are applied here, in task
    order, and the records keep only the outcome.
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
        return await runner.run(
            task, dispatch["dependency_results"], batch, config, dispatch["deadline"], dispatch.get("state")
        )

    async def execute_task(dispatch: TaskDispatch, config: RunnableConfig) -> dict[str, Any]:
        batch = registry.attach(dispatch["execution_id"], dispatch["batch_size"])
        try:
            tasks = dispatch["tasks"]
            if len(tasks) == 1:
                records = [await collect(tasks[0], dispatch, batch, config)]
            else:
                records = await asyncio.gather(*(collect(task, dispatch, batch, config) for task in tasks))
            return task_updates(record for record in records if record is not None)
        finally:
            registry.report(dispatch["execution_id"])

    return execute_task
