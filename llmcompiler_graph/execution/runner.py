"""The task runner: calls one task's tool, bounded by its timeouts, and records the outcome.

It holds the graph's configuration (tools, `ToolNode`, timeouts, size limits) and what
must outlive a round: calls given up at their timeout that may still be running (an
identical call joins them instead of starting the side effect again) and the side-effect
calls already made (each runs at most once, even if two resumes of one approval race).
Which task runs when is decided by the :class:`~llmcompiler_graph.execution.fetching_unit.TaskFetchingUnit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt import ToolNode

from llmcompiler_graph.events import emit
from llmcompiler_graph.execution.records import finished, outcome_fields, reused, unfinished
from llmcompiler_graph.execution.threads import abandon_call, tool_call_scope, use_tool_threads
from llmcompiler_graph.execution.tool_call import (
    call_tool,
    describe_failure,
    injected_parameters,
    make_tool_node,
)
from llmcompiler_graph.plan.references import substitute_references, to_text
from llmcompiler_graph.plan.tool_schemas import coerce_arguments
from llmcompiler_graph.state import Task, tool_call_id

__all__ = [
    "DEDUPLICATE_METADATA_KEY",
    "InFlightCalls",
    "PreparedCall",
    "TaskRunner",
    "call_key",
    "deduplicates",
    "runs_in_thread",
    "within",
]

T = TypeVar("T")

DEDUPLICATE_METADATA_KEY = "llmcompiler_deduplicate"
"""Set `tool.metadata[DEDUPLICATE_METADATA_KEY] = False` to run every identical call of a tool."""


def deduplicates(tool: BaseTool) -> bool:
    """Whether identical calls of `tool` within one question run once (the default)."""
    return bool((tool.metadata or {}).get(DEDUPLICATE_METADATA_KEY, True))


def call_key(tool_name: str, args: Mapping[str, Any]) -> str | None:
    """A key equal for identical calls (same tool, same resolved arguments); `None` if unhashable.

    Example:
        >>> call_key("search", {"q": "x"}) == call_key("search", {"q": "x"}) != call_key("search", {"q": "y"})
        True
    """
    try:
        return json.dumps([tool_name, args], sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


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


@dataclass(frozen=True)
class PreparedCall:
    """One tool call about to run: the task, its tool, resolved arguments and run context."""

    task: Task
    tool: BaseTool
    args: dict[str, Any]
    config: RunnableConfig
    deadline: float | None
    state: Any
    deduplicated: bool

    @functools.cached_property
    def key(self) -> str | None:
        """Equal for identical calls (same tool, same resolved arguments); `None` if the tool opts out."""
        return call_key(self.tool.name, self.args) if self.deduplicated else None

    @property
    def call_id(self) -> str:
        """The tool call's id (on its `ToolMessage`)."""
        return self.task.get("tool_call_id") or tool_call_id(None, self.task["idx"])


