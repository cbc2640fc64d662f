"""The planner node: streams the model's plan and turns each completed line into a task.

With eager dispatch the planner also starts each task the moment its line is parsed, in
a :class:`~llmcompiler_graph.execution.fetching_unit.TaskFetchingUnit` of its own step, and owns
it until its record is in the planner's update: tool calls overlap with the rest of the
plan streaming, and nothing is handed from one step to another. With a checkpointer (in
an async run) the plan stream and each started call are saved tasks of the step
(:mod:`llmcompiler_graph.durability.saved_tasks`), so a resumed run repeats neither. Tasks the
planner does not start (held for approval, not eager) are left pending for the scheduler.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import LanguageModelLike
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.tools import BaseTool
from langgraph.constants import TAG_NOSTREAM
from langgraph.types import Overwrite

from llmcompiler_graph.durability.run_context import RunContext
from llmcompiler_graph.durability.saved_tasks import (
    PlanStreamRecord,
    run_plan_stream,
    run_tool,
    same_call,
)
from llmcompiler_graph.events import emit
from llmcompiler_graph.execution.fetching_unit import Gate, TaskFetchingUnit, readiness
from llmcompiler_graph.execution.records import skipped, task_updates, unfinished
from llmcompiler_graph.execution.runner import TaskRunner
from llmcompiler_graph.graph.answer_stream import PLAN_TAG
from llmcompiler_graph.graph.conversation import current_question, prompt_history, total_usage
from llmcompiler_graph.graph.model_call import ModelTurn, ModelWrapper, take_turn
from llmcompiler_graph.graph.sync_bridge import in_sync_run
from llmcompiler_graph.nodes import EXECUTE_TASK_NODE, ModelCall, model_call_metadata
from llmcompiler_graph.plan.builder import PlanBuilder
from llmcompiler_graph.plan.native import PlanFormat, ToolCallStream, add_chunk, as_message
from llmcompiler_graph.plan.parser import END_OF_PLAN, PlanItem, StreamingPlanParser
from llmcompiler_graph.plan.prompts import build_replan_prompt
from llmcompiler_graph.plan.stream import (
    ReadOutcome,
    accepts_stop,
    chunk_usage,
    read_plan_stream,
    returned_nothing,
    stop_kwargs,
)
from llmcompiler_graph.state import LLMCompilerState, Task

__all__ = ["PlannerSettings", "make_planner"]


PlannerNode = Callable[[LLMCompilerState, RunnableConfig], Coroutine[Any, Any, dict[str, Any]]]
StartMode = Literal["saved", "plain"]
"""How the planner starts tasks: as saved LangGraph tasks of its step, or as plain asyncio tasks."""


@dataclass
class PlannerSettings:
    """Everything the planner node is built from (see :func:`make_planner`)."""

    model: LanguageModelLike
    tools: Mapping[str, BaseTool]
    system_prompt: str
    replan_template: str
    runner: TaskRunner
    eager: bool | Literal["auto"]
    max_tasks_per_plan: int | None = None
    max_plan_tokens: int | None = None
    run_timeout: float | None = None
    needs_approval: Collection[str] = frozenset()
    max_concurrency: int | None = None
    stream_protocol: bool = False
    stop: list[str] | None = field(default=None)
    """The plan's end marker as a stop sequence; dropped for good if the provider refuses it."""
    plan_format: PlanFormat = "text"
    """`"text"`: the paper's numbered plan; `"tools"`: a model turn of native tool calls
    (`model` has the tools bound, see :mod:`llmcompiler_graph.plan.native`)."""
    base_model: LanguageModelLike | None = None
    """The model without tools bound: what `model_wrappers` get in their request."""
    model_wrappers: Sequence[ModelWrapper] = ()
    """`create_agent`'s `wrap_model_call` hooks, outermost first, around each native turn."""

    def __post_init__(self) -> None:
        if self.stop is None and self.plan_format == "text" and accepts_stop(self.model):
            self.stop = [END_OF_PLAN]

    def start_mode(self, config: RunnableConfig) -> StartMode | None:
        """How this run starts tasks while the plan streams; `None`: it does not (not eager).

        `"auto"` is eager without a checkpointer. With one, `True` saves each started call
        in an async run; a sync run starts tasks once the plan is complete instead, so the
        scheduler's task nodes save each as it finishes.
        """
        checkpointed = RunContext.of(config).checkpointed
        if self.eager is False or (self.eager == "auto" and checkpointed):
            return None
        if not checkpointed:
            return "plain"
        # A native turn is not saved as a plan stream: its tasks start once it is complete.
        return None if in_sync_run() or self.plan_format == "tools" else "saved"


