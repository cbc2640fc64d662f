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
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.tools import BaseTool
from langgraph.constants import TAG_NOSTREAM
from langgraph.types import Overwrite

from llmcompiler_graph.answer_stream import PLAN_TAG
from llmcompiler_graph.conversation import prompt_history, total_usage
from llmcompiler_graph.durable import PlanStreamRecord, run_plan_stream, run_tool, same_call
from llmcompiler_graph.events import emit
from llmcompiler_graph.execution import Batch, BatchRegistry, in_sync_run
from llmcompiler_graph.executor import (
    EXECUTE_TASK_NODE,
    TaskRunner,
    finished,
    remember_finished_calls,
    skipped,
    task_updates,
)
from llmcompiler_graph.parser import (
    END_OF_PLAN,
    ParsedCall,
    PlanEnd,
    PlanItem,
    PlanLineError,
    StreamingPlanParser,
)
from llmcompiler_graph.plan_stream import (
    ReadOutcome,
    accepts_stop,
    chunk_usage,
    read_plan_stream,
    returned_nothing,
    stop_kwargs,
)
from llmcompiler_graph.prompts import build_replan_prompt
from llmcompiler_graph.references import find_references, renumber_references
from llmcompiler_graph.state import LLMCompilerState, Task
from llmcompiler_graph.tool_calls import tool_call_id
from llmcompiler_graph.toolset import bind_arguments, tool_parameters

__all__ = ["PlanBuilder", "current_question", "has_checkpointer", "make_planner", "message_text"]


