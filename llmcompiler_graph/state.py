"""Graph state: the conversation, the tasks of the current question, and replanning."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, get_origin, get_type_hints

from langchain_core.messages import AnyMessage
from langchain_core.messages.ai import UsageMetadata
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

__all__ = [
    "LLMCompilerState",
    "Task",
    "TaskDispatch",
    "TaskStatus",
    "merge_approvals",
    "merge_tasks",
    "with_llmcompiler_keys",
    "tool_call_id",
]

TaskStatus = Literal["pending", "done", "error", "skipped"]
"""`pending`: planned, not run yet. `done`: the tool returned. `error`: the task could not
be planned or the tool failed (raised, timed out, rejected its arguments). `skipped`: a
task it depends on did not succeed, so it never ran."""


class Task(TypedDict):
    """One planned tool call and, once it ran, what happened.

    Every field is plain data so the state survives any checkpointer.
    """

    idx: int
    """The id the planner gave the task; unique within one question, across replans."""
    tool: str
    """The tool's name as the planner wrote it."""
    args: dict[str, Any]
    """Arguments as planned, mapped onto the tool's parameter names; references unresolved."""
    dependencies: list[int]
    """Ids of the tasks whose results this task's arguments reference."""
    thought: str | None
    """The planner's `Thought:` before this task, if any."""
    plan_round: int
    """0 for the first plan of a question, 1 after the first replan, and so on."""
    status: TaskStatus
    resolved_args: dict[str, Any] | None
    """Arguments after substituting the dependencies' results (set when the task ran)."""
    result: Any
    """What the tool returned (a number stays a number; a later task's `$N` receives it as it
    is), or its `ToolMessage` content when that is all that is known (a `BaseTool` subclass, a
    value the checkpointer cannot save, content rewritten by tool middleware); the message a
    model is shown carries its text. `None` unless `status == "done"`."""
    error: str | None
    """Why the task failed or was skipped, written for the joiner."""
    started_at: float | None
    """Epoch seconds when the tool call started."""
    finished_at: float | None
    """Epoch seconds when the tool call ended (or the task was given up)."""
    tool_call_id: NotRequired[str]
    """The id of the task's tool call: on its `ToolMessage`, and what `InjectedToolCallId`
    and `ToolRuntime.tool_call_id` see. Stable for a question's task id."""
    artifact: NotRequired[Any]
    """The tool's artifact, for tools with `response_format="content_and_artifact"`."""
    state_update: NotRequired[dict[str, Any]]
    """State updates a tool asked for by returning a `Command` (its messages aside);
    applied by the task node, then dropped from the record."""
    handoff: NotRequired[dict[str, Any]]
    """A handoff the tool returned (`Command(goto=..., graph=Command.PARENT)`), as
    `{"goto": ..., "update": ...}`: once the round's tasks are done, the joiner passes it
    to the parent graph instead of answering."""
    same_as: NotRequired[int | None]
    """When an identical call (same tool, same resolved arguments) ran earlier in the
    question, its id: the tool was not called again and its outcome was reused."""


def merge_tasks(left: Mapping[int, Task] | None, right: Mapping[int, Task] | None) -> dict[int, Task]:
    """Reducer for :attr:`LLMCompilerState.tasks`: records are merged by task id.

    A write replaces the record of the same id and keeps the others, so parallel task
    nodes can each report their own task. Reset the whole mapping with
    `langgraph.types.Overwrite`.
    """
    merged = dict(left or {})
    merged.update(right or {})
    return merged


def merge_approvals(
    left: Mapping[int, Literal["approved", "rejected"]] | None,
    right: Mapping[int, Literal["approved", "rejected"]] | None,
) -> dict[int, Literal["approved", "rejected"]]:
    """Reducer for :attr:`LLMCompilerState.approvals`: decisions merge by task id."""
    return {**(left or {}), **(right or {})}