@dataclass(frozen=True)
class _Question:
    """What the planner knows about the question it plans for."""

    id: str | None
    new: bool
    earlier: Mapping[int, Task]
    plan_round: int
    deadline: float | None

    @property
    def next_idx(self) -> int:
        """The first id a replan's actions take (after every earlier task's)."""
        return 1 + max(self.earlier, default=0)


def _question(state: LLMCompilerState, run_timeout: float | None) -> _Question:
    _, question = current_question(state["messages"])
    question_id = question.id if question is not None else None
    new = question_id is None or question_id != state.get("question_id")
    earlier: Mapping[int, Task] = {} if new else state.get("tasks", {})
    plan_round = 1 + max((t["plan_round"] for t in earlier.values()), default=-1)
    if new:
        deadline = time.time() + run_timeout if run_timeout is not None else None
    else:
        deadline = state.get("deadline")
    return _Question(question_id, new, earlier, plan_round, deadline)


def _prompt(state: LLMCompilerState, question: _Question, settings: PlannerSettings) -> list[BaseMessage]:
    """The system prompt, the conversation up to the question, and on a replan what ran so far."""
    messages = state["messages"]
    position, _ = current_question(messages)
    prompt: list[BaseMessage] = [
        SystemMessage(settings.system_prompt),
        *prompt_history(messages[: position + 1]),
    ]
    if not question.new:
        issues = state.get("plan_issues", [])
        feedback = state.get("replan_feedback") or ""
        replan = build_replan_prompt(
            question.earlier, issues, feedback, question.next_idx, template=settings.replan_template
        )
        prompt.append(HumanMessage(replan))
    return prompt


