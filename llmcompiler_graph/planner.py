"""The planner node: streams the model's plan and turns each completed line into a task."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.tools import BaseTool
from langgraph.types import Overwrite

from llmcompiler_graph.durable import PlanStreamRecord, run_plan_stream, run_tool, same_call
from llmcompiler_graph.events import emit
from llmcompiler_graph.execution import Batch, BatchRegistry, in_sync_run
from llmcompiler_graph.executor import (
    EXECUTE_TASK_NODE,
    TaskRunner,
    finished,
    remember_finished_calls,
    skipped,
)
from llmcompiler_graph.parser import (
    ParsedCall,
    PlanEnd,
    PlanItem,
    PlanLineError,
    StreamingPlanParser,
)
from llmcompiler_graph.prompts import build_replan_prompt
from llmcompiler_graph.state import LLMCompilerState, Task
from llmcompiler_graph.toolset import bind_arguments

__all__ = ["PlanBuilder", "current_question", "has_checkpointer", "make_planner", "message_text"]


def message_text(message: BaseMessage) -> str:
    """The text of a message or chunk, whatever shape its content has."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def current_question(messages: Sequence[AnyMessage]) -> tuple[int, AnyMessage | None]:
    """Position and message of the latest human message (the question being answered)."""
    for position in range(len(messages) - 1, -1, -1):
        if messages[position].type == "human":
            return position, messages[position]
    return len(messages), None


@dataclass
class PlanBuilder:
    """Validates parsed plan items against the tools and earlier tasks, producing tasks.

    Pure bookkeeping: no I/O. Each :meth:`add` returns the task it created (or `None`),
    so a caller can publish tasks while the plan is still streaming.
    """

    tools: Mapping[str, BaseTool]
    earlier_tasks: Mapping[int, Task]
    plan_round: int
    max_tasks: int | None = None
    tasks: dict[int, Task] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    joined: bool = False

    @property
    def full(self) -> bool:
        """Whether the plan reached `max_tasks` (later actions are dropped)."""
        return self.max_tasks is not None and len(self.tasks) >= self.max_tasks

    def add(self, item: PlanItem) -> Task | None:
        """Turn one plan item into a task, or record why it could not become one."""
        if isinstance(item, PlanEnd):
            return None
        if self.full and isinstance(item, PlanLineError | ParsedCall) and not getattr(item, "is_join", False):
            self.note_truncated()
            return None
        if isinstance(item, PlanLineError):
            if item.idx is None or self._taken(item.idx):
                self.issues.append(f"could not parse line {item.line[:200]!r}: {item.message}")
                return None
            return self._record(
                item.idx, "?", {}, [], None, f"could not parse {item.line[:200]!r}: {item.message}"
            )
        if not isinstance(item, ParsedCall):
            return None
        if self._taken(item.idx):
            where = "an earlier plan" if item.idx in self.earlier_tasks else "this plan"
            self.issues.append(
                f"action {item.idx} ({item.line[:120]}) reuses an id already used by {where}; it was ignored"
            )
            return None
        if item.is_join:
            self.joined = True
            return None
        bad_refs = [ref for ref in item.dependencies if not self._taken(ref)]
        if bad_refs:
            refs = ", ".join(f"${ref}" for ref in bad_refs)
            message = (
                f"refers to {refs}, which is not an earlier action (an action can only use "
                "results of actions listed before it, so cycles are impossible)"
            )
            return self._invalid(item, message)
        tool = self.tools.get(item.tool)
        if tool is None:
            message = f"unknown tool {item.tool!r}; available tools: {', '.join(self.tools)}"
            return self._invalid(item, message)
        try:
            args = bind_arguments(tool, item.args, item.kwargs)
        except ValueError as exc:
            return self._invalid(item, str(exc))
        return self._record(item.idx, item.tool, args, list(item.dependencies), item.thought, None)

    def _invalid(self, item: ParsedCall, message: str) -> Task:
        """A task that cannot run, keeping what the planner wrote for the joiner to read."""
        return self._record(
            item.idx, item.tool, _as_dict(item), list(item.dependencies), item.thought, message
        )

    def note_truncated(self) -> None:
        """Record (once) that actions beyond `max_tasks` were dropped."""
        message = f"the plan reached max_tasks_per_plan={self.max_tasks}; later actions were not run"
        if message not in self.issues:
            self.issues.append(message)

    def close(self) -> list[str]:
        """Record plan-level problems once the stream has ended; returns all issues."""
        if not self.tasks:
            self.issues.append("the plan contained no actions")
        elif not self.joined:
            self.issues.append("the plan did not end with join(); the actions it listed were run")
        return self.issues

    def _taken(self, idx: int) -> bool:
        return idx in self.tasks or idx in self.earlier_tasks

    def _record(
        self,
        idx: int,
        tool: str,
        args: dict[str, Any],
        dependencies: list[int],
        thought: str | None,
        error: str | None,
    ) -> Task:
        now = time.time()
        task: Task = {
            "idx": idx,
            "tool": tool,
            "args": args,
            "dependencies": dependencies,
            "thought": thought,
            "plan_round": self.plan_round,
            "status": "pending" if error is None else "error",
            "resolved_args": None,
            "result": None,
            "error": error,
            "started_at": None,
            "finished_at": now if error is not None else None,
        }
        self.tasks[idx] = task
        return task