class LLMCompilerState(TypedDict):
    """State of an LLMCompiler graph; extend it with your own keys if you need them."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: the user's messages in, the final answer appended as an AIMessage."""
    tasks: NotRequired[Annotated[dict[int, Task], merge_tasks]]
    """Every task of the current question, across its replans, by id."""
    plan_issues: NotRequired[list[str]]
    """Problems found in the plans of the current question (malformed lines, duplicate ids,
    missing join, empty plan), shown to the joiner."""
    plan_notes: NotRequired[list[str]]
    """How the plans of the current question were read liberally (unquoted text taken as a
    string, text after a call ignored, a `$N` that names no earlier action kept as text,
    a replan's ids renumbered). For people and traces; not shown to the joiner."""
    replans: NotRequired[int]
    """How many times the joiner asked for a new plan for the current question."""
    replan_feedback: NotRequired[str | None]
    """The joiner's reason for replanning, read by the next plan; `None` otherwise."""
    question_id: NotRequired[str | None]
    """Id of the human message the current tasks answer; a new one starts a fresh question."""
    approvals: NotRequired[Annotated[dict[int, Literal["approved", "rejected"]], merge_approvals]]
    """Decisions on tasks whose tools have side effects, by task id."""
    usage: NotRequired[UsageMetadata | None]
    """Tokens the planner and joiner models reported for the current question so far;
    the answer's `usage_metadata` carries the total."""
    structured_response: NotRequired[Any]
    """The answer in the structure `response_format` asked for (set only with one)."""
    deadline: NotRequired[float | None]
    """Epoch seconds by which the current question must be done planning and running
    tools (`run_timeout`); `None` without a deadline."""
    model_turn: NotRequired[AnyMessage | None]
    """With native plans: the model's last turn when it still has to be acted on (a direct
    answer of the planner's turn, or the joiner's reply whose tool calls are the next plan)."""


class TaskDispatch(TypedDict):
    """What the scheduler sends to the task node (a `Send` payload).

    One task per `Send`; without a checkpointer, a step of more than
    :data:`~llmcompiler_graph.graph.scheduler.MAX_SENDS_PER_BATCH` tasks is split into that
    many `Send`s of consecutive tasks.
    """

    tasks: list[Task]
    dispatch_key: str
    """LangGraph's id of the scheduler step that sent it: the task nodes of one step share
    one :class:`~llmcompiler_graph.execution.fetching_unit.TaskFetchingUnit`."""
    dispatch_size: int
    """How many `Send`s that scheduler step made."""
    dependency_results: dict[int, Any]
    """Results of the dependencies that had finished before this step."""
    deadline: float | None
    """Epoch seconds after which tool calls are abandoned (`run_timeout`)."""
    state: NotRequired[Any]
    """The graph state, for tools that inject it (`InjectedState`, `ToolRuntime.state`);
    absent when no tool does."""


def _schema_hints(schema: type[Any]) -> dict[str, Any]:
    """A state schema's keys and their annotations (reducers kept), generic schemas included."""
    origin = get_origin(schema) or schema
    try:
        return dict(get_type_hints(origin, include_extras=True))
    except (NameError, TypeError) as error:
        msg = f"cannot read the keys of state_schema {schema!r}: {error}"
        raise TypeError(msg) from error


def with_llmcompiler_keys(*schemas: type[Any] | None) -> type[Any]:
    """A state schema with every key of `schemas` and of :class:`LLMCompilerState`.

    `create_agent` users pass `state_schema=` a subclass of LangChain's `AgentState` (and
    middleware brings state schemas of its own); the graph needs its own keys as well
    (`tasks`, ...), or tool results would have nowhere to go. Later schemas win over earlier
    ones for a key both declare, and LLMCompilerState's keys win over all. A schema that
    already has all of them (a subclass of LLMCompilerState) is returned as it is.

    Example:
        >>> class MyState(TypedDict):
        ...     user_name: str
        >>> merged = with_llmcompiler_keys(MyState)
        >>> sorted(set(get_type_hints(merged)) - set(get_type_hints(LLMCompilerState)))
        ['user_name']
    """
    given = [schema for schema in schemas if schema is not None]
    ours = _schema_hints(LLMCompilerState)
    hints: dict[str, Any] = {}
    for schema in given:
        hints.update(_schema_hints(schema))
    if len(given) == 1 and all(hints.get(key) == value for key, value in ours.items()):
        return given[0]
    hints.update(ours)
    merged: type[Any] = TypedDict("LLMCompilerAgentState", hints)  # type: ignore[misc]
    return merged


def tool_call_id(question_id: str | None, idx: int) -> str:
    """A stable id for task `idx` of a question, the same after a resume.

    Example:
        >>> tool_call_id("q-1", 3) == tool_call_id("q-1", 3) != tool_call_id("q-2", 3)
        True
    """
    digest = hashlib.sha1((question_id or "").encode()).hexdigest()[:12]
    return f"call_{digest}_{idx}"