class _PlanRound:
    """One planner step: parses the streamed plan into tasks and starts each that may run now."""

    def __init__(
        self,
        settings: PlannerSettings,
        question: _Question,
        state: LLMCompilerState,
        config: RunnableConfig,
    ) -> None:
        self.settings = settings
        self.question = question
        self.builder = PlanBuilder(
            settings.tools,
            question.earlier,
            question.plan_round,
            max_tasks=settings.max_tasks_per_plan,
            question_id=question.id,
        )
        self.parser = StreamingPlanParser()
        self.calls = ToolCallStream(
            question.next_idx,
            known_ids={t["tool_call_id"]: i for i, t in question.earlier.items() if t.get("tool_call_id")},
        )
        #: The model's turn, in native mode: its tool calls are the plan; without any, the answer.
        self.turn: AIMessage | None = None
        #: Whether this step asked the model for the turn (not given it by the joiner).
        self.made_turn = False
        self.chunks_read = 0
        self.usage: UsageMetadata | None = None
        self.mode = settings.start_mode(config)
        self.unit = TaskFetchingUnit(
            settings.runner, question.earlier, max_concurrency=settings.max_concurrency
        )
        self._gate = Gate(settings.needs_approval, state.get("approvals", {}), question.deadline)
        self._held: set[int] = set()
        self._started: set[int] = set()
        self._state = dict(state) if settings.runner.needs_state else None
        self._context = contextvars.copy_context()
        self._runs: list[asyncio.Future[Task | None]] = []
        # Tools started here run inside the planner's step; label their callbacks (and so
        # any model call a tool makes, in stream_mode="messages") as the task node's.
        self._task_config = merge_configs(
            config, {"metadata": {"langgraph_node": EXECUTE_TASK_NODE, "llmcompiler_eager": True}}
        )

    def count_usage(self, chunk: Any) -> None:
        """Add a streamed chunk's token usage to the plan's."""
        self.usage = total_usage(self.usage, chunk_usage(chunk))

    def read(self, text: str) -> ReadOutcome:
        """Parse one streamed chunk; whether to read on."""
        self.consume(self.parser.feed(text))
        self.chunks_read += 1
        if self.parser.done:
            return "ended"
        if self.builder.full:
            return "cut"  # stop paying for tokens the plan will not use
        limit = self.settings.max_plan_tokens
        if limit is not None and self.chunks_read >= limit:
            self.builder.issues.append(f"the plan was cut after max_plan_tokens={limit} streamed tokens")
            return "cut"
        return "more"

    def consume(self, items: Sequence[PlanItem]) -> None:
        """Turn parsed items into tasks, announce each, and start those that may run."""
        for item in items:
            task = self.builder.add(item)
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
                    "plan_round": self.question.plan_round,
                    "error": task["error"],
                    "time": time.time(),
                }
            )
            if self.mode is not None:
                self._dispatch(task)

    def _dispatch(self, task: Task) -> None:
        """Start `task` if it may run now (or once its inputs of this plan are in)."""
        if task["status"] != "pending":
            self.unit.publish(task)
            return
        records = {**self.question.earlier, **self.builder.tasks}
        verdict = readiness(task, records, held=self._held, gate=self._gate, now=time.time())
        if verdict.verdict == "hold":
            self._held.add(task["idx"])  # waits for approval; the scheduler sends it later
        elif verdict.failed is not None:
            self.builder.tasks[task["idx"]] = record = skipped(task, verdict.failed)
            self.unit.publish(record)
        elif verdict.verdict == "run" or all(
            d in self._started for d in task["dependencies"] if records[d]["status"] == "pending"
        ):
            self._started.add(task["idx"])
            self._runs.append(self._start(task))
        # late, or waiting on an earlier plan's pending task: left to the scheduler

    def _start(self, task: Task) -> asyncio.Future[Task | None]:
        known = {
            d: self.question.earlier[d]["result"] for d in task["dependencies"] if d in self.question.earlier
        }
        config, deadline, state = self._task_config, self.question.deadline, self._state
        run = functools.partial(self.unit.run, task, known, config, deadline, state)
        if self.mode == "plain":
            return asyncio.ensure_future(run())
        # Started in the planner's own context, whichever task parsed the line, so
        # LangGraph numbers the saved tool runs in plan order.
        saved = self._context.run(run_tool, run)
        return asyncio.ensure_future(self._settle(task, saved, run))

    async def _settle(
        self, task: Task, saved: Awaitable[Task | None], run: Callable[[], Awaitable[Task | None]]
    ) -> Task:
        record = await saved
        if not same_call(record, task):  # saved for another plan's task at this position
            record = await run()
        final = record if record is not None else unfinished(task)
        self.unit.publish(final)
        return final

    async def collect(self) -> dict[str, Any]:
        """Wait for every task started here; the state update that records them."""
        try:
            records = await asyncio.gather(*self._runs)
        except BaseException:
            self.cancel()
            raise
        updates = task_updates(record for record in records if record is not None)
        self.builder.tasks.update(updates.pop("tasks", {}))
        return updates

    def cancel(self) -> None:
        """Cancel every started task that has not finished (the planner's step is failing)."""
        for run in self._runs:
            run.cancel()