def message_text(message: BaseMessage) -> str:
    """The text of a message or chunk, whatever shape its content has (its text blocks)."""
    return message.text


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

    A replan that numbers its actions from 1 again (the paper's own code does, and so do
    small models) is renumbered after the last id used: from the first action whose id
    an earlier plan used, every action of the plan gets the next free id, its references
    to its own earlier actions follow, and references to ids that exist only in earlier
    plans keep pointing there. :attr:`renumbered` maps written ids to the ids used, and a
    note says so.
    """

    tools: Mapping[str, BaseTool]
    earlier_tasks: Mapping[int, Task]
    plan_round: int
    max_tasks: int | None = None
    tasks: dict[int, Task] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    renumbered: dict[int, int] = field(default_factory=dict)
    joined: bool = False
    question_id: str | None = None

    @property
    def full(self) -> bool:
        """Whether the plan reached `max_tasks` (later actions are dropped)."""
        return self.max_tasks is not None and len(self.tasks) >= self.max_tasks

    def add(self, item: PlanItem) -> Task | None:
        """Turn one plan item into a task, or record why it could not become one."""
        if isinstance(item, PlanEnd) or not isinstance(item, PlanLineError | ParsedCall):
            return None
        if isinstance(item, ParsedCall) and item.is_join:
            self.joined = True
            return None
        if self.full:
            self.note_truncated()
            return None
        idx = self._assign_id(item.idx, item.line) if item.idx is not None else None
        if isinstance(item, PlanLineError):
            if idx is None:
                self.issues.append(f"could not parse line {item.line[:200]!r}: {item.message}")
                return None
            return self._record(
                idx, "?", {}, [], None, f"could not parse {item.line[:200]!r}: {item.message}"
            )
        if idx is None:
            return None
        self.notes.extend(f"action {idx}: {note}" for note in item.notes)
        return self._task_for(idx, item)

    def _task_for(self, idx: int, item: ParsedCall) -> Task:
        """The task for a call at id `idx`: bound to its tool, or an error the joiner reads."""
        own_earlier = {old: new for old, new in self.renumbered.items() if new != idx}
        args = renumber_references(item.args, own_earlier)
        kwargs = renumber_references(item.kwargs, own_earlier)
        dependencies = sorted(ref for ref in find_references([args, kwargs]) if self._taken(ref))
        literal = sorted(find_references([args, kwargs]) - set(dependencies))
        if literal:
            refs = ", ".join(f"${ref}" for ref in literal)
            self.notes.append(
                f"action {idx}: {refs} names no earlier action, so it was kept as text "
                "(write $$N for a literal $N)"
            )
        tool = self.tools.get(item.tool)
        if tool is None:
            message = f"unknown tool {item.tool!r}; available tools: {', '.join(self.tools)}"
            return self._invalid(idx, item, args, kwargs, dependencies, message)
        if item.unquoted and not kwargs and len(tool_parameters(tool)) == 1:
            args = (renumber_references(item.arguments.strip(), own_earlier),)
        try:
            bound = bind_arguments(tool, args, kwargs)
        except ValueError as exc:
            message = f"{exc}; {item.notes[0]}" if item.unquoted else str(exc)
            return self._invalid(idx, item, args, kwargs, dependencies, message)
        return self._record(idx, item.tool, bound, dependencies, item.thought, None)

    def _assign_id(self, written: int, line: str) -> int | None:
        """The id an action gets: as written, or the next free one in a renumbered replan."""
        if written in self.renumbered:
            self.issues.append(f"action {written} ({line[:120]}) repeats an id of this plan; it was ignored")
            return None
        if not self.renumbered and written not in self.earlier_tasks:
            if written in self.tasks:
                self.issues.append(
                    f"action {written} ({line[:120]}) reuses an id already used by this plan; it was ignored"
                )
                return None
            return written
        new = 1 + max([*self.earlier_tasks, *self.tasks], default=0)
        self.renumbered[written] = new
        self.notes.append(f"action {written} was renumbered {new}: earlier plans already used id {written}")
        return new

    def _invalid(
        self,
        idx: int,
        item: ParsedCall,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        dependencies: list[int],
        message: str,
    ) -> Task:
        """A task that cannot run, keeping what the planner wrote for the joiner to read."""
        kept: dict[str, Any] = {f"arg{i}": value for i, value in enumerate(args)}
        kept.update(kwargs)
        return self._record(idx, item.tool, kept, dependencies, item.thought, message)

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
            "tool_call_id": tool_call_id(self.question_id, idx),
        }
        self.tasks[idx] = task
        return task


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
    stream_protocol: bool = False,
) -> PlannerNode:
    """Build the planner node: stream a plan, publish tasks as their lines complete.

    With eager dispatch, each task also starts running the moment its line is parsed (in
    a batch of this planner step that the scheduler then hands to the task nodes), so
    tool calls overlap with the rest of the plan still streaming. `"auto"` dispatches
    eagerly unless the run has a checkpointer. With a checkpointer, `True` and an async
    run, the plan stream and the tool calls run as LangGraph tasks of this step
    (:mod:`llmcompiler_graph.durable`), saved as they finish, and the planner returns
    their outcomes itself. The plan's tokens stream on `stream_mode="messages"` (tagged
    `llmcompiler:plan`) only with `stream_protocol=True`.
    """
    tags = [PLAN_TAG] if stream_protocol else [PLAN_TAG, TAG_NOSTREAM]
    model_config: RunnableConfig = {"tags": tags, "metadata": {"llmcompiler_part": "plan"}}
    # The plan's end marker as a stop sequence, so providers stop generating there; removed
    # for this graph if the provider refuses `stop`.
    stop_sequences: dict[str, list[str]] = {"stop": [END_OF_PLAN]} if accepts_stop(model) else {}

    async def planner(state: LLMCompilerState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        _, question = current_question(messages)
        question_id = question.id if question is not None else None
        new_question = question_id is None or question_id != state.get("question_id")
        earlier: Mapping[int, Task] = {} if new_question else state.get("tasks", {})
        earlier_issues = [] if new_question else state.get("plan_issues", [])
        earlier_notes = [] if new_question else state.get("plan_notes", [])
        plan_round = 1 + max((t["plan_round"] for t in earlier.values()), default=-1)
        if new_question:
            deadline = time.time() + run_timeout if run_timeout is not None else None
        else:
            deadline = state.get("deadline")

        position, _ = current_question(messages)
        prompt: list[BaseMessage] = [SystemMessage(system_prompt), *prompt_history(messages[: position + 1])]
        if not new_question:
            next_idx = 1 + max(earlier, default=0)
            feedback = state.get("replan_feedback") or ""
            prompt.append(
                HumanMessage(
                    build_replan_prompt(earlier, earlier_issues, feedback, next_idx, template=replan_template)
                )
            )

        builder = PlanBuilder(
            tools, earlier, plan_round, max_tasks=max_tasks_per_plan, question_id=question_id
        )
        tool_state = dict(state) if runner.needs_state else None
        parser = StreamingPlanParser()
        checkpointed = has_checkpointer(config)
        durable = checkpointed and eager is True and not in_sync_run()
        # Tools started here are saved as they finish only on the durable path; a sync run
        # with a checkpointer starts them after the plan instead (each saved as it finishes).
        start_eagerly = (eager is True and (durable or not checkpointed)) or (
            eager == "auto" and not checkpointed
        )
        execution_id = uuid.uuid4().hex if start_eagerly else None
        batch = registry.open(execution_id) if execution_id is not None else None
        if batch is not None:
            remember_finished_calls(batch, earlier)
        planner_context = contextvars.copy_context()
        settling: list[asyncio.Future[Task]] = []
        tool_updates: dict[str, Any] = {}

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
            run = functools.partial(runner.run, task, known, batch, task_config, deadline, tool_state)
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
                        "planned_idx": getattr(item, "idx", None) or task["idx"],
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
        usage: UsageMetadata | None = None

        def read(text: str) -> ReadOutcome:
            """Parse one streamed chunk; whether to read on."""
            nonlocal chunks_read
            consume(parser.feed(text))
            chunks_read += 1
            if parser.done:
                return "ended"
            if builder.full:
                return "cut"  # stop paying for tokens the plan will not use
            if max_plan_tokens is not None and chunks_read >= max_plan_tokens:
                builder.issues.append(
                    f"the plan was cut after max_plan_tokens={max_plan_tokens} streamed tokens"
                )
                return "cut"
            return "more"

        async def stream_plan() -> PlanStreamRecord:
            chunks: list[str] = []
            stop = stop_sequences.get("stop")

            def on_text(text: str) -> ReadOutcome:
                chunks.append(text)
                return read(text)

            def on_chunk(chunk: Any) -> None:
                nonlocal usage
                usage = total_usage(usage, chunk_usage(chunk))

            async def stream() -> bool:
                reply = model.astream(prompt, merge_configs(config, model_config), **stop_kwargs(stop))
                return await read_plan_stream(reply, on_text, on_chunk)

            try:
                async with asyncio.timeout(deadline - time.time() if deadline is not None else None):
                    try:
                        await stream()
                    except Exception as exc:
                        if not chunks and returned_nothing(exc):
                            builder.issues.append("the model returned no text")
                            return PlanStreamRecord(chunks=chunks, timed_out=False)
                        if chunks or stop is None or "stop" not in str(exc).lower():
                            raise
                        # The provider refused `stop` (some reasoning models do): plan without it.
                        stop_sequences.pop("stop", None)
                        stop = None
                        await stream()
            except TimeoutError:
                return PlanStreamRecord(chunks=chunks, timed_out=True)
            return PlanStreamRecord(chunks=chunks, timed_out=False)

        try:
            if durable:
                streamed = await run_plan_stream(stream_plan)
                if chunks_read == 0:  # the stream was saved before a crash: read it again
                    for text in streamed["chunks"]:
                        if read(text) != "more":
                            break
            else:
                streamed = await stream_plan()
            if streamed["timed_out"]:
                builder.issues.append("the run deadline (run_timeout) was reached while the plan streamed")
            if builder.full and not parser.done:
                builder.note_truncated()
            consume(parser.finish())
            tool_updates = task_updates(await asyncio.gather(*settling))
            builder.tasks.update(tool_updates.pop("tasks", {}))
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
                "notes": list(builder.notes),
                "renumbered": dict(builder.renumbered),
                "time": time.time(),
            }
        )
        update: dict[str, Any] = {
            **tool_updates,
            "plan_issues": [*earlier_issues, *(f"plan {plan_round + 1}: {i}" for i in issues)],
            "plan_notes": [*earlier_notes, *(f"plan {plan_round + 1}: {n}" for n in builder.notes)],
            "replan_feedback": None,
            "question_id": question_id,
            "execution_id": execution_id,
            "deadline": deadline,
            "usage": usage if new_question else total_usage(state.get("usage"), usage),
        }
        if new_question:
            update["tasks"] = Overwrite(builder.tasks)
            update["replans"] = 0
            update["approvals"] = Overwrite({})
        else:
            update["tasks"] = builder.tasks
        return update

    return planner