class TaskRunner:
    """Calls tools for tasks: arguments resolved and checked, timeouts kept, outcome recorded.

    Holds configuration and the calls that outlive one round (see the module docstring);
    no run state.
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
        wrapped: bool = False,
    ) -> None:
        self.tools = tools
        self.task_timeout = task_timeout
        self.max_result_chars = max_result_chars
        self.max_argument_chars = max_argument_chars
        self.in_flight = InFlightCalls()
        #: Tools whose calls have side effects (approved by a human): each task runs at most once.
        self.side_effect_tools: frozenset[str] = frozenset(side_effect_tools)
        self._side_effects: dict[str, asyncio.Future[Task]] = {}
        self._attempts = itertools.count()
        self.tool_node = tool_node if tool_node is not None else make_tool_node(list(tools.values()))
        #: Whether some tool injects graph state, so runs must hand it over.
        self.needs_state = any(injected_parameters(t) for t in tools.values())
        #: Whether anything reads the state `ToolNode` gives a call (`wrapped`: tool middleware
        #: does); when nothing does, it is not read for every call (a copy of the whole state).
        self.reads_state = self.needs_state or wrapped

    def _shares(self, tool: str) -> bool:
        """Whether identical calls of `tool` in one question share one outcome.

        Side-effect calls never do (each approved task runs, once), nor do tools that opt out.
        """
        found = self.tools.get(tool)
        return found is not None and tool not in self.side_effect_tools and deduplicates(found)

    def shared_key(self, call: PreparedCall) -> str | None:
        """The key under which identical calls of one question share one outcome; `None` if never."""
        return call.key if self._shares(call.task["tool"]) else None

    def key_for(self, tool: str, args: Mapping[str, Any]) -> str | None:
        """:meth:`shared_key` of a call of `tool` with resolved `args`."""
        return call_key(tool, args) if self._shares(tool) else None

    def prepare(
        self,
        task: Task,
        results: Mapping[int, Any],
        config: RunnableConfig,
        deadline: float | None = None,
        state: Any = None,
    ) -> PreparedCall:
        """The call for `task`, its references replaced by its inputs' `results`."""
        tool = self.tools[task["tool"]]
        args = coerce_arguments(tool, task["args"], substitute_references(task["args"], results))
        return PreparedCall(task, tool, args, config, deadline, state, deduplicates(tool))

    def refusal(self, call: PreparedCall) -> str | None:
        """Why the call must not be made (arguments too large after substitution), or `None`."""
        if self.max_argument_chars is None:
            return None
        size = len(to_text(call.args))
        if size <= self.max_argument_chars:
            return None
        return (
            f"its arguments are {size} characters after substituting references, over "
            f"max_argument_chars={self.max_argument_chars}; the tool was not called"
        )

    async def call(self, call: PreparedCall, limit: asyncio.Semaphore | None = None) -> Task:
        """Make the call (a side-effect call at most once per task) and return the task's record."""
        if call.task["tool"] not in self.side_effect_tools:
            return await self._call_tool(call, limit)
        earlier = self._side_effects.get(call.call_id)
        if earlier is not None:  # two resumes of one approval raced: the second gets the first's outcome
            return reused(call.task, call.args, await asyncio.shield(earlier))
        claim: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        self._side_effects[call.call_id] = claim
        while len(self._side_effects) > 10_000:
            self._side_effects.pop(next(iter(self._side_effects)))
        outcome: Task | None = None
        try:
            outcome = await self._call_tool(call, limit)
            return outcome
        finally:
            claim.set_result(outcome if outcome is not None else unfinished(call.task))

    def _start(self, call: PreparedCall, in_thread: bool) -> tuple[asyncio.Future[Any], str | None]:
        """Start the call; a sync tool's thread job is filed under a scope it can be abandoned by."""
        loop = asyncio.get_running_loop()
        state = call.state if call.state is not None or self.reads_state else {}
        outcome = call_tool(self.tool_node, call.tool.name, call.args, call.call_id, call.config, state)
        if not in_thread:
            return loop.create_task(outcome), None
        use_tool_threads(loop)
        scope = f"{call.call_id}#{next(self._attempts)}"
        return loop.create_task(outcome, context=tool_call_scope(scope)), scope

    def _timeout(self, deadline: float | None, now: float) -> tuple[float | None, str]:
        """How long the call may take, and what to say if it does not end in time."""
        timeout = self.task_timeout
        reason = f"did not return within {timeout:g} s" if timeout is not None else ""
        if deadline is not None and (timeout is None or deadline - now < timeout):
            return max(0.0, deadline - now), "was stopped at the run deadline (run_timeout)"
        return timeout, reason

    async def _call_tool(self, call: PreparedCall, limit: asyncio.Semaphore | None) -> Task:
        async with limit if limit is not None else contextlib.nullcontext():
            started = time.time()
            task = call.task
            emit(
                {
                    "type": "task_started",
                    "idx": task["idx"],
                    "tool": task["tool"],
                    "args": call.args,
                    "time": started,
                }
            )
            outcome = await self._outcome(call, started)
            return finished(
                task, resolved_args=call.args, started_at=started, finished_at=time.time(), **outcome
            )

    async def _outcome(self, call: PreparedCall, started: float) -> dict[str, Any]:
        """The record fields for the call's outcome: what it returned, or why it failed."""
        timeout, reason = self._timeout(call.deadline, started)
        name = call.tool.name
        key = f"{call.call_id.rsplit('_', 1)[0]}:{call.key}" if call.key is not None else None
        in_thread = runs_in_thread(call.tool)
        running = self.in_flight.take(key)
        if running is None:
            running, scope = self._start(call, in_thread)
        else:
            scope = None  # joined a call given up earlier: already abandoned
        try:
            return outcome_fields(await within(running, timeout, cancel=not in_thread), self.max_result_chars)
        except TimeoutError:
            self.in_flight.keep(key, running)
            if scope is not None:
                abandon_call(asyncio.get_running_loop(), scope)  # its thread must not hold up exit
            still = "; it may still be running, and an identical call will wait for it" if in_thread else ""
            return {"status": "error", "error": f"{name} {reason} and was abandoned{still}"}
        except (GraphBubbleUp, KeyboardInterrupt, SystemExit):  # a pause, or Python must stop
            raise
        except asyncio.CancelledError as exc:
            if _being_cancelled():  # the run itself is stopping
                raise
            return {"status": "error", "error": describe_failure(name, exc)}  # the tool's own
        except BaseException as exc:  # every other failure, also outside the tool, is an observation
            return {"status": "error", "error": describe_failure(name, exc)}