async def _stream_plan(
    plan: _PlanRound, prompt: list[BaseMessage], config: RunnableConfig, model_config: RunnableConfig
) -> PlanStreamRecord:
    """Stream the plan through `plan`, within the run deadline; what was read."""
    settings, deadline = plan.settings, plan.question.deadline
    chunks: list[str] = []

    def on_text(text: str) -> ReadOutcome:
        chunks.append(text)
        return plan.read(text)

    def on_chunk(chunk: Any) -> None:
        plan.usage = total_usage(plan.usage, chunk_usage(chunk))

    async def stream() -> bool:
        reply = settings.model.astream(
            prompt, merge_configs(config, model_config), **stop_kwargs(settings.stop)
        )
        return await read_plan_stream(reply, on_text, on_chunk)

    try:
        async with asyncio.timeout(deadline - time.time() if deadline is not None else None):
            try:
                await stream()
            except Exception as exc:
                if not chunks and returned_nothing(exc):
                    plan.builder.issues.append("the model returned no text")
                    return PlanStreamRecord(chunks=chunks, timed_out=False)
                if chunks or settings.stop is None or "stop" not in str(exc).lower():
                    raise
                settings.stop = None  # the provider refused `stop` (some reasoning models do)
                await stream()
    except TimeoutError:
        return PlanStreamRecord(chunks=chunks, timed_out=True)
    return PlanStreamRecord(chunks=chunks, timed_out=False)


async def _read_plan(
    plan: _PlanRound, prompt: list[BaseMessage], config: RunnableConfig, model_config: RunnableConfig
) -> None:
    """Stream (or, resumed, replay) the plan, then record how it ended."""
    stream = functools.partial(_stream_plan, plan, prompt, config, model_config)
    if plan.mode == "saved":
        streamed = await run_plan_stream(stream)
        if plan.chunks_read == 0:  # the stream was saved before a crash: read it again
            for text in streamed["chunks"]:
                if plan.read(text) != "more":
                    break
    else:
        streamed = await stream()
    if streamed["timed_out"]:
        plan.builder.issues.append("the run deadline (run_timeout) was reached while the plan streamed")
    if plan.builder.full and not plan.parser.done:
        plan.builder.note_truncated()
    plan.consume(plan.parser.finish())


def _native_prompt(state: LLMCompilerState, settings: PlannerSettings) -> list[BaseMessage]:
    """A native turn sees what `create_agent`'s model sees: the system prompt, then the messages."""
    return [SystemMessage(settings.system_prompt), *state["messages"]]


async def _read_native_turn(
    plan: _PlanRound, state: LLMCompilerState, config: RunnableConfig, model_config: RunnableConfig
) -> None:
    """Stream the model's turn, starting each tool call the moment its arguments are complete.

    On a replan the joiner's reply already holds the next calls: they are the plan, and the
    model is not asked again.
    """
    written = state.get("model_turn")
    if not plan.question.new and isinstance(written, AIMessage) and written.tool_calls:
        plan.turn = written  # recorded by the joiner already (plan.made_turn stays False)
        plan.consume(plan.calls.finish(written))
        plan.builder.joined = True
        return
    deadline, settings = plan.question.deadline, plan.settings
    call_config = merge_configs(config, model_config)
    try:
        async with asyncio.timeout(deadline - time.time() if deadline is not None else None):
            if settings.model_wrappers:  # the hooks own the call: its calls start once it is final
                ask = ModelTurn(settings.base_model, settings.system_prompt, state["messages"],
                                list(settings.tools.values()), state, call_config)  # fmt: skip
                plan.turn = await take_turn(ask, settings.model_wrappers, plan.count_usage)
            else:
                plan.turn = await _stream_native_turn(plan, _native_prompt(state, settings), call_config)
    except TimeoutError:
        plan.builder.issues.append("the run deadline (run_timeout) was reached while the plan streamed")
    plan.consume(plan.calls.finish(plan.turn))
    plan.builder.joined = True
    plan.made_turn = True


async def _stream_native_turn(
    plan: _PlanRound, prompt: list[BaseMessage], config: RunnableConfig
) -> AIMessage | None:
    """Stream the turn, handing each tool call to the plan as soon as its arguments are complete."""
    turn: AIMessageChunk | None = None
    try:
        async for chunk in plan.settings.model.astream(prompt, config):
            turn = add_chunk(turn, chunk)
            plan.count_usage(chunk)
            plan.consume(plan.calls.feed(chunk))
            if plan.builder.full:
                break
    finally:
        plan.turn = as_message(turn)  # what streamed, also when the deadline cuts it
    return plan.turn