def _as_dict(call: ParsedCall) -> dict[str, Any]:
    """Arguments of a call that could not be bound, kept for the joiner to read."""
    args: dict[str, Any] = {f"arg{i}": value for i, value in enumerate(call.args)}
    args.update(call.kwargs)
    return args


# LangGraph puts the run's checkpointer in the config under this key (read-only use here).
_CHECKPOINTER_KEY = "__pregel_checkpointer"


def has_checkpointer(config: RunnableConfig) -> bool:
    """Whether the current run saves checkpoints (so finished tool calls can be made durable)."""
    return config.get("configurable", {}).get(_CHECKPOINTER_KEY) is not None


PlannerNode = Callable[[LLMCompilerState, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]


def make_planner(
    model: LanguageModelLike,
    tools: Mapping[str, BaseTool],
    system_prompt: str,
    replan_template: str,
    *,
    runner: TaskRunner,
    registry: BatchRegistry,
    eager: bool | Literal["auto"],
    max_tasks_per_plan: int | None = None,
    max_plan_tokens: int | None = None,
    run_timeout: float | None = None,
    needs_approval: Collection[str] = frozenset(),
) -> PlannerNode:
    """Build the planner node: stream a plan, publish tasks as their lines complete.

    With eager dispatch, each task also starts running the moment its line is parsed (in
    a batch of this planner step that the scheduler then hands to the task nodes), so
    tool calls overlap with the rest of the plan still streaming. `"auto"` dispatches
    eagerly unless the run has a checkpointer. With a checkpointer, `True` and an async
    run, the plan stream and the tool calls run as LangGraph tasks of this step
    (:mod:`llmcompiler_graph.durable`), saved as they finish, and the planner returns
    their outcomes itself.
    """

    async def planner(state: LLMCompilerState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        _, question = current_question(messages)
        question_id = question.id if question is not None else None
        new_question = question_id is None or question_id != state.get("question_id")
        earlier: Mapping[int, Task] = {} if new_question else state.get("tasks", {})
        earlier_issues = [] if new_question else state.get("plan_issues", [])
        plan_round = 1 + max((t["plan_round"] for t in earlier.values()), default=-1)
        if new_question:
            deadline = time.time() + run_timeout if run_timeout is not None else None
        else:
            deadline = state.get("deadline")

        prompt: list[BaseMessage] = [SystemMessage(system_prompt), *messages]
        if not new_question:
            next_idx = 1 + max(earlier, default=0)
            feedback = state.get("replan_feedback") or ""
            prompt.append(
                HumanMessage(
                    build_replan_prompt(earlier, earlier_issues, feedback, next_idx, template=replan_template)
                )
            )

        builder = PlanBuilder(tools, earlier, plan_round, max_tasks=max_tasks_per_plan)
        parser = StreamingPlanParser()
        checkpointed = has_checkpointer(config)
        durable = checkpointed and eager is True and not in_sync_run()
        start_eagerly = eager is True or (eager == "auto" and not checkpointed)
        execution_id = uuid.uuid4().hex if start_eagerly else None
        batch = registry.open(execution_id) if execution_id is not None else None
        if batch is not None:
            remember_finished_calls(batch, earlier)
        planner_context = contextvars.copy_context()
        settling: list[asyncio.Future[Task]] = []

        held: set[int] = set()
        # Tools started here run inside the planner's step; label their callbacks (and so
        # any model call a tool makes, in stream_mode="messages") as the task node's.
        task_config = merge_configs(
            config, {"metadata": {"langgraph_node": EXECUTE_TASK_NODE, "llmcompiler_eager": True}}
        )

        async def settle(
            task: Task, saved: Awaitable[Task | None], run: Callable[[], Awaitable[Task | None]], batch: Batch
        ) -> Task:
            record = await saved
            if not same_call(record, task):  # saved for another plan's task at this position
                record = await run()
            final = record if record is not None else finished(task, status="error", error="not run")
            batch.publish(final)
            return final

        def dispatch_now(task: Task, batch: Batch) -> None:
            if task["status"] != "pending":
                batch.publish(task)
                return
            if task["tool"] in needs_approval or any(d in held for d in task["dependencies"]):
                held.add(task["idx"])  # waits for approval; the scheduler dispatches it later
                return
            failed = next(
                (earlier[d] for d in task["dependencies"] if d in earlier and earlier[d]["status"] != "done"),
                None,
            )
            if failed is not None:
                builder.tasks[task["idx"]] = record = skipped(task, failed)
                batch.publish(record)
                return
            known = {d: earlier[d]["result"] for d in task["dependencies"] if d in earlier}
            run = functools.partial(runner.run, task, known, batch, task_config, deadline)
            if durable:
                # Started in the planner's own context, whichever task parsed the line, so
                # LangGraph numbers the saved tool runs in plan order.
                saved = planner_context.run(run_tool, run)
                settling.append(asyncio.ensure_future(settle(task, saved, run, batch)))
            else:
                batch.start(task["idx"], run())

        def consume(items: list[PlanItem]) -> None:
            for item in items:
                task = builder.add(item)
                if task is None:
                    continue
                emit(
                    {
                        "type": "task_parsed",
                        "idx": task["idx"],
                        "tool": task["tool"],
                        "args": task["args"],
                        "dependencies": task["dependencies"],
                        "plan_round": plan_round,
                        "error": task["error"],
                        "time": time.time(),
                    }
                )
                if batch is not None:
                    dispatch_now(task, batch)

        chunks_read = 0

        def read(text: str) -> bool:
            """Parse one streamed chunk; whether to stop reading."""
            nonlocal chunks_read
            consume(parser.feed(text))
            chunks_read += 1
            if parser.done or builder.full:
                return True  # stop paying for tokens the plan will not use
            if max_plan_tokens is not None and chunks_read >= max_plan_tokens:
                builder.issues.append(
                    f"the plan was cut after max_plan_tokens={max_plan_tokens} streamed tokens"
                )
                return True
            return False

        async def stream_plan() -> PlanStreamRecord:
            chunks: list[str] = []
            stream = model.astream(prompt, config)
            try:
                async with asyncio.timeout(deadline - time.time() if deadline is not None else None):
                    async for chunk in stream:
                        text = chunk if isinstance(chunk, str) else message_text(chunk)
                        chunks.append(text)
                        if read(text):
                            break
            except TimeoutError:
                return PlanStreamRecord(chunks=chunks, timed_out=True)
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
            return PlanStreamRecord(chunks=chunks, timed_out=False)

        try:
            if durable:
                streamed = await run_plan_stream(stream_plan)
                if chunks_read == 0:  # the stream was saved before a crash: read it again
                    for text in streamed["chunks"]:
                        if read(text):
                            break
            else:
                streamed = await stream_plan()
            if streamed["timed_out"]:
                builder.issues.append("the run deadline (run_timeout) was reached while the plan streamed")
            if builder.full and not parser.done:
                builder.note_truncated()
            consume(parser.finish())
            for record in await asyncio.gather(*settling):
                builder.tasks[record["idx"]] = record
        except BaseException:
            for pending_settle in settling:
                pending_settle.cancel()
            if execution_id is not None:
                registry.discard(execution_id)
            raise
        if durable:
            registry.discard(execution_id)
            execution_id = None  # every task started here has finished; nothing to claim
        elif execution_id is not None:
            registry.expect_claim(execution_id)
        issues = builder.close()
        emit(
            {
                "type": "plan_finished",
                "plan_round": plan_round,
                "num_tasks": len(builder.tasks),
                "issues": list(issues),
                "time": time.time(),
            }
        )
        update: dict[str, Any] = {
            "plan_issues": [*earlier_issues, *(f"plan {plan_round + 1}: {i}" for i in issues)],
            "replan_feedback": None,
            "question_id": question_id,
            "execution_id": execution_id,
            "deadline": deadline,
        }
        if new_question:
            update["tasks"] = Overwrite(builder.tasks)
            update["replans"] = 0
            update["approvals"] = Overwrite({})
        else:
            update["tasks"] = builder.tasks
        return update

    return planner