def _recorded_turn(plan: _PlanRound) -> AIMessage | None:
    """The model's own message making the calls, as create_agent records it (native plans).

    Calls a limit dropped (`max_tasks_per_plan`) are taken out of it, so that every call in the
    conversation has its result; the same id replaces the joiner's copy of a replanning turn.
    """
    turn = plan.turn
    if turn is None or not turn.tool_calls:
        return None
    kept = {task.get("tool_call_id") for task in plan.builder.tasks.values()}
    calls = [call for call in turn.tool_calls if call.get("id") in kept]
    if len(calls) < len(turn.tool_calls):
        return turn.model_copy(update={"tool_calls": calls})
    return turn if plan.made_turn else None


def _update(plan: _PlanRound, state: LLMCompilerState, tool_updates: dict[str, Any]) -> dict[str, Any]:
    """The planner's state update: the plan's tasks (run ones recorded), issues and notes."""
    question, builder = plan.question, plan.builder
    answered = plan.turn is not None and not builder.tasks and not builder.issues
    issues = [] if answered else builder.close()
    emit(
        {
            "type": "plan_finished",
            "plan_round": question.plan_round,
            "num_tasks": len(builder.tasks),
            "issues": list(issues),
            "notes": list(builder.notes),
            "renumbered": dict(builder.renumbered),
            "time": time.time(),
        }
    )
    earlier_issues = [] if question.new else state.get("plan_issues", [])
    earlier_notes = [] if question.new else state.get("plan_notes", [])
    label = f"plan {question.plan_round + 1}"
    update: dict[str, Any] = {
        **tool_updates,
        "plan_issues": [*earlier_issues, *(f"{label}: {issue}" for issue in issues)],
        "plan_notes": [*earlier_notes, *(f"{label}: {note}" for note in builder.notes)],
        "replan_feedback": None,
        "question_id": question.id,
        "deadline": question.deadline,
        "usage": plan.usage if question.new else total_usage(state.get("usage"), plan.usage),
        "tasks": Overwrite(builder.tasks) if question.new else builder.tasks,
        "model_turn": plan.turn if answered else None,
    }
    recorded = _recorded_turn(plan)
    if recorded is not None:
        update["messages"] = [recorded]
    if question.new:
        update["replans"] = 0
        update["approvals"] = Overwrite({})
    return update


def make_planner(settings: PlannerSettings) -> PlannerNode:
    """Build the planner node: stream a plan, publish tasks as their lines complete.

    With eager dispatch (:meth:`PlannerSettings.start_mode`) each task also starts the
    moment its line is parsed and the planner's update records its outcome. The plan's
    tokens stream on `stream_mode="messages"` (tagged `llmcompiler:plan`) only with
    `stream_protocol=True`.
    """
    # A native turn is what create_agent's model streams; a text plan is protocol text.
    native = settings.plan_format == "tools"
    tags = [PLAN_TAG] if settings.stream_protocol or native else [PLAN_TAG, TAG_NOSTREAM]
    model_config: RunnableConfig = {"tags": tags, "metadata": model_call_metadata(ModelCall.PLAN)}

    async def planner(state: LLMCompilerState, config: RunnableConfig) -> dict[str, Any]:
        question = _question(state, settings.run_timeout)
        plan = _PlanRound(settings, question, state, config)
        call_config = model_config
        if not question.new:  # a replan: its prompt ends with what ran so far
            replan = model_call_metadata(ModelCall.PLAN, replan_from=question.next_idx)
            call_config = merge_configs(model_config, {"metadata": replan})
        try:
            if settings.plan_format == "tools":
                await _read_native_turn(plan, state, config, call_config)
            else:
                await _read_plan(plan, _prompt(state, question, settings), config, call_config)
        except BaseException:
            plan.cancel()
            raise
        return _update(plan, state, await plan.collect())

    return planner
